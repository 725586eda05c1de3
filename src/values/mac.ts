// CONTRACT section 4: 12 hex digits, plain or separated by ':' or '-', any case → 12 lower-case hex digits.

const PLAIN = /^[0-9a-f]{12}$/;
const SEPARATED = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/;

/** The same rule as one pattern without a back-reference (JSON Schema patterns may not rely on them). */
export const MAC = /^([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5})$/;
/** A MAC as answers give it. */
export const CANONICAL_MAC = PLAIN;

export function parseMac(text: string): string | null {
  const lower = text.toLowerCase();
  if (PLAIN.test(lower)) return lower;
  if (SEPARATED.test(lower)) return lower.replace(/[:-]/g, '');
  return null;
}
