// CONTRACT section 4: username 1–64 of A-Z a-z 0-9 . _ - +; the domain a DNS host name, lower-cased.

export interface SipAddress {
  readonly username: string;
  readonly domain: string;
}

export const USERNAME = /^[A-Za-z0-9._+-]{1,64}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

// The same rules as whole patterns, for the OpenAPI document and the edge's first check; the parsers
// below also bound a domain's length (253), which a pattern cannot say.
const hostname = (alphanumeric: string): string => {
  const label = `[${alphanumeric}]([${alphanumeric}-]{0,61}[${alphanumeric}])?`;
  return `${label}(\\.${label})*`;
};
/** A domain as clients may write it (any case). */
export const DOMAIN = new RegExp(`^${hostname('A-Za-z0-9')}$`);
/** A SIP address as clients may write it. */
export const SIP_ADDRESS = new RegExp(`^${USERNAME.source.slice(1, -1)}@${hostname('A-Za-z0-9')}$`);
/** A SIP address as answers give it: the domain lower-cased. */
export const CANONICAL_SIP_ADDRESS = new RegExp(`^${USERNAME.source.slice(1, -1)}@${hostname('a-z0-9')}$`);
/** A domain as answers give it. */
export const CANONICAL_DOMAIN = new RegExp(`^${hostname('a-z0-9')}$`);

export function parseUsername(text: string): string | null {
  return USERNAME.test(text) ? text : null;
}

export function parseDomain(text: string): string | null {
  const domain = text.toLowerCase();
  if (domain.length === 0 || domain.length > 253) return null;
  return domain.split('.').every((label) => LABEL.test(label)) ? domain : null;
}

export function parseSipAddress(text: string): SipAddress | null {
  const at = text.lastIndexOf('@');
  if (at <= 0) return null;
  const username = parseUsername(text.slice(0, at));
  const domain = parseDomain(text.slice(at + 1));
  return username && domain ? { username, domain } : null;
}

export function formatSipAddress(address: SipAddress): string {
  return `${address.username}@${address.domain}`;
}
