import { startPbxSimulator, type FaultKind, type PbxSimulator, type RandomFaults } from '../../src/pbx/simulator';

// The built-in Simotel simulator (src/pbx/simulator.ts) as a process of its own, shared by every
// gateway of `npm run test:cluster`, like src/pbx/simulator-cli.ts but forked by the run with an IPC
// channel: the run switches the simulator's fault modes through it and reads its extensions with
// their secrets (the simulator's own extensions(), which its in-process tests use), to compare them
// with what MySQL holds. The channel exists only between the run and this child: nothing of it is
// served over the network, and the HTTP API masks secrets as the real PBX does.
//
// Environment: PBX_API_KEY, PBX_USERNAME, PBX_PASSWORD (required), PBX_SIMULATOR_LATE_ANSWER_MS.

export type SimulatorRequest =
  | { readonly id: number; readonly type: 'extensions' }
  | { readonly id: number; readonly type: 'random-faults'; readonly faults: RandomFaults | null }
  | { readonly id: number; readonly type: 'fail'; readonly path: string; readonly kind: FaultKind }
  | { readonly id: number; readonly type: 'stats' };

export type SimulatorMessage =
  | { readonly type: 'ready'; readonly url: string }
  | { readonly type: 'reply'; readonly id: number; readonly result?: unknown; readonly error?: string };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function serve(simulator: PbxSimulator, callCount: () => number): void {
  process.on('message', (message: SimulatorRequest) => {
    const reply = (result: unknown) => process.send?.({ type: 'reply', id: message.id, result } satisfies SimulatorMessage);
    switch (message.type) {
      case 'extensions':
        return reply(simulator.extensions());
      case 'random-faults':
        simulator.setRandomFaults(message.faults);
        return reply(null);
      case 'fail':
        simulator.fail(message.path, message.kind);
        return reply(null);
      case 'stats':
        return reply({ calls: callCount(), faults: simulator.faultCounts() });
      default:
        return process.send?.({ type: 'reply', id: (message as { id: number }).id, error: 'unknown request' } satisfies SimulatorMessage);
    }
  });
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('to be forked with an IPC channel (npm run test:cluster)');
  const simulator = await startPbxSimulator({
    host: '127.0.0.1',
    port: 0,
    credentials: { apiKey: required('PBX_API_KEY'), username: required('PBX_USERNAME'), password: required('PBX_PASSWORD') },
    lateAnswerMs: Number(process.env.PBX_SIMULATOR_LATE_ANSWER_MS) || 2000,
  });
  // The simulator keeps every call for wire-format tests; a long run only needs their number.
  let calls = 0;
  const drain = setInterval(() => (calls += simulator.calls.splice(0).length), 1000);
  const callCount = () => calls + simulator.calls.length;
  serve(simulator, callCount);
  const stop = () => {
    clearInterval(drain);
    void simulator.close().then(() => process.exit(0));
  };
  // The run went away (or closed the channel): nothing is left to serve.
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', () => undefined);
  process.send({ type: 'ready', url: simulator.url } satisfies SimulatorMessage);
}

main().catch((error: unknown) => {
  process.stderr.write(`cluster simulator: ${(error as Error).message}\n`);
  process.exit(1);
});
