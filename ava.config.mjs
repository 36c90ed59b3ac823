// Tests are compiled by tsc first (npm test), then run from dist/.
export default {
  files: ['dist/test/**/*.test.js'],
  // VM tests are slow under TCG on 2 cores; they set their own timeouts.
  timeout: '5m',
  concurrency: 2,
  workerThreads: false,
  // Every test process gets its own XDG state/cache/config/runtime directories
  // (test files import it first too; this covers any that do not).
  require: ['./dist/test/helpers/isolate.js'],
};
