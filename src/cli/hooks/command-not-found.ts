// An unknown command is bad input like any other: one `lkrun:` line naming
// it and the commands there are, exit 2 (oclif's default is a styled error).
import type { Hook } from '@oclif/core';
import { ExitCode } from '../../core/errors.js';

const hook: Hook<'command_not_found'> = async function ({ id }) {
  const spaced = (name: string) => name.replaceAll(':', ' ');
  // With spaces between topic and command, oclif's id also holds the
  // arguments after the command: keep the topics and the one word after.
  const topics = new Set(this.config.topics.map((t) => t.name));
  const words = id.split(':');
  let typed = 1;
  while (typed < words.length && topics.has(words.slice(0, typed).join(':'))) typed++;
  const known = this.config.commands
    .filter((c) => !c.hidden)
    .map((c) => spaced(c.id))
    .sort();
  process.stderr.write(`lkrun: unknown command "${words.slice(0, typed).join(' ')}"; commands: ${known.join(', ')} (see lkrun --help)\n`);
  process.exit(ExitCode.badInput);
};

export default hook;
