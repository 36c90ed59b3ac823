// The suite-run reporters, by the name `--reporter` takes.
import type { Reporter } from '../results.js';
import { BadInputError } from '../../core/errors.js';
import { HtmlReporter } from './html.js';
import { JsonReporter } from './json.js';
import { JunitReporter } from './junit.js';
import { PrettyReporter } from './pretty.js';
import { TapReporter } from './tap.js';

export const REPORTER_NAMES = ['pretty', 'tap', 'junit', 'json', 'html'] as const;
export type ReporterName = (typeof REPORTER_NAMES)[number];

export interface ReporterOptions {
  /** Where file reporters write, in onEnd (created if missing). */
  outDir: string;
  /** Where pretty prints; process.stdout by default. */
  stream?: NodeJS.WritableStream;
  /** ANSI colours in pretty output; off unless true. */
  color?: boolean;
}

export function createReporter(name: ReporterName, options: ReporterOptions): Reporter {
  switch (name) {
    case 'pretty':
      return new PrettyReporter({ stream: options.stream, color: options.color });
    case 'tap':
      return new TapReporter(options.outDir);
    case 'junit':
      return new JunitReporter(options.outDir);
    case 'json':
      return new JsonReporter(options.outDir);
    case 'html':
      return new HtmlReporter(options.outDir);
    default:
      throw new BadInputError(`--reporter ${JSON.stringify(String(name))}: unknown reporter; expected one of ${REPORTER_NAMES.join(', ')}`);
  }
}

export { HtmlReporter, renderHtml, HTML_FILE } from './html.js';
export { JsonReporter, renderJson, JSON_FILE } from './json.js';
export { JunitReporter, renderJunit, JUNIT_FILE } from './junit.js';
export { PrettyReporter, type PrettyOptions } from './pretty.js';
export { TapReporter, renderTap, TAP_FILE } from './tap.js';
