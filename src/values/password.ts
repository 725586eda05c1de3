import { randomInt } from 'node:crypto';

// CONTRACT section 4: 8–64 printable ASCII characters, no spaces.
export const PASSWORD = /^[\x21-\x7e]{8,64}$/;

export function parsePassword(text: string): string | null {
  return PASSWORD.test(text) ? text : null;
}

// Letters and digits without the look-alikes 0 O o 1 l I (CONTRACT, user/genpw).
export const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789';
export const GENERATED_PASSWORD_LENGTH = 12;
/** What user/genpw and user/add_local make, for the OpenAPI document. */
export const GENERATED_PASSWORD = new RegExp(`^[${PASSWORD_ALPHABET}]{${GENERATED_PASSWORD_LENGTH}}$`);

/** A password from a cryptographic source; randomInt draws without modulo bias. */
export function generatePassword(): string {
  let password = '';
  for (let index = 0; index < GENERATED_PASSWORD_LENGTH; index += 1) {
    password += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  }
  return password;
}
