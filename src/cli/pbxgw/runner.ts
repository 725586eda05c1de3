import fs from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { exitStatusOf, Unreachable, type GatewayClient } from './client';
import type { BulkOptions, CommandIo } from './io';
import { DRY_RUN_PREFIX, isDryRunLine, keyOf, readReport, ReportRefused, ReportWriter, type ReportLayout, type ReportLine } from './report-file';
import { displayWidth, printable } from './terminal-output';

// What import and batch share: the rows (or lines) in flight at once, the progress bar, the
// report and --resume, where the results go without a report, and the exit status.

/** One row of a sheet or line of a batch file. */
export interface BulkTask {
  /** The report's key columns for it (row and user, line and node): what --resume matches. */
  readonly key: ReportLine;
  /** Does the work; resolves to its whole report line. Rejecting is a bug: it is reported as error/internal. */
  readonly run: () => Promise<ReportLine>;
}

export interface BulkRun {
  /** 'import' or 'batch', for messages. */
  readonly command: string;
  /** 'row' or 'line'. */
  readonly unit: string;
  readonly layout: ReportLayout;
  readonly tasks: readonly BulkTask[];
  readonly options: BulkOptions;
  readonly client: GatewayClient;
  readonly io: CommandIo;
  /** The outcomes that leave the exit status 0 (default: ok alone). */
  readonly successes?: ReadonlySet<string>;
}

/** The order outcomes are counted in, in the summary line; any other comes after them. */
const OUTCOME_ORDER = ['ok', 'skipped', 'failed', 'invalid', 'error', 'undone', 'partial'];

export const EXIT_OK = 0;
export const EXIT_NOT_ALL_OK = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;
export const EXIT_INTERRUPTED = 130;

/** One line on stderr; what came from a sheet or the gateway may hold control characters, shown escaped. */
export function say(io: CommandIo, command: string, message: string): void {
  io.stderr.write(`pbxgw ${command}: ${printable(message)}\n`);
}

/**
 * Whether the gateway answers and takes the token, before anything is sent: a gateway that is
 * down or a token it refuses stops the command with one line (exit 3, 4) instead of a report
 * with every row in error. user/genpw is the cheapest node every token may call.
 */
async function checkGateway(client: GatewayClient, io: CommandIo, command: string): Promise<number | null> {
  try {
    const answer = await client.call('user/genpw', {});
    const status = exitStatusOf(answer);
    if (status === 4 || status === 5) {
      say(io, command, `the gateway ${status === 4 ? 'refused the token' : 'kept answering 429 (rate limited)'} (HTTP ${answer.status}); nothing was sent`);
      return status;
    }
    return null;
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    say(io, command, `${error.message}; nothing was sent`);
    return EXIT_UNREACHABLE;
  }
}

/** The lines of an earlier run to keep: --resume skips the tasks they show as ok. */
function earlierLines(run: BulkRun): ReportLine[] | number {
  const { options, layout, io, command } = run;
  if (options.resume && options.report === null) {
    say(io, command, '--resume needs --report FILE (the report of the run to continue)');
    return EXIT_USAGE;
  }
  if (options.report === null) return [];
  try {
    if (options.resume) return readReport(options.report, layout) ?? [];
    // The report may hold the only copy of the passwords the gateway generated: never overwrite one.
    if (fs.existsSync(options.report)) {
      say(io, command, `the report ${options.report} exists: give --resume to continue that run, or another file`);
      return EXIT_USAGE;
    }
    return [];
  } catch (error) {
    if (!(error instanceof ReportRefused)) throw error;
    say(io, command, error.message);
    return EXIT_USAGE;
  }
}

function byNumber(layout: ReportLayout): (a: ReportLine, b: ReportLine) => number {
  const column = layout.key[0];
  return (a, b) => Number(a[column]) - Number(b[column]);
}

/** A line as a JSON object: the number column as a number, the others as text. */
function jsonLine(layout: ReportLayout, line: ReportLine): string {
  return JSON.stringify(Object.fromEntries(layout.columns.map((column) => [column, column === layout.key[0] ? Number(line[column]) : (line[column] ?? '')])));
}

/** The lines as a table for a terminal, control characters escaped; columns empty in every line are left out. */
export function formatTable(layout: ReportLayout, lines: readonly ReportLine[]): string {
  const columns = layout.columns.filter((column) => column === layout.key[0] || lines.some((line) => (line[column] ?? '') !== ''));
  const rows = [columns.map((column) => column.toUpperCase()), ...lines.map((line) => columns.map((column) => printable(line[column] ?? '')))];
  const widths = columns.map((_, index) => Math.max(...rows.map((cells) => displayWidth(cells[index]))));
  const format = (cells: string[]) =>
    cells
      .map((cell, index) => (index === cells.length - 1 ? cell : `${cell}${' '.repeat(widths[index] - displayWidth(cell))}`))
      .join('  ')
      .trimEnd();
  return `${rows.map(format).join('\n')}\n`;
}

