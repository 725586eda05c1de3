import { parseE164 } from '../../values/e164';
import { parseMac } from '../../values/mac';
import { PASSWORD } from '../../values/password';
import { formatSipAddress, parseSipAddress } from '../../values/sip-address';
import { CsvSyntaxError, parseCsv } from './csv-text';

// The onboarding sheet of `pbxgw import` (CONTRACT section 10): its columns, and each row checked
// as far as it can be without the gateway, so that a row the gateway would refuse halfway (a MAC
// that is no MAC after its user was made on the PBX) is refused before anything is sent.

/** Every column a sheet may have, in the order export writes them. */
export const SHEET_COLUMNS = [
  'user',
  'kind',
  'displayname',
  'email',
  'password',
  'registrar',
  'r_port',
  'proxy',
  'p_port',
  'authid',
  'dialplan',
  'linetext',
  'macs',
  'aliases',
  'permissions',
] as const;

export type SheetColumn = (typeof SHEET_COLUMNS)[number];

export const REQUIRED_COLUMNS: readonly SheetColumn[] = ['user', 'kind', 'displayname'];

/** The columns that are about a remote user's SIP server; a local user's row leaves them empty. */
export const REMOTE_COLUMNS: readonly SheetColumn[] = ['registrar', 'r_port', 'proxy', 'p_port', 'authid'];

/** A sheet that cannot be imported at all (no CSV, a missing or unknown column): nothing is sent. */
export class SheetRefused extends Error {
  override readonly name = 'SheetRefused';
}

/** One person of the sheet, checked: what the row's node calls are made from. */
export interface Person {
  /** The address in canonical form (the domain lower-cased). */
  readonly address: string;
  readonly domain: string;
  readonly kind: 'local' | 'remote';
  /** The single-valued columns as given (trimmed); '' when empty or absent. */
  readonly values: Readonly<Record<Exclude<SheetColumn, 'macs' | 'aliases' | 'permissions'>, string>>;
  /** The MACs as given (the gateway canonicalises them). */
  readonly macs: readonly string[];
  /** Full alias addresses, canonical; an entry without @ was taken in the user's domain. */
  readonly aliases: readonly string[];
  readonly permissions: readonly string[];
}

export interface SheetRow {
  /** The line of the file the row starts on; the header is row 1, as a spreadsheet numbers it. */
  readonly row: number;
  /** The user column as given: what the report names the row by. */
  readonly user: string;
  readonly person: Person | null;
  /** Why the row is refused before anything is sent (a column's name, and words). */
  readonly invalid: { readonly cause: string; readonly detail: string } | null;
}

const KNOWN: ReadonlySet<string> = new Set(SHEET_COLUMNS);

function words(text: string): string[] {
  return text.split(/[\s,]+/).filter((word) => word !== '');
}

