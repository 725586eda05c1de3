import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { MYSQL_SERVER } from '../helpers/gateway';
import { dropDatabase, newDatabaseName, pbxEnvironment, waitFor } from '../helpers/gateway-process';
import { ROOT, accepts, jsonLines, runCommand, startCommand, within } from '../helpers/command-process';

// README "Docker": every command of the README works in the image, which has dist/ and the
// production dependencies only (no src/, no TypeScript). Without docker here, the image's last
// stage is laid out in a directory from its COPY lines in the Dockerfile: the build stage's
// node_modules stands in as links to the production dependencies alone, its dist/ as the
// checkout's (built by test/process/build.js).

interface Copy {
  readonly fromBuild: boolean;
  readonly sources: string[];
}

/** The COPY lines of the Dockerfile's last stage. */
function runtimeCopies(): Copy[] {
  const lines = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').split('\n');
  const lastStage = lines.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  return lines
    .slice(lastStage)
    .filter((line) => /^COPY\s/i.test(line))
    .map((line) => {
      const words = line.trim().split(/\s+/).slice(1);
      const flags = words.filter((word) => word.startsWith('--'));
      const paths = words.filter((word) => !word.startsWith('--'));
      return { fromBuild: flags.includes('--from=build'), sources: paths.slice(0, -1) };
    });
}

let app: string;
let simulator: PbxSimulator;
const database = newDatabaseName();

/** Lays out what the last stage copies, from the build stage and from the build context. */
function layOut(directory: string): void {
  const dependencies = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  for (const copy of runtimeCopies()) {
    for (const source of copy.sources) {
      if (copy.fromBuild && source === '/app/node_modules') {
        // Only the production dependencies: no typescript, no node_modules/.bin/tsc.
        for (const name of dependencies) {
          fs.mkdirSync(path.dirname(path.join(directory, 'node_modules', name)), { recursive: true });
          fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(directory, 'node_modules', name));
        }
      } else if (copy.fromBuild && source === '/app/dist') {
        fs.cpSync(path.join(ROOT, 'dist'), path.join(directory, 'dist'), { recursive: true });
      } else if (copy.fromBuild) {
        throw new Error(`the image copies ${source} from the build stage: lay it out here too`);
      } else {
        // .dockerignore keeps config/local.json out of the build context.
        fs.cpSync(path.join(ROOT, source), path.join(directory, source), { recursive: true, filter: (file) => !file.endsWith(path.join('config', 'local.json')) });
      }
    }
  }
}

beforeAll(async () => {
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-image-'));
  layOut(app);
  simulator = await startPbxSimulator();
});

afterAll(async () => {
  await simulator?.close();
  await dropDatabase(database);
  fs.rmSync(app, { recursive: true, force: true });
});

/** The image's environment (NODE_ENV=production), a real PBX to talk to (the simulator over HTTP), a database of the test's. */
function imageEnvironment(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    MYSQL_URL: `${MYSQL_SERVER}/${database}`,
    SECRETS_KEY_FILE: path.join(app, 'secrets', 'secrets.key'),
    ...pbxEnvironment(simulator),
  };
}

function npm(args: string[]) {
  return runCommand('npm', args, imageEnvironment(), { cwd: app });
}

it('is laid out without sources and without TypeScript', () => {
  expect(fs.existsSync(path.join(app, 'src'))).toBe(false);
  expect(fs.existsSync(path.join(app, 'node_modules', 'typescript'))).toBe(false);
  expect(fs.existsSync(path.join(app, 'dist', 'src', 'main.js'))).toBe(true);
});

it('runs npm run migrate -- --help, then npm run migrate', async () => {
  const help = await npm(['run', 'migrate', '--', '--help']);
  expect(help).toMatchObject({ code: 0, stderr: '' });
  expect(help.stdout).toMatch(/^Usage: npm run migrate -- /);

  const migrate = await npm(['run', 'migrate']);
  expect(migrate).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
});

it('runs npm start: JSON lines on stdout, and SIGTERM stops it', async () => {
  const gateway = startCommand('npm', ['start'], imageEnvironment(), app);
  try {
    expect(await waitFor(() => gateway.stdout().includes('"pbx-gateway listening"'), 30_000)).toBe(true);
    const listening = jsonLines(gateway.stdout()).find((line) => (line as { message?: string }).message === 'pbx-gateway listening') as { url: string };
    expect((await fetch(`${listening.url}/healthz`)).status).toBe(200);
    gateway.child.kill('SIGTERM');
    expect(await within(gateway.exited, 5000, 'npm start exiting after SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await accepts(Number(new URL(listening.url).port))).toBe(false);
    jsonLines((await gateway.finished).stdout);
  } finally {
    gateway.child.kill('SIGKILL');
  }
});

it('runs npm run sync -- --json, npm run secrets and npm run pbx-simulator', async () => {
  const sync = await npm(['run', 'sync', '--', '--domain', 'pbx.local', '--json']);
  expect(sync.code).toBe(0);
  expect(JSON.parse(sync.stdout)).toEqual({ imported: [], updated: [], missing_on_pbx: [], pruned: [] });

  for (const script of ['secrets', 'pbx-simulator']) {
    const help = await npm(['run', script, '--', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain(`Usage: npm run ${script} -- `);
  }
});
