#!/usr/bin/env node
// pbxgw (CONTRACT section 10), as `npx pbxgw` runs it in the checkout after `npm ci` and a global
// install runs it as `pbxgw`: the build check every npm script makes (scripts/build-if-stale.js:
// tsc only when the sources changed, 0.06 s otherwise), then the compiled command. Nothing of the
// check goes to stdout: stdout is pbxgw's answer (JSON when piped).
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

try {
  require(path.join(ROOT, 'scripts', 'build-if-stale.js')).buildIfStale();
} catch (error) {
  process.stderr.write(`pbxgw: ${error.message}\n`);
  // 3: pbxgw could not do its job (CONTRACT section 10's exit statuses).
  process.exit(3);
}
require(path.join(ROOT, 'dist', 'src', 'cli', 'pbxgw', 'main.js')).cli();
