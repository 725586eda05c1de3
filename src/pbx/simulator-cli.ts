import { Option } from 'commander';
import { newCommand, portOption } from '../cli/command';
import { startPbxSimulator, type SimulatorCredentials } from './simulator';

// `npm run pbx-simulator`: the built-in Simotel v4 simulator on its own, so a gateway can be pointed
// at it like at a real PBX. Its credentials are PBX_API_KEY, PBX_USERNAME and PBX_PASSWORD, the
// variables the gateway reads: set once in a shell, they serve both.

const DEFAULT_CREDENTIALS: SimulatorCredentials = { apiKey: 'simulator-api-key', username: 'simulator', password: 'simulator-password' };
const CREDENTIAL_VARIABLES: readonly [keyof SimulatorCredentials, string][] = [
  ['apiKey', 'PBX_API_KEY'],
  ['username', 'PBX_USERNAME'],
  ['password', 'PBX_PASSWORD'],
];

/**
 * What to run to point a gateway at the simulator. A default credential is shown, since it is what
 * a gateway must be given; one taken from the environment is not repeated (a gateway started from
 * the same shell has it already).
 */
function howToConnect(url: string, fromEnvironment: string[]): string {
  const assignments = [`PBX_URL=${url}`];
  for (const [key, variable] of CREDENTIAL_VARIABLES) {
    if (!fromEnvironment.includes(variable)) assignments.push(`${variable}=${DEFAULT_CREDENTIALS[key]}`);
  }
  const inherited = fromEnvironment.length > 0 ? `\n  (${fromEnvironment.join(', ')} as set in this environment)` : '';
  return `Point a gateway at it with:\n  ${assignments.join(' ')} npm start${inherited}\n`;
}

async function main(): Promise<void> {
  const program = newCommand('npm run pbx-simulator --', 'pbx-simulator')
    .description(
      'The built-in Simotel v4 simulator on its own (extensions in memory only), to point a gateway at like at a real PBX.\n' +
        `Credentials: PBX_API_KEY, PBX_USERNAME, PBX_PASSWORD (defaults ${DEFAULT_CREDENTIALS.apiKey}, ${DEFAULT_CREDENTIALS.username}, ${DEFAULT_CREDENTIALS.password}).`,
    )
    .addOption(new Option('--host <address>', 'listen address').env('PBX_SIMULATOR_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'listen port').env('PBX_SIMULATOR_PORT').default(8090).argParser(portOption))
    .parse();
  const options = program.opts<{ host: string; port: number }>();
  const fromEnvironment = CREDENTIAL_VARIABLES.map(([, variable]) => variable).filter((variable) => process.env[variable]);
  const credentials: SimulatorCredentials = {
    apiKey: process.env.PBX_API_KEY || DEFAULT_CREDENTIALS.apiKey,
    username: process.env.PBX_USERNAME || DEFAULT_CREDENTIALS.username,
    password: process.env.PBX_PASSWORD || DEFAULT_CREDENTIALS.password,
  };
  const simulator = await startPbxSimulator({
    host: options.host,
    port: options.port,
    credentials,
    log: (line) => process.stdout.write(`${line}\n`),
  }).catch((error: NodeJS.ErrnoException) => {
    const option = error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' ? 'host' : 'port';
    const setting = program.getOptionValueSource(option) === 'cli' ? `--${option}` : `PBX_SIMULATOR_${option.toUpperCase()}`;
    throw new Error(`${setting}: cannot listen on ${options.host}:${options.port} (${error.code ?? error.message})`);
  });
  process.stdout.write(`Simotel simulator listening on ${simulator.url} (extensions in memory only)\n${howToConnect(simulator.url, fromEnvironment)}`);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`pbx-simulator: ${(error as Error).message}\n`);
  process.exit(1);
});
