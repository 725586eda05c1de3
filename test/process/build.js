// Jest global setup: the process tests in this folder run the compiled gateway (dist/), so the
// build runs once before any test, unless dist/ is already newer than every source it is made of.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const STAMP = path.join(ROOT, 'dist', '.build-stamp');
const SOURCES = ['src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestChange(entry) {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(entry).reduce((newest, name) => Math.max(newest, newestChange(path.join(entry, name))), stat.mtimeMs);
}

module.exports = async function buildOnce() {
  const built = fs.statSync(STAMP, { throwIfNoEntry: false });
  const sources = Math.max(...SOURCES.map((entry) => newestChange(path.join(ROOT, entry))));
  if (built && built.mtimeMs > sources && fs.existsSync(path.join(ROOT, 'dist', 'src', 'main.js'))) return;
  const started = Date.now();
  const tsc = require.resolve('typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the build failed (tsc -p tsconfig.build.json):\n${run.stdout}${run.stderr}`);
  fs.writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
  // Dated when the build began: a source saved during the build makes the next run build again.
  fs.utimesSync(STAMP, new Date(started), new Date(started));
  process.stderr.write(`\nbuilt dist/ for the process tests in ${Date.now() - started} ms\n`);
};
