// Loaded with `node --import`: reports every file module the process
// resolves, one `IMPORT <url>` line on stderr (the hook runs off-thread).
import { register } from 'node:module';

register(new URL('./import-hook.js', import.meta.url));
