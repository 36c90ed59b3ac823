// The subset of GCE list filters lkrun sends: `labels.KEY=VALUE`,
// `name = "x"`, `status != TERMINATED`, joined with AND, optionally in
// parentheses. Anything else is refused the way GCE refuses a bad filter.
import { invalid } from './api-error.js';

export function matchesFilter(resource: Record<string, unknown>, filter: string): boolean {
  if (!filter.trim()) return true;
  return filter.split(/\s+AND\s+/i).every((term) => {
    const m = /^\(?\s*([a-zA-Z][\w.-]*)\s*(=|!=|eq|ne)\s*"?([^"()]*?)"?\s*\)?$/.exec(term.trim());
    if (!m) throw invalid(`Invalid list filter expression '${filter}'.`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const actual = field.startsWith('labels.')
      ? (resource.labels as Record<string, string> | undefined)?.[field.slice('labels.'.length)]
      : resource[field] === undefined
        ? undefined
        : String(resource[field]);
    const equal = actual === value;
    return op === '=' || op === 'eq' ? equal : !equal;
  });
}