function summary(run: BulkRun, lines: readonly ReportLine[], kept: number): string {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line.outcome, (counts.get(line.outcome) ?? 0) + 1);
  const ordered = [...counts].sort(([a], [b]) => (OUTCOME_ORDER.indexOf(a) + 1 || 99) - (OUTCOME_ORDER.indexOf(b) + 1 || 99));
  const parts = ordered.map(([outcome, count]) => `${count} ${outcome}${outcome === 'ok' && kept > 0 ? ` (${kept} from the earlier report)` : ''}`);
  return `${lines.length} ${run.unit}${lines.length === 1 ? '' : 's'}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}

/** Runs the tasks and resolves to the command's exit status. */
export async function runBulk(run: BulkRun): Promise<number> {
  const { layout, options, io, command, unit } = run;
  const successes = run.successes ?? new Set(['ok']);
  const earlier = earlierLines(run);
  if (typeof earlier === 'number') return earlier;
  const refused = await checkGateway(run.client, io, command);
  if (refused !== null) return refused;

  // A dry run's ok is no ok to skip: only what a real run did counts as done.
  const done = new Map(earlier.filter((line) => line.outcome === 'ok' && !isDryRunLine(line)).map((line) => [keyOf(layout, line), line]));
  const kept: ReportLine[] = [];
  const pending: BulkTask[] = [];
  for (const task of run.tasks) {
    const earlierLine = done.get(keyOf(layout, task.key));
    if (earlierLine) kept.push(earlierLine);
    else pending.push(task);
  }
  let writer: ReportWriter | null = null;
  try {
    if (options.report !== null) writer = new ReportWriter(options.report, layout, kept);
  } catch (error) {
    say(io, command, `cannot write the report ${options.report}: ${(error as Error).message}; nothing was sent`);
    return EXIT_USAGE;
  }
  const json = options.json || !io.stdoutIsTty;
  const bar = io.stderrIsTty
    ? new SingleBar(
        { stream: io.stderr, format: `${command} [{bar}] {value}/{total} ${unit}s | {notOk} not ok | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 100 },
        Presets.shades_classic,
      )
    : null;
  bar?.start(run.tasks.length, kept.length, { notOk: 0 });

  const finished: ReportLine[] = [];
  let notOk = 0;
  let next = 0;
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    io.stderr.write(`\npbxgw ${command}: interrupted; finishing the ${unit}s in flight (Ctrl-C again stops at once)\n`);
    process.once('SIGINT', () => process.exit(EXIT_INTERRUPTED));
  };
  process.once('SIGINT', onInterrupt);
  const record = (result: ReportLine) => {
    const line = options.dryRun && !isDryRunLine(result) ? { ...result, detail: `${DRY_RUN_PREFIX}${result.detail ?? ''}` } : result;
    finished.push(line);
    if (!successes.has(line.outcome)) notOk += 1;
    writer?.append(line);
    if (writer === null && json) io.stdout.write(`${jsonLine(layout, line)}\n`);
    bar?.increment({ notOk });
  };
  const worker = async () => {
    while (!interrupted && next < pending.length) {
      const task = pending[next];
      next += 1;
      let line: ReportLine;
      try {
        line = await task.run();
      } catch (error) {
        line = { ...task.key, outcome: 'error', cause: 'internal', detail: `pbxgw: ${(error as Error).message}` };
      }
      record(line);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, pending.length)) }, worker));
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    bar?.stop();
  }

  const lines = [...kept, ...finished].sort(byNumber(layout));
  writer?.finish(lines);
  if (writer === null && !json) io.stdout.write(formatTable(layout, lines));
  const notStarted = pending.length - next;
  const dryRun = options.dryRun ? '; dry run: nothing was changed' : '';
  const where = options.report === null ? '' : `; report in ${options.report}`;
  say(io, command, `${summary(run, lines, kept.length)}${notStarted > 0 ? `; ${notStarted} not started (interrupted)` : ''}${dryRun}${where}`);
  if (interrupted) return EXIT_INTERRUPTED;
  return lines.every((line) => successes.has(line.outcome)) ? EXIT_OK : EXIT_NOT_ALL_OK;
}
