import metadata from 'libphonenumber-js/min/metadata';

// CONTRACT section 4: '+' then 2–15 digits, the first not 0. Stored as the digits' integer value
// (at most 15 digits, so always below Number.MAX_SAFE_INTEGER) and shown with its '+'.

export const E164 = /^\+[1-9][0-9]{1,14}$/;

export function parseE164(text: string): string | null {
  return E164.test(text) ? text : null;
}

export function e164ToInteger(number: string): number {
  return Number(number.slice(1));
}

export function integerToE164(value: number | string): string {
  return `+${value}`;
}

// ITU-T country calling codes as libphonenumber's table has them (geographic and non-geographic).
const CALLING_CODES = new Set([
  ...Object.keys(metadata.country_calling_codes),
  ...Object.keys((metadata as { nonGeographic?: Record<string, unknown> }).nonGeographic ?? {}),
]);

/** The number's country calling code (1 to 3 digits), or null when none is assigned. */
export function countryCallingCode(number: string): string | null {
  const digits = number.slice(1);
  for (let length = 1; length <= 3; length += 1) {
    const prefix = digits.slice(0, length);
    if (CALLING_CODES.has(prefix)) return prefix;
  }
  return null;
}
