#!/usr/bin/env node
// Runs jest and ends with the plain line CI reads: "N passed, N failed".
// With no arguments (the whole suite) it runs in two phases: everything but test/browser, then the
// console's browser tests on their own. Chromium keeps a core busy; beside the suite's timed checks
// (promptness under outages, abandoned streams) on a 2-core machine it made them fail now and then.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const jest = require.resolve('jest/bin/jest');
const given = process.argv.slice(2);
const phases = given.length > 0 ? [given] : [['--testPathIgnorePatterns', '/test/browser/'], ['test/browser']];

let passed = 0;
let failed = 0;
let statusOk = true;
for (const args of phases) {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-jest-')), 'report.json');
  const run = spawnSync(process.execPath, [jest, '--json', `--outputFile=${report}`, ...args], { stdio: 'inherit' });
  statusOk &&= run.status === 0;
  try {
    const results = JSON.parse(fs.readFileSync(report, 'utf8'));
    passed += results.numPassedTests;
    failed += results.numFailedTests + (results.numRuntimeErrorTestSuites || 0);
  } catch {
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(statusOk && failed === 0 && passed > 0 ? 0 : 1);
