import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

// Every process the run starts is registered here, so that whatever ends the run (a failure, an
// uncaught error, SIGINT) stops them: the orderly teardown first, and on process exit a last
// synchronous SIGKILL of anything still running. Only these processes, by their ids, are signalled.

interface Registered {
  readonly child: ChildProcess;
  /** Started as the leader of its own process group (a mariadbd and its SST helpers). */
  readonly group: boolean;
}

const running = new Map<number, Registered>();

export function register(child: ChildProcess, options: { group?: boolean } = {}): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  running.set(pid, { child, group: options.group ?? false });
  child.once('exit', () => running.delete(pid));
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal` to the child (and to its process group when it leads one); ignores one already gone. */
export function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  const group = running.get(child.pid)?.group ?? false;
  try {
    process.kill(group ? -child.pid : child.pid, name);
  } catch {
    // gone already
  }
}

/** Resolves true when the child exits within `ms`. */
export async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return true;
  const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
  return Promise.race([exited, sleep(ms).then(() => hasExited(child))]);
}

/** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(child)) return;
  signal(child, 'SIGTERM');
  if (await waitExit(child, graceMs)) return;
  signal(child, 'SIGKILL');
  await waitExit(child, 5000);
}

/** The last resort on process exit: SIGKILL whatever is still registered (synchronous). */
export function killAllNow(): void {
  for (const { child } of running.values()) signal(child, 'SIGKILL');
}
