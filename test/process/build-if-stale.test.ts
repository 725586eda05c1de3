import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCommand } from '../helpers/command-process';

// scripts/build-if-stale.js, the step every npm script runs before the compiled code: it builds
// dist/ on a fresh clone and after any change of the sources, and not otherwise. Run here on a
// project of two files of its own, so that its builds take a second and touch nothing of the checkout.

let project: string;

function write(relative: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(project, relative)), { recursive: true });
  fs.writeFileSync(path.join(project, relative), text);
}

function check() {
  return runCommand(process.execPath, ['scripts/build-if-stale.js'], {}, { cwd: project, timeoutMs: 60_000 });
}

function compiled(): string {
  return fs.readFileSync(path.join(project, 'dist', 'src', 'main.js'), 'utf8');
}

beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-build-if-stale-'));
  write('package.json', '{ "name": "tiny", "version": "1.0.0", "private": true }\n');
  write('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, outDir: 'dist', rootDir: '.', types: [] }, include: ['src'] }));
  write('tsconfig.build.json', '{ "extends": "./tsconfig.json" }\n');
  write('src/main.ts', 'export const answer: number = 1;\n');
  fs.mkdirSync(path.join(project, 'scripts'));
  fs.copyFileSync(path.join(ROOT, 'scripts', 'build-if-stale.js'), path.join(project, 'scripts', 'build-if-stale.js'));
  // TypeScript from the checkout's dependencies.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'));
});

afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

it('builds on a fresh clone, then not again until a source changes', async () => {
  const first = await check();
  expect(first).toMatchObject({ code: 0, stdout: '' });
  expect(first.stderr).toMatch(/^pbx-gateway: building dist\/ \(first build\) \.\.\.\npbx-gateway: built dist\/ in [\d.]+ s\n$/);
  expect(compiled()).toContain('exports.answer = 1');

  const stamp = fs.statSync(path.join(project, 'dist', '.build-stamp')).mtimeMs;
  expect(await check()).toMatchObject({ code: 0, stdout: '', stderr: '' });
  expect(fs.statSync(path.join(project, 'dist', '.build-stamp')).mtimeMs).toBe(stamp);

  write('src/main.ts', 'export const answer: number = 2;\n');
  expect((await check()).stderr).toContain('(the sources changed)');
  expect(compiled()).toContain('exports.answer = 2');
  expect((await check()).stderr).toBe('');
});

it('builds when a source is added, removed, or put back with an older mtime', async () => {
  write('src/extra.ts', 'export const extra = true;\n');
  expect((await check()).stderr).toContain('building');
  expect(fs.existsSync(path.join(project, 'dist', 'src', 'extra.js'))).toBe(true);

  fs.rmSync(path.join(project, 'src', 'extra.ts'));
  expect((await check()).stderr).toContain('building');

  // A checkout or an archive may bring back an older file with its older time.
  write('src/main.ts', 'export const answer: number = 3;\n');
  const longAgo = new Date('2020-01-01T00:00:00Z');
  fs.utimesSync(path.join(project, 'src', 'main.ts'), longAgo, longAgo);
  expect((await check()).stderr).toContain('building');
  expect(compiled()).toContain('exports.answer = 3');
  expect((await check()).stderr).toBe('');
});

it('builds when a file outside the source folders that a source imports changes (as scripts/soak.ts imports a test helper)', async () => {
  write('lib/helper.ts', 'export const helped = 1;\n');
  write('src/main.ts', "export { helped } from '../lib/helper';\nexport const answer: number = 6;\n");
  expect((await check()).stderr).toContain('building');
  expect(await check()).toMatchObject({ code: 0, stderr: '' });

  write('lib/helper.ts', 'export const helped = 2;\n');
  expect((await check()).stderr).toContain('building');
  expect(fs.readFileSync(path.join(project, 'dist', 'lib', 'helper.js'), 'utf8')).toContain('exports.helped = 2');
});

it('fails with tsc\'s messages on stderr (nothing on stdout) and builds again on the next run', async () => {
  write('src/main.ts', 'export const answer: number = "three";\n');
  const failed = await check();
  expect(failed.code).toBe(1);
  expect(failed.stdout).toBe('');
  expect(failed.stderr).toContain("error TS2322: Type 'string' is not assignable to type 'number'");
  expect(failed.stderr).toMatch(/pbx-gateway: the build failed \(tsc -p tsconfig.build.json exited 2\)\n$/);
  expect((await check()).code).toBe(1);

  write('src/main.ts', 'export const answer: number = 4;\n');
  expect(await check()).toMatchObject({ code: 0, stdout: '' });
  expect(compiled()).toContain('exports.answer = 4');
});

it('runs dist/ as it is where there are no sources (the Docker image), and says so where there is neither', async () => {
  fs.renameSync(path.join(project, 'src'), path.join(project, 'src-away'));
  fs.unlinkSync(path.join(project, 'node_modules'));
  try {
    expect(await check()).toMatchObject({ code: 0, stdout: '', stderr: '' });
    fs.renameSync(path.join(project, 'dist'), path.join(project, 'dist-away'));
    expect(await check()).toMatchObject({ code: 1, stdout: '', stderr: 'pbx-gateway: neither src/ nor a built dist/ is here: nothing to run\n' });
  } finally {
    fs.renameSync(path.join(project, 'src-away'), path.join(project, 'src'));
    if (fs.existsSync(path.join(project, 'dist-away'))) fs.renameSync(path.join(project, 'dist-away'), path.join(project, 'dist'));
  }
  // Sources that changed, and no TypeScript to build them with (npm ci --omit=dev).
  write('src/main.ts', 'export const answer: number = 5;\n');
  expect(await check()).toMatchObject({
    code: 1,
    stdout: '',
    stderr: 'pbx-gateway: dist/ is out of date and TypeScript is not installed (dev dependencies omitted?): run npm ci\n',
  });
});
