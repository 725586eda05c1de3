import fc from 'fast-check';
import { E164, parseE164 } from '../../src/values/e164';
import { FORWARD_TARGET, parseForwardTarget } from '../../src/values/forward-target';
import { CANONICAL_MAC, MAC, parseMac } from '../../src/values/mac';
import { GENERATED_PASSWORD, PASSWORD, generatePassword, parsePassword } from '../../src/values/password';
import { CANONICAL_SIP_ADDRESS, DOMAIN, SIP_ADDRESS, USERNAME, formatSipAddress, parseDomain, parseSipAddress, parseUsername } from '../../src/values/sip-address';

// The patterns the OpenAPI document shows (and the edge checks first) say what the parsers accept:
// the same verdict for any text, but the domain's overall length (253), which only the parser bounds.

const near = (alphabet: string, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet.split('')), maxLength });
const ADDRESS_ALPHABET = 'aZ09.-_+@:xX ';

describe('value patterns', () => {
  it.each([
    ['MAC', MAC, parseMac, near('0aF9:-g', 20)],
    ['E.164', E164, parseE164, near('+0123456789a', 18)],
    ['password', PASSWORD, parsePassword, fc.string({ maxLength: 70 })],
    ['forward target', FORWARD_TARGET, parseForwardTarget, near('+0123456789a', 23)],
    ['username', USERNAME, parseUsername, near(ADDRESS_ALPHABET, 70)],
    ['domain', DOMAIN, parseDomain, near('aZ09.-_', 80)],
    ['SIP address', SIP_ADDRESS, parseSipAddress, near(ADDRESS_ALPHABET, 80)],
  ] as const)('%s: the pattern accepts exactly what the parser accepts', (_name, pattern, parse, texts) => {
    fc.assert(
      fc.property(texts, (text) => pattern.test(text) === (parse(text) !== null)),
      { numRuns: 3000 },
    );
  });

  it('describes canonical values as answers give them', () => {
    fc.assert(
      fc.property(near('0aF9:-', 17), (text) => {
        const mac = parseMac(text);
        return mac === null || CANONICAL_MAC.test(mac);
      }),
    );
    const address = parseSipAddress('Alice.B+1@PBX.Example.COM');
    expect(address && CANONICAL_SIP_ADDRESS.test(formatSipAddress(address))).toBe(true);
    expect(CANONICAL_SIP_ADDRESS.test('alice@PBX.local')).toBe(false);
    for (let count = 0; count < 100; count += 1) expect(generatePassword()).toMatch(GENERATED_PASSWORD);
  });

  it('accepts the examples of CONTRACT section 4', () => {
    expect(['001a2b3c4d5e', '00:1A:2B:3C:4D:5E', '00-1a-2b-3c-4d-5e'].every((text) => MAC.test(text))).toBe(true);
    expect(MAC.test('00:1a-2b:3c:4d:5e')).toBe(false);
    expect(E164.test('+4761123456')).toBe(true);
    expect(E164.test('+0761123456')).toBe(false);
    expect(SIP_ADDRESS.test('foo@bar.bz')).toBe(true);
    expect(SIP_ADDRESS.test('foo@bar..bz')).toBe(false);
  });
});
