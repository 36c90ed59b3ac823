#!/usr/bin/env bash
# Everything lkrun and its tests need, on a fresh Debian or Ubuntu machine:
# system packages, npm dependencies, the build, the test images. Each step
# skips itself when already done, so every command can start with it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

bash ci/setup-system.sh

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	say "installing npm dependencies (npm ci)"
	npm ci --no-audit --no-fund
fi

say "building (tsc, then the bundled CLI bin/run.js starts)"
npx --no-install tsc -p .
node scripts/build-cli.mjs

bash images/build.sh
