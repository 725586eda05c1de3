import fs from 'node:fs';
import path from 'node:path';
import { CsvSyntaxError, formatCsv, parseCsv } from './csv-text';

// The CSV report of a bulk command (import, batch): one line per row or line of the input. It may
// hold generated passwords, so it is only ever created with mode 0600, and written line by line as
// rows finish (a run that dies still leaves what it did, passwords included, for --resume), then
// rewritten in input order at the end.

/** One line of a report: every column of its layout, as text. */
export type ReportLine = Readonly<Record<string, string>>;

export interface ReportLayout {
  /** The header, in order; `outcome` is one of them. */
  readonly columns: readonly string[];
  /** The columns that identify an input row: the number first (row, line), then what it names (user, node). */
  readonly key: readonly [string, string];
}

/** A report that cannot be used (not one of ours, unreadable): the command stops before any change. */
export class ReportRefused extends Error {
  override readonly name = 'ReportRefused';
}

/** How the detail of every line of a dry run begins: --resume never takes such a line for done. */
export const DRY_RUN_PREFIX = 'dry run: ';

export function isDryRunLine(line: ReportLine): boolean {
  return (line.detail ?? '').startsWith(DRY_RUN_PREFIX);
}

export function keyOf(layout: ReportLayout, line: ReportLine): string {
  return `${line[layout.key[0]] ?? ''}\u0000${line[layout.key[1]] ?? ''}`;
}

/** The lines of an existing report; null when there is no such file. */
export function readReport(file: string, layout: ReportLayout): ReportLine[] | null {
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ReportRefused(`cannot read the report ${file}: ${(error as Error).message}`);
  }
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new ReportRefused(`the report ${file} does not parse as CSV: ${error.message}`);
    throw error;
  }
  const [header, ...rows] = records;
  if (header === undefined || header.fields.join(',') !== layout.columns.join(',')) {
    throw new ReportRefused(`${file} is not a report of this command (its header should be ${layout.columns.join(',')})`);
  }
  return rows.map(({ fields }) => Object.fromEntries(layout.columns.map((column, index) => [column, fields[index] ?? ''])));
}

function lineOf(layout: ReportLayout, line: ReportLine): string[] {
  return layout.columns.map((column) => line[column] ?? '');
}

/** Writes `text` to `file` through a 0600 file beside it and a rename, so the file is never half written or readable by others. */
function replaceFile(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(temporary, text, { mode: 0o600 });
  fs.renameSync(temporary, file);
}

export class ReportWriter {
  private readonly descriptor: number;

  /** Starts the report with its header and the lines kept from an earlier run. */
  constructor(
    private readonly file: string,
    private readonly layout: ReportLayout,
    kept: readonly ReportLine[],
  ) {
    replaceFile(file, formatCsv([layout.columns, ...kept.map((line) => lineOf(layout, line))]));
    this.descriptor = fs.openSync(file, 'a', 0o600);
  }

  /** One finished row, at once (synchronously: it is on disk before the next row's answer is read). */
  append(line: ReportLine): void {
    fs.writeSync(this.descriptor, formatCsv([lineOf(this.layout, line)]));
  }

  /** The whole report again, in input order. */
  finish(lines: readonly ReportLine[]): void {
    fs.closeSync(this.descriptor);
    replaceFile(this.file, formatCsv([this.layout.columns, ...lines.map((line) => lineOf(this.layout, line))]));
  }
}
