// What one search box's text asks for: the console decides from the text's form which nodes to ask.
// Pure functions (no DOM): test/unit/console/search-terms.test.ts checks them against the gateway's
// own value rules in src/values/, which the browser cannot import.

/** The lookups a text calls for; each member absent or null when the text does not call for it. */
export interface SearchPlan {
  /** No text: list every user, a page at a time (user/list). */
  readonly browse: boolean;
  /** user/list?search=: a glob matched anywhere in the address (username, extension, domain). */
  readonly addressSearch: string | null;
  /** Match display names in the browser, walking user/list a page at a time (user/list searches addresses only). */
  readonly nameSearch: string | null;
  /** phone/get?mac=: a whole MAC in any of its forms, canonical (12 lower-case hex digits). */
  readonly mac: string | null;
  /** phone/list?search=: a part of a MAC (hex digits, separators removed, lower case). */
  readonly macSearch: string | null;
  /** An E.164 number: numbers/inpool, and the alias <number>@<each local domain>. */
  readonly number: string | null;
  /** alias/list?alias=<username>@<each local domain>: a bare alias username (`sales`). */
  readonly aliasUsername: string | null;
  /** alias/list?alias=: a whole alias address. */
  readonly aliasAddress: string | null;
}

const NONE: SearchPlan = {
  browse: false,
  addressSearch: null,
  nameSearch: null,
  mac: null,
  macSearch: null,
  number: null,
  aliasUsername: null,
  aliasAddress: null,
};

/** CONTRACT section 4: a SIP username, and an address of one (the domain a DNS hostname). */
export const USERNAME = /^[A-Za-z0-9._+-]{1,64}$/;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
export const SIP_ADDRESS = new RegExp(`^[A-Za-z0-9._+-]{1,64}@(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);
/** An E.164 number: `+`, then 2 to 15 digits, the first not 0. */
export const E164 = /^\+[1-9][0-9]{1,14}$/;

/** A whole MAC: 12 hex digits, plain, in pairs by `:` or `-` (as the gateway takes them), or in fours by `.` (as Cisco writes them). */
const WHOLE_MAC = /^(?:[0-9a-f]{12}|[0-9a-f]{2}(?::[0-9a-f]{2}){5}|[0-9a-f]{2}(?:-[0-9a-f]{2}){5}|[0-9a-f]{4}(?:\.[0-9a-f]{4}){2})$/i;
/** A part of a MAC written with separators: `00:1a`, `1A-2B-`, `3c:4d:5e`. */
const PARTIAL_MAC = /^[0-9a-f]{1,2}(?:[:-][0-9a-f]{1,2})+[:-]?$|^[0-9a-f]{1,2}[:-]$/i;
/** Hex digits that are not all decimal: a part of a MAC, or a word such as `cafe`. */
const HEX_WORD = /^(?=.*[a-f])[0-9a-f]{4,11}$/i;
/** A number as people write it: `+47 900 00 001`, `+47-900-00-001`, `+1 (555) 010 0000`. */
const WRITTEN_NUMBER = /^\+[0-9][0-9 ()-]*$/;
const GLOB = /[*?]/;

/** The MAC's canonical form (12 lower-case hex digits), or null when the text is not a whole MAC. */
export function canonicalMac(text: string): string | null {
  const trimmed = text.trim();
  return WHOLE_MAC.test(trimmed) ? trimmed.replace(/[:.-]/g, '').toLowerCase() : null;
}

/** The E.164 number a text writes (spaces, dashes and brackets dropped), or null. */
export function writtenNumber(text: string): string | null {
  const trimmed = text.trim();
  if (!WRITTEN_NUMBER.test(trimmed)) return null;
  const number = `+${trimmed.slice(1).replace(/[ ()-]/g, '')}`;
  return E164.test(number) ? number : null;
}

/** The lookups for a search box's text. */
export function planSearch(text: string): SearchPlan {
  const trimmed = text.trim();
  if (trimmed === '') return { ...NONE, browse: true };
  const glob = GLOB.test(trimmed);
  const spaced = /\s/.test(trimmed);

  const mac = glob ? null : canonicalMac(trimmed);
  if (mac !== null) {
    // Twelve decimal digits may also be (a part of) an extension.
    return { ...NONE, mac, addressSearch: /^[0-9]{12}$/.test(trimmed) ? trimmed : null };
  }
  const number = glob ? null : writtenNumber(trimmed);
  if (number !== null) return { ...NONE, number, addressSearch: number };
  if (!glob && PARTIAL_MAC.test(trimmed)) return { ...NONE, macSearch: trimmed.replace(/[:-]/g, '').toLowerCase() };
  if (trimmed.includes('@')) {
    return { ...NONE, addressSearch: spaced ? null : trimmed, aliasAddress: !glob && SIP_ADDRESS.test(trimmed) ? trimmed : null };
  }
  if (/^[0-9]+$/.test(trimmed)) return { ...NONE, addressSearch: trimmed };
  return {
    ...NONE,
    addressSearch: spaced ? null : trimmed,
    nameSearch: trimmed,
    aliasUsername: !glob && USERNAME.test(trimmed) ? trimmed : null,
    macSearch: !glob && HEX_WORD.test(trimmed) ? trimmed.toLowerCase() : null,
  };
}
