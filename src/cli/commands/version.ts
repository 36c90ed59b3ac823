// `lkrun version`: the line `lkrun --version` and `lkrun -v` print.
import { LkrunCommand } from '../base.js';

export default class Version extends LkrunCommand {
  static override summary = 'Show the lkrun version, platform and Node.js version';

  async run(): Promise<void> {
    await this.parse(Version);
    this.log(this.config.userAgent);
  }
}
