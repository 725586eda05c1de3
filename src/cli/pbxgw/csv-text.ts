import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

// RFC 4180 text as pbxgw reads and writes it (the sheet, the reports, export): csv-parse and
// csv-stringify, so quotes, commas and line breaks inside quotes, a byte-order mark and CRLF are
// handled by a parser that is kept, not by a split(',').

/** One record of a CSV text and the line it starts on (1 = the first line of the file). */
export interface CsvRecord {
  readonly line: number;
  readonly fields: readonly string[];
}

/** The text is no CSV (an unclosed quote, a quote inside an unquoted field): it is refused whole. */
export class CsvSyntaxError extends Error {
  override readonly name = 'CsvSyntaxError';
}

interface ParsedRecord {
  readonly record: string[];
  readonly info: { readonly lines: number };
}

/**
 * Every non-empty record with its starting line; fields are trimmed and records may have any
 * number of fields (the caller compares them with the header and says which row is short).
 */
export function parseCsv(text: string | Buffer): CsvRecord[] {
  let parsed: ParsedRecord[];
  try {
    parsed = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true, info: true }) as unknown as ParsedRecord[];
  } catch (error) {
    throw new CsvSyntaxError((error as Error).message);
  }
  // csv-parse counts the line a record ends on; a record with line breaks inside quotes starts earlier.
  return parsed.map(({ record, info }) => ({
    line: info.lines - record.reduce((breaks, field) => breaks + (field.match(/\n/g)?.length ?? 0), 0),
    fields: record,
  }));
}

/** Records as CSV text, one line each (LF), quoting only the fields that need it. */
export function formatCsv(records: readonly (readonly string[])[]): string {
  return stringify(records as string[][], { record_delimiter: 'unix' });
}
