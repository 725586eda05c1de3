import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

// CONTRACT section 9: the passwords the gateway holds are stored sealed with AES-256-GCM under one
// key. A sealed value is text, so that it fits an ASCII column and a dump stays readable:
//
//   g1.<key id>.<base64url(nonce | ciphertext | tag)>
//
// g1 names the format (a later one can be told apart); the key id is a short digest of the key, so
// that "sealed under another key" is told apart from "damaged". Each value has a fresh random
// 12-byte nonce; the 16-byte tag is always checked. The context (GCM's additional data) binds a
// value to where it is kept: a value copied into another row does not open there.

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'g1';
const ALGORITHM = 'aes-256-gcm';
const SEALED = /^g1\.([0-9a-f]{12})\.([A-Za-z0-9_-]+)$/;

/** Why a sealed value did not open: sealed under another key, or not a sound value under this one. */
export class SecretOpenError extends Error {
  constructor(
    readonly reason: 'other-key' | 'damaged',
    message: string,
  ) {
    super(message);
    this.name = 'SecretOpenError';
  }
}

/** The key id a sealed value names, or null when the text is not a sealed value. */
export function sealedKeyId(sealed: string): string | null {
  return SEALED.exec(sealed)?.[1] ?? null;
}

/** Seals and opens short texts under one key. Holds the key; made once, in the container. */
export class SecretBox {
  /** A digest of the key, not the key: HMAC-SHA-256 of a fixed label, first 6 bytes in hex. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a secrets key is ${KEY_BYTES} bytes, not ${key.length}`);
    this.keyId = createHmac('sha256', key).update('pbx-gateway secrets key id').digest('hex').slice(0, 12);
  }

  /** A fresh random key. */
  static newKey(): Buffer {
    return randomBytes(KEY_BYTES);
  }

  seal(plain: string, context: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${FORMAT}.${this.keyId}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /** The plain text; SecretOpenError when the value is sealed under another key, damaged, or for another context. */
  open(sealed: string, context: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SecretOpenError('damaged', 'not a sealed value (g1.<key id>.<data>)');
    if (match[1] !== this.keyId) throw new SecretOpenError('other-key', `sealed under another key (key id ${match[1]}, this key is ${this.keyId})`);
    const data = Buffer.from(match[2], 'base64url');
    if (data.length < NONCE_BYTES + TAG_BYTES) throw new SecretOpenError('damaged', 'the sealed value is too short');
    // authTagLength pins the tag to 16 bytes: a shortened tag would otherwise be accepted.
    const decipher = createDecipheriv(ALGORITHM, this.key, data.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretOpenError('damaged', 'the sealed value fails its authentication tag (changed, or sealed for another row)');
    }
  }
}
