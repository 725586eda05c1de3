import { SecretBox, SecretOpenError, sealedKeyId } from '../../src/secrets/secret-box';

// CONTRACT section 9: AES-256-GCM, a fresh nonce per value, the tag always checked.

const box = new SecretBox(SecretBox.newKey());
const CONTEXT = 'users.secret alice@remote.example';

function openError(run: () => unknown): SecretOpenError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretOpenError);
    return error as SecretOpenError;
  }
  throw new Error('expected a SecretOpenError');
}

/** The sealed value with one byte of its data (nonce, ciphertext or tag) flipped. */
function flipped(sealed: string, at: number): string {
  const [format, keyId, data] = sealed.split('.');
  const bytes = Buffer.from(data, 'base64url');
  bytes[at] ^= 0x01;
  return `${format}.${keyId}.${bytes.toString('base64url')}`;
}

describe('SecretBox', () => {
  it('opens what it sealed, for every printable ASCII password', () => {
    const printable = Array.from({ length: 95 }, (_, index) => String.fromCharCode(0x20 + index)).join('');
    for (const plain of ['Abcdefg1', 'x'.repeat(64), printable.slice(0, 64), printable.slice(31), 'g1.0123456789ab.AAAA']) {
      expect(box.open(box.seal(plain, CONTEXT), CONTEXT)).toBe(plain);
    }
  });

  it('writes g1.<key id>.<base64url> and never the plain text', () => {
    const sealed = box.seal('Visible-Password-1', CONTEXT);
    expect(sealed).toMatch(/^g1\.[0-9a-f]{12}\.[A-Za-z0-9_-]+$/);
    expect(sealedKeyId(sealed)).toBe(box.keyId);
    expect(sealed).not.toContain('Visible-Password-1');
    // A 64-character password fits the 255-character column.
    expect(box.seal('x'.repeat(64), CONTEXT).length).toBeLessThanOrEqual(255);
  });

  it('uses a fresh nonce for each value: one password sealed twice gives two texts', () => {
    const values = new Set(Array.from({ length: 50 }, () => box.seal('Same-Password-1', CONTEXT)));
    expect(values.size).toBe(50);
    const nonces = new Set([...values].map((sealed) => Buffer.from(sealed.split('.')[2], 'base64url').subarray(0, 12).toString('hex')));
    expect(nonces.size).toBe(50);
  });

  it('refuses tampered ciphertext, nonce or tag: the tag check fails', () => {
    const sealed = box.seal('Tamper-Me-Please1', CONTEXT);
    const length = Buffer.from(sealed.split('.')[2], 'base64url').length;
    for (const at of [0, 11, 12, length - 17, length - 16, length - 1]) {
      expect(openError(() => box.open(flipped(sealed, at), CONTEXT)).reason).toBe('damaged');
    }
  });

  it('refuses a value with its tag cut short or its data cut off', () => {
    const sealed = box.seal('Short-Tag-Test1', CONTEXT);
    const data = Buffer.from(sealed.split('.')[2], 'base64url');
    const prefix = sealed.split('.').slice(0, 2).join('.');
    expect(openError(() => box.open(`${prefix}.${data.subarray(0, data.length - 4).toString('base64url')}`, CONTEXT)).reason).toBe('damaged');
    expect(openError(() => box.open(`${prefix}.${data.subarray(0, 20).toString('base64url')}`, CONTEXT)).reason).toBe('damaged');
  });

  it('refuses a value sealed for another context (copied from another row)', () => {
    const sealed = box.seal('Row-Bound-Pass1', CONTEXT);
    expect(openError(() => box.open(sealed, 'users.secret mallory@remote.example')).reason).toBe('damaged');
  });

  it('tells a value sealed under another key from a damaged one', () => {
    const other = new SecretBox(SecretBox.newKey());
    expect(other.keyId).not.toBe(box.keyId);
    const error = openError(() => other.open(box.seal('Other-Key-Pass1', CONTEXT), CONTEXT));
    expect(error.reason).toBe('other-key');
    expect(error.message).toContain(box.keyId);
  });

  it('refuses text that is not a sealed value, whatever it looks like', () => {
    for (const text of ['', 'Plain-Password-1', 'g1..AAAA', `g2.${box.keyId}.AAAA`, `g1.${box.keyId}.not base64!`]) {
      expect(openError(() => box.open(text, CONTEXT)).reason).toBe('damaged');
    }
  });

  it('names the same key by the same id, and takes only 32-byte keys', () => {
    const key = SecretBox.newKey();
    expect(new SecretBox(key).keyId).toBe(new SecretBox(Buffer.from(key)).keyId);
    expect(() => new SecretBox(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