class RowInvalid extends Error {
  constructor(
    readonly column: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function duplicateOf(values: readonly string[]): string | undefined {
  return values.find((value, index) => values.indexOf(value) !== index);
}

function personOf(cells: Readonly<Record<SheetColumn, string>>): Person {
  const address = parseSipAddress(cells.user);
  if (cells.user === '') throw new RowInvalid('user', 'the user column is empty');
  if (address === null) throw new RowInvalid('user', `${cells.user} is not a SIP address username@domain`);
  const kind = cells.kind.toLowerCase();
  if (kind !== 'local' && kind !== 'remote') throw new RowInvalid('kind', `kind must be local or remote, not "${cells.kind}"`);
  if (cells.displayname === '') throw new RowInvalid('displayname', 'the displayname column is empty');
  if (kind === 'local') {
    const remoteOnly = REMOTE_COLUMNS.find((column) => cells[column] !== '');
    if (remoteOnly !== undefined) throw new RowInvalid(remoteOnly, `${remoteOnly} is for remote users; a local user's extension is on the PBX`);
    if (cells.password !== '' && !PASSWORD.test(cells.password)) {
      throw new RowInvalid('password', 'a password is 8–64 printable ASCII characters without spaces');
    }
    // Set with user/update after the user is made: checked here so that a dry run checks them too.
    for (const [column, longest] of [['dialplan', 255], ['linetext', 64]] as const) {
      if (cells[column].length > longest || /[\x00-\x1f\x7f]/.test(cells[column])) {
        throw new RowInvalid(column, `${column} is at most ${longest} characters, without control characters`);
      }
    }
  } else if (cells.email !== '') {
    throw new RowInvalid('email', 'remote users have no e-mail address (it is kept for local users, on the PBX)');
  }

  const macs = words(cells.macs);
  const badMac = macs.find((mac) => parseMac(mac) === null);
  if (badMac !== undefined) throw new RowInvalid('macs', `${badMac} is not a MAC address (12 hex digits, plain or separated by : or -)`);
  const twiceMac = duplicateOf(macs.map((mac) => parseMac(mac) ?? mac));
  if (twiceMac !== undefined) throw new RowInvalid('macs', `the MAC ${twiceMac} is given twice`);

  const aliases = words(cells.aliases).map((alias) => {
    const parsed = parseSipAddress(alias.includes('@') ? alias : `${alias}@${address.domain}`);
    if (parsed === null) throw new RowInvalid('aliases', `${alias} is not a SIP address (or a username in the user's domain)`);
    return formatSipAddress(parsed);
  });
  const own = formatSipAddress(address);
  if (aliases.includes(own)) throw new RowInvalid('aliases', `${own} is the user's own address`);
  const twiceAlias = duplicateOf(aliases);
  if (twiceAlias !== undefined) throw new RowInvalid('aliases', `the alias ${twiceAlias} is given twice`);
  const e164 = aliases.filter((alias) => parseE164(alias.slice(0, alias.lastIndexOf('@'))) !== null);
  if (e164.length > 1) throw new RowInvalid('aliases', `a user has at most one E.164 alias: ${e164.join(' and ')}`);

  const { macs: _macs, aliases: _aliases, permissions: _permissions, ...values } = cells;
  return { address: own, domain: address.domain, kind, values, macs, aliases, permissions: words(cells.permissions) };
}

/**
 * The rows of a sheet. Refuses the whole sheet (SheetRefused) when it is no CSV, or when its
 * header lacks a required column or has one this command does not know: a misspelt column
 * would otherwise be dropped silently from every row.
 */
export function readSheet(text: string | Buffer): SheetRow[] {
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new SheetRefused(`the sheet does not parse as CSV: ${error.message}`);
    throw error;
  }
  const [header, ...rows] = records;
  if (header === undefined) throw new SheetRefused('the sheet is empty: it needs a header row naming its columns');
  const columns = header.fields.map((name) => name.toLowerCase());
  const unknown = columns.find((name) => !KNOWN.has(name));
  if (unknown !== undefined) {
    throw new SheetRefused(`unknown column "${header.fields[columns.indexOf(unknown)]}" (the columns are ${SHEET_COLUMNS.join(', ')})`);
  }
  const twice = duplicateOf(columns);
  if (twice !== undefined) throw new SheetRefused(`the column ${twice} appears twice`);
  const missing = REQUIRED_COLUMNS.find((name) => !columns.includes(name));
  if (missing !== undefined) throw new SheetRefused(`missing the required column ${missing} (required: ${REQUIRED_COLUMNS.join(', ')})`);

  return rows.map(({ line, fields }) => {
    const cells = Object.fromEntries(SHEET_COLUMNS.map((name) => [name, fields[columns.indexOf(name)] ?? ''])) as Record<SheetColumn, string>;
    if (fields.length !== columns.length) {
      const detail = `the row has ${fields.length} field${fields.length === 1 ? '' : 's'}, the header ${columns.length}`;
      return { row: line, user: cells.user, person: null, invalid: { cause: 'row', detail } };
    }
    try {
      return { row: line, user: cells.user, person: personOf(cells), invalid: null };
    } catch (error) {
      if (!(error instanceof RowInvalid)) throw error;
      return { row: line, user: cells.user, person: null, invalid: { cause: error.column, detail: error.detail } };
    }
  });
}
