// Jest global setup: the process tests in this folder run the compiled gateway (dist/), so the
// build runs once before any test unless dist/ was built from the sources as they are: the same
// check every npm script makes (scripts/build-if-stale.js).
const { buildIfStale } = require('../../scripts/build-if-stale.js');

module.exports = async function buildOnce() {
  const started = Date.now();
  if (buildIfStale({ log: () => undefined }) === 'built') {
    process.stderr.write(`\nbuilt dist/ for the process tests in ${Date.now() - started} ms\n`);
  }
};
