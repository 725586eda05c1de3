import { countryCallingCode, e164ToInteger, integerToE164, parseE164 } from '../../src/values/e164';

describe('E.164 number (CONTRACT section 4)', () => {
  it.each(['+4761123456', '+12', '+123456789012345', '+12025550100', '+358401234567'])('accepts %j unchanged', (text) => {
    expect(parseE164(text)).toBe(text);
  });

  it.each([
    ['empty', ''],
    ['no plus', '4761123456'],
    ['the plus alone', '+'],
    ['one digit', '+4'],
    ['16 digits', '+1234567890123456'],
    ['first digit 0', '+0761123456'],
    ['double plus', '++4761123456'],
    ['a space for the plus (an unencoded + in a URL)', ' 4761123456'],
    ['a letter', '+47611234a6'],
    ['a separator', '+47 61123456'],
    ['a dash', '+47-61123456'],
    ['a trailing newline', '+4761123456\n'],
    ['a 00 prefix', '004761123456'],
  ])('refuses %s', (_what, text) => {
    expect(parseE164(text)).toBeNull();
  });

  it('converts to and from the integer stored in the pool', () => {
    expect(e164ToInteger('+4761123456')).toBe(4761123456);
    expect(integerToE164(4761123456)).toBe('+4761123456');
    expect(integerToE164('4761123456')).toBe('+4761123456');
  });

  it('keeps 15-digit numbers exact', () => {
    expect(e164ToInteger('+999999999999999')).toBe(999999999999999);
    expect(Number.isSafeInteger(e164ToInteger('+999999999999999'))).toBe(true);
    expect(integerToE164(e164ToInteger('+123456789012345'))).toBe('+123456789012345');
  });

  describe('countryCallingCode', () => {
    it.each([
      ['+12025550100', '1'],
      ['+74951234567', '7'],
      ['+4761123456', '47'],
      ['+4799999999', '47'],
      ['+4800000001', '48'],
      ['+442071234567', '44'],
      ['+358401234567', '358'],
      ['+35312345678', '353'],
      ['+9647901234567', '964'],
      ['+80012345678', '800'],
      ['+88213456789', '882'],
      ['+97912345678', '979'],
    ])('gives the country calling code of %s as %s', (number, code) => {
      expect(countryCallingCode(number)).toBe(code);
    });

    it('tells neighbouring countries apart', () => {
      expect(countryCallingCode('+4799999999')).not.toBe(countryCallingCode('+4800000001'));
    });

    it.each(['+999123456', '+2812345678', '+2101234567', '+80112345'])('gives null for %s (no assigned code)', (number) => {
      expect(countryCallingCode(number)).toBeNull();
    });
  });
});
