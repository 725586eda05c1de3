import { parseMac } from '../../src/values/mac';

describe('MAC address (CONTRACT section 4)', () => {
  it.each([
    ['f00ba2ba5c00', 'f00ba2ba5c00'],
    ['F00BA2BA5C00', 'f00ba2ba5c00'],
    ['f0:0b:a2:ba:5c:00', 'f00ba2ba5c00'],
    ['F0:0B:A2:BA:5C:00', 'f00ba2ba5c00'],
    ['f0-0b-a2-ba-5c-00', 'f00ba2ba5c00'],
    ['00-1A-2b-3C-4d-5E', '001a2b3c4d5e'],
  ])('turns %j into its canonical form %j', (text, canonical) => {
    expect(parseMac(text)).toBe(canonical);
  });

  it.each([
    '',
    'f00ba2ba5c0',
    'f00ba2ba5c000',
    'g00ba2ba5c00',
    'f0:0b:a2:ba:5c',
    'f0:0b:a2:ba:5c:00:11',
    'f0:0b-a2:ba:5c:00',
    'f0.0b.a2.ba.5c.00',
    'f00b.a2ba.5c00',
    'f0:0b:a2:ba:5c:0',
    'f0::0b:a2:ba:5c:00',
    ' f00ba2ba5c00',
    'f00ba2ba5c00 ',
    'f0 0b a2 ba 5c 00',
  ])('refuses %j', (text) => {
    expect(parseMac(text)).toBeNull();
  });
});
