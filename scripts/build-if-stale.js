#!/usr/bin/env node
// Builds dist/ (tsc -p tsconfig.build.json) only when what it is made of changed since the last
// build: every npm script that runs compiled code calls this first, and a build costs seconds where
// this check costs milliseconds. `--force` builds whatever the stamp says (npm run build). After
// the server (dist/src), the build makes the helpdesk console (dist/console): its browser code with
// a tsconfig of its own, and its page files copied beside it.
//
// The stamp (dist/.build-stamp) holds a fingerprint of the sources: the path, size and mtime of
// every file under INPUTS, and of every other file of the project the last build compiled (tsc
// --listFiles: a test helper that scripts/soak.ts imports). Any difference (a file saved, added,
// removed or restored with an older mtime) makes the next run build. The fingerprint of INPUTS is
// taken before tsc starts, so a file saved during a build makes the next run build again.
//
// Without src/ there is nothing to build from: dist/ is used as it is. That is the Docker image,
// which has dist/ and production dependencies only (no TypeScript).
//
// Nothing is written to stdout (tsc's messages included): stdout belongs to the program that runs
// after this, whose stdout is JSON (the gateway's log lines, `npm run sync -- --json`).
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build-stamp');
const LOCK = path.join(DIST, '.build-lock');
const ENTRY = path.join(DIST, 'src', 'main.js');
// The helpdesk console (CONTRACT section 13): ES2022 modules and the DOM, with no bundler.
const CONSOLE_TSCONFIG = path.join('src', 'console', 'browser', 'tsconfig.json');
const CONSOLE_PAGE = path.join(ROOT, 'src', 'console', 'page');
const CONSOLE_DIST = path.join(DIST, 'console');
const INPUTS = ['src', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
const LOCK_WAIT_MS = 180_000;

/** Every file under `entry`, as [path relative to ROOT, size, mtime], in a stable order. */
function files(entry, into = []) {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return into;
  if (stat.isDirectory()) {
    for (const name of fs.readdirSync(entry).sort()) files(path.join(entry, name), into);
  } else {
    into.push(`${path.relative(ROOT, entry)}\0${stat.size}\0${stat.mtimeMs}`);
  }
  return into;
}

function fingerprint(entries) {
  const hash = createHash('sha256');
  for (const entry of entries) for (const line of files(path.join(ROOT, entry))) hash.update(`${line}\n`);
  return hash.digest('hex');
}

/** What the last build recorded: { inputs, others, other_files }, or null. */
function lastBuild() {
  try {
    return JSON.parse(fs.readFileSync(STAMP, 'utf8'));
  } catch {
    return null;
  }
}

function isStale() {
  const built = lastBuild();
  if (!built || !Array.isArray(built.other_files) || !fs.existsSync(ENTRY)) return true;
  return built.inputs !== fingerprint(INPUTS) || built.others !== fingerprint(built.other_files);
}

/** The project's files tsc compiled that are not under INPUTS, from its --listFiles lines. */
function otherFiles(listed) {
  const inside = (file) => INPUTS.some((input) => file === input || file.startsWith(`${input}/`));
  return listed
    .filter((line) => line.startsWith(`${ROOT}${path.sep}`) && !line.includes(`${path.sep}node_modules${path.sep}`))
    .map((line) => path.relative(ROOT, line))
    .filter((file) => !inside(file))
    .sort();
}

function sleep(milliseconds) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * One build at a time (`npm start` and `npm run sync` started together, a test run beside them):
 * tsc rewrites files in place, and a process reading one half-written would fail. A lock left by a
 * process that died is taken over.
 */
function withLock(work) {
  fs.mkdirSync(DIST, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let holder = 0;
      try {
        holder = Number(fs.readFileSync(LOCK, 'utf8'));
      } catch {
        continue; // gone meanwhile: try again
      }
      // An empty lock is one being written, unless it is older than that takes.
      const orphaned = holder > 0 ? !alive(holder) : Date.now() - (fs.statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 5000;
      if (orphaned) fs.rmSync(LOCK, { force: true });
      else if (Date.now() > deadline) throw new Error(`another build (pid ${holder}) holds ${path.relative(ROOT, LOCK)}`);
      else sleep(100);
    }
  }
  try {
    return work();
  } finally {
    fs.rmSync(LOCK, { force: true });
  }
}

/** Runs tsc with its messages on stderr; throws naming the project when it fails. */
function runTsc(tsc, project, { listFiles = false } = {}) {
  const run = spawnSync(process.execPath, [tsc, '-p', project, ...(listFiles ? ['--listFiles'] : [])], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = (run.stdout ?? '').split('\n');
  // tsc prints its errors on stdout: they go to stderr here, without the list of files.
  const messages = lines.filter((line) => line !== '' && !path.isAbsolute(line));
  if (messages.length > 0) process.stderr.write(`${messages.join('\n')}\n`);
  if (run.status !== 0) {
    fs.rmSync(STAMP, { force: true });
    throw new Error(`the build failed (tsc -p ${project} exited ${run.status ?? run.signal ?? run.error?.message})`);
  }
  return lines;
}

/** dist/console afresh (a removed source leaves no file behind): the browser code, then the page's files. */
function buildConsole(tsc) {
  if (!fs.existsSync(path.join(ROOT, CONSOLE_TSCONFIG))) return;
  fs.rmSync(CONSOLE_DIST, { recursive: true, force: true });
  runTsc(tsc, CONSOLE_TSCONFIG);
  for (const name of fs.readdirSync(CONSOLE_PAGE)) fs.copyFileSync(path.join(CONSOLE_PAGE, name), path.join(CONSOLE_DIST, name));
}

/**
 * Builds dist/ when it is stale (or always, with force). Returns what it did: 'fresh' (nothing to
 * do), 'built', or 'no-sources' (no src/: dist/ used as it is). Throws when the build fails.
 */
function buildIfStale({ force = false, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  if (!fs.existsSync(path.join(ROOT, 'src'))) {
    if (fs.existsSync(ENTRY)) return 'no-sources';
    throw new Error('neither src/ nor a built dist/ is here: nothing to run');
  }
  if (!force && !isStale()) return 'fresh';
  return withLock(() => {
    // Another process may have built while this one waited for the lock.
    if (!force && !isStale()) return 'fresh';
    let tsc;
    try {
      tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
    } catch {
      throw new Error('dist/ is out of date and TypeScript is not installed (dev dependencies omitted?): run npm ci');
    }
    const started = Date.now();
    const inputs = fingerprint(INPUTS);
    log(`pbx-gateway: building dist/ (${force ? 'npm run build' : fs.existsSync(ENTRY) ? 'the sources changed' : 'first build'}) ...`);
    const lines = runTsc(tsc, 'tsconfig.build.json', { listFiles: true });
    buildConsole(tsc);
    const others = otherFiles(lines);
    const stamp = { inputs, others: fingerprint(others), other_files: others, built_at: new Date(started).toISOString() };
    fs.writeFileSync(STAMP, `${JSON.stringify(stamp)}\n`);
    log(`pbx-gateway: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 'built';
  });
}

module.exports = { buildIfStale };

if (require.main === module) {
  try {
    buildIfStale({ force: process.argv.includes('--force') });
  } catch (error) {
    process.stderr.write(`pbx-gateway: ${error.message}\n`);
    process.exit(1);
  }
}
