// CONTRACT section 4: empty (clears the forward) or an optional '+' and 1–20 digits.
export const FORWARD_TARGET = /^(\+?[0-9]{1,20})?$/;

export function parseForwardTarget(text: string): string | null {
  return FORWARD_TARGET.test(text) ? text : null;
}
