import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Extension } from '../../src/pbx/extension';
import type { FaultKind, RandomFaults, SimulatorCredentials } from '../../src/pbx/simulator';
import { register, stopChild } from './children';
import type { SimulatorMessage, SimulatorRequest } from './simulator-process';

// The run's side of the simulator process (simulator-process.ts): starts it, and asks it over the
// IPC channel for its extensions and to switch faults.

const SIMULATOR_PROCESS = path.join(__dirname, 'simulator-process.js');
const START_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** A request without its id (each member of the union on its own). */
type Request = SimulatorRequest extends infer Each ? (Each extends SimulatorRequest ? Omit<Each, 'id'> : never) : never;

export interface SimulatorStats {
  readonly calls: number;
  readonly faults: Record<FaultKind, number>;
}

export class SimulatorProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly credentials: SimulatorCredentials,
  ) {
    child.on('message', (message: SimulatorMessage) => {
      if (message.type !== 'reply') return;
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.error) waiting.reject(new Error(`simulator: ${message.error}`));
      else waiting.resolve(message.result);
    });
    child.once('exit', (code, signal) => {
      for (const waiting of this.pending.values()) {
        clearTimeout(waiting.timer);
        waiting.reject(new Error(`the simulator process exited (${code ?? signal})`));
      }
      this.pending.clear();
    });
  }

  static async start(credentials: SimulatorCredentials, lateAnswerMs: number): Promise<SimulatorProcess> {
    const child = fork(SIMULATOR_PROCESS, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        PBX_API_KEY: credentials.apiKey,
        PBX_USERNAME: credentials.username,
        PBX_PASSWORD: credentials.password,
        PBX_SIMULATOR_LATE_ANSWER_MS: String(lateAnswerMs),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    register(child);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the simulator did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.on('message', (message: SimulatorMessage) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        resolve(message.url);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the simulator process exited (${code ?? signal}) before it was ready`));
      });
    });
    return new SimulatorProcess(child, url, credentials);
  }

  private ask<T>(request: Request): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the simulator did not answer ${request.type} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject, timer });
      this.child.send({ ...request, id } as SimulatorRequest);
    });
  }

  /** Every extension the PBX holds, secrets unmasked (for comparison with MySQL; never printed). */
  extensions(): Promise<Extension[]> {
    return this.ask<Extension[]>({ type: 'extensions' });
  }

  /** Each call to one of `faults.paths` fails with probability `faults.rate`; null turns it off. */
  setRandomFaults(faults: RandomFaults | null): Promise<void> {
    return this.ask<void>({ type: 'random-faults', faults });
  }

  /** A one-shot fault for the next call to `path`. */
  fail(path: string, kind: FaultKind): Promise<void> {
    return this.ask<void>({ type: 'fail', path, kind });
  }

  stats(): Promise<SimulatorStats> {
    return this.ask<SimulatorStats>({ type: 'stats' });
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 5000);
  }
}
