import fs from 'node:fs';
import { MYSQL_SERVER, TEST_KEY_FILE } from '../helpers/gateway';
import { dropDatabase, newDatabaseName, withServer } from '../helpers/gateway-process';
import { ROOT, jsonLines, occupiedPort, runCompiled, startCommand, accepts } from '../helpers/command-process';

// README "Two commands", "Sync", "Simulator": every command answers --help and --version before
// it touches anything, and stops with one line (no stack trace) when it cannot start.

const { version } = JSON.parse(fs.readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };

const COMMANDS: readonly [string, string][] = [
  ['the gateway (npm start)', 'src/main.js'],
  ['npm run migrate', 'src/db/migrate-cli.js'],
  ['npm run sync', 'src/cli/sync.js'],
  ['npm run secrets', 'src/cli/secrets.js'],
  ['npm run pbx-simulator', 'src/pbx/simulator-cli.js'],
];

async function databaseExists(name: string): Promise<boolean> {
  return withServer(async (connection) => {
    const [rows] = await connection.query('SHOW DATABASES LIKE ?', [name]);
    return (rows as unknown[]).length > 0;
  });
}

describe.each(COMMANDS)('%s', (_name, file) => {
  // A database that must not be made, and a simulator port that must not be taken: --help and
  // --version touch neither.
  const database = newDatabaseName();
  const environment = { MYSQL_URL: `${MYSQL_SERVER}/${database}`, SECRETS_KEY_FILE: TEST_KEY_FILE, PBX_SIMULATOR_PORT: '0' };

  afterAll(() => dropDatabase(database));

  it('prints the package version with --version and exits 0', async () => {
    const run = await runCompiled(file, ['--version'], environment);
    expect(run).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('prints its help with --help and exits 0, without touching the database', async () => {
    const run = await runCompiled(file, ['--help'], environment);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: npm (start|run [a-z-]+) -- /);
    expect(run.stdout).toContain('--version');
    expect(await databaseExists(database)).toBe(false);
  });

  it('refuses an unknown option with one line and exit 1', async () => {
    const run = await runCompiled(file, ['--no-such-option'], environment);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    // sync names its missing --domain first: commander checks required options before unknown ones.
    expect(run.stderr).toMatch(/^pbx-(gateway|simulator): (unknown option '--no-such-option'|required option '--domain <domain>' not specified)\n$/);
  });
});

describe('a port that is taken', () => {
  it('stops the gateway with one line naming PORT and exit 1, and it never says it listens', async () => {
    const taken = await occupiedPort();
    const database = newDatabaseName();
    try {
      const run = await runCompiled('src/main.js', [], {
        MYSQL_URL: `${MYSQL_SERVER}/${database}`,
        SECRETS_KEY_FILE: TEST_KEY_FILE,
        AUTH_DISABLED: 'true',
        HOST: '127.0.0.1',
        PORT: String(taken.port),
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`pbx-gateway: PORT: cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE)\n`);
      const messages = jsonLines(run.stdout).map((line) => (line as { message: string }).message);
      expect(messages).not.toContain('pbx-gateway listening');
    } finally {
      await taken.close();
      await dropDatabase(database);
    }
  });

  it('stops the simulator with one line naming PBX_SIMULATOR_PORT and exit 1 (no stack trace)', async () => {
    const taken = await occupiedPort();
    try {
      const run = await runCompiled('src/pbx/simulator-cli.js', [], { PBX_SIMULATOR_PORT: String(taken.port) });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`pbx-simulator: PBX_SIMULATOR_PORT: cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE)\n`);
      const flag = await runCompiled('src/pbx/simulator-cli.js', ['--port', String(taken.port)]);
      expect(flag.code).toBe(1);
      expect(flag.stderr).toBe(`pbx-simulator: --port: cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE)\n`);
    } finally {
      await taken.close();
    }
  });
});

describe('npm run pbx-simulator', () => {
  /** Starts it, waits for its "Point a gateway at it" line, and returns the assignments printed there. */
  async function startSimulator(environment: Record<string, string>) {
    const simulator = startCommand(process.execPath, [`${ROOT}/dist/src/pbx/simulator-cli.js`], { PBX_SIMULATOR_PORT: '0', ...environment });
    const deadline = Date.now() + 10_000;
    while (!/ npm start\n/.test(simulator.stdout()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const line = /^ {2}(PBX_URL=.*) npm start$/m.exec(simulator.stdout());
    if (!line) {
      simulator.child.kill('SIGKILL');
      throw new Error(`the simulator printed no connect line:\n${simulator.stdout()}${simulator.stderr()}`);
    }
    const settings = Object.fromEntries(line[1].split(' ').map((assignment) => assignment.split('=', 2) as [string, string]));
    return { simulator, settings };
  }

  async function ping(settings: Record<string, string>, password: string): Promise<number> {
    const response = await fetch(`${settings.PBX_URL}/setting/ping/act`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-APIKEY': settings.PBX_API_KEY,
        Authorization: `Basic ${Buffer.from(`${settings.PBX_USERNAME}:${password}`).toString('base64')}`,
      },
      body: '{}',
    });
    await response.arrayBuffer();
    return response.status;
  }

  it('prints the credentials it uses (the defaults) in a line that points a gateway at it, and they work', async () => {
    const { simulator, settings } = await startSimulator({});
    try {
      expect(settings).toEqual({
        PBX_URL: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api\/v4$/),
        PBX_API_KEY: 'simulator-api-key',
        PBX_USERNAME: 'simulator',
        PBX_PASSWORD: 'simulator-password',
      });
      expect(await ping(settings, settings.PBX_PASSWORD)).toBe(200);
      expect(await ping(settings, 'wrong')).toBe(401);
    } finally {
      simulator.child.kill('SIGTERM');
      expect((await simulator.finished).code).toBe(0);
    }
  });

  it('does not repeat a credential taken from the environment, and uses it', async () => {
    const { simulator, settings } = await startSimulator({ PBX_PASSWORD: 'from-the-environment' });
    try {
      expect(settings.PBX_PASSWORD).toBeUndefined();
      expect(simulator.stdout()).toContain('(PBX_PASSWORD as set in this environment)');
      expect(simulator.stdout()).not.toContain('from-the-environment');
      expect(await ping(settings, 'from-the-environment')).toBe(200);
    } finally {
      simulator.child.kill('SIGTERM');
      await simulator.finished;
    }
    expect(await accepts(Number(new URL(settings.PBX_URL).port))).toBe(false);
  });
});
