import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

// The project's commands as an operator runs them (`npm start`, `npm run sync -- …`, `node
// dist/src/…`), with only the environment a test gives: nothing of the npm that runs jest
// (npm_config_* would change what npm prints) leaks into them.

export const ROOT = path.resolve(__dirname, '..', '..');

export interface CommandRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** PATH and HOME (npm needs both), and the given variables. */
export function commandEnvironment(environment: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...environment };
}

export interface StartedCommand {
  readonly child: ChildProcess;
  /** What it wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once it has exited (its output may still be open: a child of its own may hold it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once it has exited and its output is closed. */
  readonly finished: Promise<CommandRun>;
}

/** Starts `command args` in `cwd` (the checkout by default) with only `environment` (and PATH, HOME). */
export function startCommand(command: string, args: string[], environment: Record<string, string> = {}, cwd = ROOT): StartedCommand {
  const child = spawn(command, args, { cwd, env: commandEnvironment(environment), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const finished = new Promise<CommandRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited, finished };
}

/** `promise`, or a failure naming `what` when it takes longer than `milliseconds`. */
export function within<T>(promise: Promise<T>, milliseconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${milliseconds} ms`)), milliseconds);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Runs a command to its end; one still running after `timeoutMs` is killed and the test fails. */
export async function runCommand(
  command: string,
  args: string[],
  environment: Record<string, string> = {},
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<CommandRun> {
  const started = startCommand(command, args, environment, options.cwd);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      started.child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not end within ${timeoutMs} ms:\n${started.stdout()}${started.stderr()}`));
    }, timeoutMs);
  });
  return Promise.race([started.finished, late]).finally(() => clearTimeout(timer));
}

/** The compiled file `relative` (under dist/) run by node, as its npm script runs it after the build check. */
export function runCompiled(relative: string, args: string[], environment: Record<string, string> = {}, timeoutMs?: number): Promise<CommandRun> {
  return runCommand(process.execPath, [path.join(ROOT, 'dist', relative), ...args], environment, { timeoutMs });
}

/** A port that something listens on, for as long as the test keeps it. */
export async function occupiedPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Every line of `text` parsed as JSON; throws naming the first line that is not. */
export function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`not a JSON line: ${JSON.stringify(line)}\n--- the whole output:\n${text}`);
      }
    });
}
