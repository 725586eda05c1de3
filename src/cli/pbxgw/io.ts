import type { Readable, Writable } from 'node:stream';
import type { GatewayClient } from './client';

/** What a pbxgw command reads and writes: the process's streams in use, others in tests. */
export interface CommandIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Whether stdout is a terminal (tables, colours unless NO_COLOR) or not (JSON). */
  readonly stdoutIsTty: boolean;
  /** Whether stderr is a terminal (progress bars). */
  readonly stderrIsTty: boolean;
  readonly env: NodeJS.ProcessEnv;
}

/** The options every bulk command (import, batch) takes (CONTRACT section 10). */
export interface BulkOptions {
  readonly dryRun: boolean;
  /** Rows or lines in flight at once (default 4). */
  readonly concurrency: number;
  /** The CSV report to write (and, with resume, to read first). */
  readonly report: string | null;
  readonly resume: boolean;
  /** Force JSON output even on a terminal. */
  readonly json: boolean;
}

/**
 * The bulk commands, implemented in their own modules (sheet.ts, batch.ts) and dispatched by
 * main.ts; each resolves to the process's exit status.
 */
export type ImportCommand = (file: string, options: BulkOptions, client: GatewayClient, io: CommandIo) => Promise<number>;
export type ExportCommand = (options: { domain: string | null }, client: GatewayClient, io: CommandIo) => Promise<number>;
export type BatchCommand = (file: string, options: BulkOptions, client: GatewayClient, io: CommandIo) => Promise<number>;

/** A command used wrongly (a malformed argument, an unreadable token file): main prints the message and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
