import { GENERATED_PASSWORD_LENGTH, PASSWORD_ALPHABET, generatePassword, parsePassword } from '../../src/values/password';

describe('password (CONTRACT section 4)', () => {
  it.each(['S3cr3t!!', 'x'.repeat(8), 'y'.repeat(64), '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~', 'abcDEF123~'])('accepts %j', (text) => {
    expect(parsePassword(text)).toBe(text);
  });

  it.each([
    ['empty', ''],
    ['7 characters', 'x'.repeat(7)],
    ['65 characters', 'x'.repeat(65)],
    ['a space', 'with space'],
    ['a tab', 'with\ttab1'],
    ['a newline', 'with\nnewline'],
    ['a non-ASCII letter', 'pässwörd12'],
    ['DEL', 'password\x7f'],
  ])('refuses %s', (_what, text) => {
    expect(parsePassword(text)).toBeNull();
  });

  describe('generatePassword', () => {
    it('uses letters and digits without look-alikes', () => {
      expect(PASSWORD_ALPHABET).toMatch(/^[A-Za-z0-9]+$/);
      for (const lookAlike of ['0', 'O', 'o', '1', 'l', 'I']) expect(PASSWORD_ALPHABET).not.toContain(lookAlike);
      const expected = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'].filter((c) => !'0Oo1lI'.includes(c));
      expect([...PASSWORD_ALPHABET].sort()).toEqual(expected.sort());
      expect(new Set(PASSWORD_ALPHABET).size).toBe(PASSWORD_ALPHABET.length);
    });

    it('makes 12 characters from the alphabet, each a valid password', () => {
      expect(GENERATED_PASSWORD_LENGTH).toBe(12);
      for (let round = 0; round < 200; round += 1) {
        const password = generatePassword();
        expect(password).toHaveLength(12);
        expect(password).toMatch(/^[ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789]{12}$/);
        expect(parsePassword(password)).toBe(password);
      }
    });

    it('draws different passwords and eventually uses the whole alphabet', () => {
      const seen = new Set<string>();
      const used = new Set<string>();
      for (let round = 0; round < 500; round += 1) {
        const password = generatePassword();
        seen.add(password);
        for (const character of password) used.add(character);
      }
      expect(seen.size).toBe(500);
      expect(used.size).toBe(PASSWORD_ALPHABET.length);
    });
  });
});
