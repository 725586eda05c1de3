import type { NodeDescription, NodeEntry } from './node-catalog';

// pbxgw's readable form, for a terminal (CONTRACT section 10): the outcome first, lists as aligned
// columns, other members as `key: value` lines. No colours. Everything the gateway sent passes
// through printable(): a value holding escape sequences must not drive the terminal.

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `text` with control characters written as escapes (\n, \u001b): one line, and nothing a terminal obeys. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => JSON.stringify(character).slice(1, -1));
}

/** East Asian wide and fullwidth characters (and emoji) take two columns. */
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
/** Combining marks and zero-width characters take none. */
const ZERO_WIDTH = /[\p{Mn}\p{Me}\u200b-\u200f\u2060-\u2064\ufeff]/u;

/** How many terminal columns `text` takes. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const character of text) width += ZERO_WIDTH.test(character) ? 0 : WIDE.test(character) ? 2 : 1;
  return width;
}

const padEnd = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - displayWidth(text)));

/** Rows under a header, each column as wide as its widest cell, two spaces apart; no trailing spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], indent = ''): string[] {
  const cells = [header, ...rows].map((row) => header.map((_, column) => printable(row[column] ?? '')));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => displayWidth(row[column]))));
  return cells.map((row) => `${indent}${row.map((cell, column) => (column === row.length - 1 ? cell : padEnd(cell, widths[column]))).join('  ')}`.trimEnd());
}

/** One value as a table cell or after `key: `. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((item) => !isObject(item) && !Array.isArray(item))) return value.map(cell).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `key: value` lines for an object's members, keys aligned; lists as tables, objects indented below their key. */
function members(object: Json, indent: string): string[] {
  const entries = Object.entries(object);
  const keyWidth = Math.max(0, ...entries.filter(([, value]) => !isObject(value) && !Array.isArray(value)).map(([key]) => displayWidth(printable(key))));
  const lines: string[] = [];
  for (const [key, value] of entries) {
    const name = printable(key);
    if (Array.isArray(value)) {
      if (value.length === 0) {
        lines.push(`${indent}${name}: none`);
      } else if (value.every(isObject)) {
        // Every key any item has, in the order they first appear.
        const columns = [...new Set(value.flatMap((item) => Object.keys(item)))];
        lines.push(`${indent}${name} (${value.length}):`);
        lines.push(
          ...formatTable(
            columns.map((column) => column.toUpperCase()),
            value.map((item) => columns.map((column) => (column in item ? cell(item[column]) : ''))),
            `${indent}  `,
          ),
        );
      } else {
        lines.push(`${indent}${name} (${value.length}):`, ...value.map((item) => `${indent}  ${printable(cell(item))}`));
      }
    } else if (isObject(value)) {
      lines.push(`${indent}${name}:`, ...members(value, `${indent}  `));
    } else {
      lines.push(`${indent}${padEnd(`${name}:`, keyWidth + 1)} ${printable(cell(value))}`.trimEnd());
    }
  }
  return lines;
}

/** An envelope in readable form: the outcome line first (`ok`, `failed: exists`), then its members. */
export function formatEnvelope(envelope: Json): string {
  const outcome = typeof envelope.response === 'string' ? envelope.response : 'answer';
  const { response: _response, ...rest } = envelope;
  let first = printable(outcome);
  if (outcome === 'ok') {
    if (rest.dry_run === true) {
      first += ' (dry run: nothing was changed)';
      delete rest.dry_run;
    }
  } else if (typeof rest.cause === 'string') {
    first += `: ${printable(rest.cause)}`;
    delete rest.cause;
  }
  return `${[first, ...members(rest, '')].join('\n')}\n`;
}

/** `pbxgw nodes` on a terminal. */
export function formatNodeList(nodes: readonly NodeEntry[]): string {
  return `${formatTable(['NODE', 'SCOPE', 'SUMMARY'], nodes.map((node) => [node.node, node.scope ?? '', node.summary])).join('\n')}\n`;
}

/** A parameter's constraints in a few words: `1–100000`, `one of read, write, admin`, `/^…$/`. */
function constraints(parameter: NodeDescription['parameters'][number]): string[] {
  const said: string[] = [];
  if (parameter.enum) said.push(`one of ${parameter.enum.map(String).join(', ')}`);
  if (parameter.minimum !== undefined || parameter.maximum !== undefined) said.push(`${parameter.minimum ?? ''}–${parameter.maximum ?? ''}`);
  if (parameter.pattern) said.push(`pattern ${parameter.pattern}`);
  if (parameter.example !== undefined) said.push(`e.g. ${String(parameter.example)}`);
  return said;
}

/** `pbxgw help <group>/<node>` on a terminal. */
export function formatNodeHelp(help: NodeDescription): string {
  const lines = [`${help.node}: ${help.summary}`, `scope: ${help.scope ?? 'unknown'}`];
  if (help.description) lines.push('', ...help.description.split('\n'));
  lines.push('', 'parameters (name=value, values as typed; name=- reads the value from standard input):');
  if (help.parameters.length === 0) lines.push('  none');
  else {
    const [header, ...rows] = formatTable(
      ['NAME', 'TYPE', 'REQUIRED', 'DESCRIPTION'],
      help.parameters.map((parameter) => [parameter.name, parameter.type, parameter.required ? 'yes' : '', parameter.description]),
      '  ',
    );
    lines.push(header);
    // Each parameter's constraints on lines of their own below it: patterns are long.
    help.parameters.forEach((parameter, index) => lines.push(rows[index], ...constraints(parameter).map((constraint) => `      ${constraint}`)));
  }
  lines.push('', 'ok answer:');
  if (help.answer.plainText) lines.push('  the body alone, as text/plain (pbxgw prints it as it is)');
  else if (help.answer.members.length === 0) lines.push('  response alone');
  else {
    lines.push(
      ...formatTable(
        ['MEMBER', 'TYPE', 'ALWAYS', 'DESCRIPTION'],
        help.answer.members.map((member) => [member.name, member.type, member.required ? 'yes' : '', member.description]),
        '  ',
      ),
    );
  }
  const causes = [
    ...Object.entries(help.causes.failed).map(([cause, meaning]) => ['failed', cause, meaning]),
    ...Object.entries(help.causes.invalid).map(([cause, meaning]) => ['invalid', cause, meaning]),
  ];
  lines.push('', 'its own causes (besides invalid for a malformed parameter, and error):');
  if (causes.length === 0) lines.push('  none');
  else lines.push(...formatTable(['OUTCOME', 'CAUSE', 'MEANING'], causes, '  '));
  return `${lines.map(printable).join('\n')}\n`;
}
