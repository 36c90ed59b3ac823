// `lkrun help [COMMAND]`, as oclif CLIs have it, without the help plugin:
// oclif's own Help class renders the same text `--help` and `-h` show.
import { Args, Help } from '@oclif/core';
import { LkrunCommand } from '../base.js';

export default class HelpCommand extends LkrunCommand {
  static override summary = 'Show help for lkrun or one of its commands';
  static override args = { command: Args.string({ description: 'the command to explain', multiple: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(HelpCommand);
    await new Help(this.config).showHelp(args.command ?? []);
  }
}
