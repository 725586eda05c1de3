import { startPbxSimulator } from './simulator';

// `npm run pbx-simulator`: the built-in Simotel v4 simulator on its own.
// PBX_SIMULATOR_PORT (default 8090), PBX_API_KEY, PBX_USERNAME, PBX_PASSWORD (defaults printed at start).
async function main(): Promise<void> {
  const simulator = await startPbxSimulator({
    host: process.env.PBX_SIMULATOR_HOST ?? '127.0.0.1',
    port: Number(process.env.PBX_SIMULATOR_PORT ?? 8090),
    credentials: {
      apiKey: process.env.PBX_API_KEY ?? 'simulator-api-key',
      username: process.env.PBX_USERNAME ?? 'simulator',
      password: process.env.PBX_PASSWORD ?? 'simulator-password',
    },
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(
    `Simotel simulator listening: PBX_URL=${simulator.url}\n` +
      'Point the gateway at it with the same PBX_API_KEY, PBX_USERNAME and PBX_PASSWORD.\n',
  );
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`pbx-simulator: ${(error as Error).message}\n`);
  process.exit(1);
});
