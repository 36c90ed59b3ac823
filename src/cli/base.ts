// oclif prints a parse error followed by the whole usage; lkrun promises one
// line per error. Every command extends this to fold oclif's own errors
// (unknown flag, missing argument, exclusive flags) into that line.
import { Command } from '@oclif/core';
import { ExitCode } from '../core/errors.js';
import { redact } from '../core/redact.js';

export abstract class LkrunCommand extends Command {
  protected override async catch(error: Error & { oclif?: { exit?: number }; code?: string }): Promise<unknown> {
    if (error.oclif?.exit === 0 || error.code === 'EEXIT') throw error;
    const line = error.message
      .split('\n')
      .map((l) => l.replace(/^[\s›]+/, '').trim())
      .filter((l) => l && !/^See more help with|^Note:|^Because of this|^flags\.|^Alternatively|^beginning of arguments/.test(l))
      .join('; ')
      .replace(/^The following errors occurred:;\s*/, '')
      .replace(/:;/g, ':');
    const help = ['lkrun', this.id, '--help'].filter(Boolean).join(' ');
    process.stderr.write(`lkrun: ${redact(line).replace(/\s+/g, ' ')} (see ${help})\n`);
    process.exit(ExitCode.badInput);
  }
}
