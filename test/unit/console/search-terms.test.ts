import fc from 'fast-check';
import { canonicalMac, E164, planSearch, SIP_ADDRESS, USERNAME, writtenNumber } from '../../../src/console/browser/search-terms';
import { parseE164 } from '../../../src/values/e164';
import { parseMac } from '../../../src/values/mac';
import { parseSipAddress, parseUsername } from '../../../src/values/sip-address';

// The console's search box decides from the text's form which nodes to ask. Its patterns are copies
// (the browser cannot import src/values/): they must say what the gateway's parsers say.

const near = (alphabet: string, maxLength: number) => fc.string({ unit: fc.constantFrom(...alphabet.split('')), maxLength });
const ADDRESS_ALPHABET = 'aZ09.-_+@:xX ';

describe('the console’s value patterns', () => {
  it.each([
    ['E.164', E164, parseE164, near('+0123456789a', 18)],
    ['username', USERNAME, parseUsername, near(ADDRESS_ALPHABET, 70)],
    ['SIP address', SIP_ADDRESS, parseSipAddress, near(ADDRESS_ALPHABET, 80)],
  ] as const)('%s: accepts exactly what the gateway accepts', (_name, pattern, parse, texts) => {
    fc.assert(fc.property(texts, (text) => pattern.test(text) === (parse(text) !== null)), { numRuns: 3000 });
  });

  it('takes every MAC the gateway takes, as the gateway canonicalises it, and the dotted form too', () => {
    fc.assert(
      fc.property(near('0aF9:-g', 20), (text) => {
        const gateway = parseMac(text);
        return gateway === null || canonicalMac(text) === gateway;
      }),
      { numRuns: 3000 },
    );
    expect(canonicalMac('001A.2B3C.4D5E')).toBe('001a2b3c4d5e');
    expect(canonicalMac('00:1a-2b:3c:4d:5e')).toBeNull();
  });

  it('reads numbers as people write them', () => {
    expect(writtenNumber('+47 900 00 001')).toBe('+4790000001');
    expect(writtenNumber('+1 (555) 010-0000')).toBe('+15550100000');
    expect(writtenNumber('+0 123')).toBeNull();
    expect(writtenNumber('4790000001')).toBeNull();
  });
});

describe('planSearch', () => {
  const none = { browse: false, addressSearch: null, nameSearch: null, mac: null, macSearch: null, number: null, aliasUsername: null, aliasAddress: null };

  it.each([
    ['', { browse: true }],
    ['   ', { browse: true }],
    ['alice@pbx.local', { addressSearch: 'alice@pbx.local', aliasAddress: 'alice@pbx.local' }],
    ['ali*@pbx.local', { addressSearch: 'ali*@pbx.local' }],
    ['1001', { addressSearch: '1001' }],
    ['001122334455', { mac: '001122334455', addressSearch: '001122334455' }],
    ['00:1A:2B:3C:4D:5E', { mac: '001a2b3c4d5e' }],
    ['00-1a-2b-3c-4d-5e', { mac: '001a2b3c4d5e' }],
    ['00:1a:2b', { macSearch: '001a2b' }],
    ['+47 900 00 001', { number: '+4790000001', addressSearch: '+4790000001' }],
    ['sales', { addressSearch: 'sales', nameSearch: 'sales', aliasUsername: 'sales' }],
    ['cafe', { addressSearch: 'cafe', nameSearch: 'cafe', aliasUsername: 'cafe', macSearch: 'cafe' }],
    ['Ada Lovelace', { nameSearch: 'Ada Lovelace' }],
    ['Ada*', { addressSearch: 'Ada*', nameSearch: 'Ada*' }],
  ])('%j asks for %j', (text, asked) => {
    expect(planSearch(text)).toEqual({ ...none, ...asked });
  });
});
