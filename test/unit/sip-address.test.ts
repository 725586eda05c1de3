import { formatSipAddress, parseDomain, parseSipAddress, parseUsername } from '../../src/values/sip-address';

describe('SIP address (CONTRACT section 4)', () => {
  describe('username', () => {
    it.each(['a', 'alice', 'Alice.Smith', 'a_b-c+d', '+4761123456', '0042', 'x'.repeat(64)])('accepts %j', (text) => {
      expect(parseUsername(text)).toBe(text);
    });

    it.each(['', 'x'.repeat(65), 'a b', 'a@b', 'a:b', 'ä', 'a/b', 'a%b', 'a;b', 'a\nb'])('refuses %j', (text) => {
      expect(parseUsername(text)).toBeNull();
    });

    it('keeps the case of the username', () => {
      expect(parseUsername('MiXeD')).toBe('MiXeD');
    });
  });

  describe('domain', () => {
    it.each(['pbx.local', 'localhost', 'a.b.c.example', 'sip-1.example.com', '1.2.3.4', 'x1.example'])('accepts %j', (text) => {
      expect(parseDomain(text)).toBe(text);
    });

    it('lower-cases the domain', () => {
      expect(parseDomain('PBX.Example.COM')).toBe('pbx.example.com');
    });

    it('accepts labels of 63 characters and refuses 64', () => {
      expect(parseDomain(`${'a'.repeat(63)}.example`)).toBe(`${'a'.repeat(63)}.example`);
      expect(parseDomain(`${'a'.repeat(64)}.example`)).toBeNull();
    });

    it('accepts 253 characters in all and refuses 254', () => {
      const label = 'a'.repeat(63);
      const exact = `${label}.${label}.${label}.${'b'.repeat(61)}`;
      expect(exact).toHaveLength(253);
      expect(parseDomain(exact)).toBe(exact);
      expect(parseDomain(`${exact}c`)).toBeNull();
    });

    it.each(['', '.', 'example.', '.example', 'a..b', '-a.example', 'a-.example', 'a_b.example', 'a b.example', 'exa mple', 'ex@mple'])(
      'refuses %j',
      (text) => {
        expect(parseDomain(text)).toBeNull();
      },
    );
  });

  describe('address', () => {
    it('splits username and domain and lower-cases only the domain', () => {
      expect(parseSipAddress('Alice.S@PBX.Local')).toEqual({ username: 'Alice.S', domain: 'pbx.local' });
    });

    it('accepts an E.164 username', () => {
      expect(parseSipAddress('+4761123456@pbx.local')).toEqual({ username: '+4761123456', domain: 'pbx.local' });
    });

    it.each(['', 'alice', '@pbx.local', 'alice@', 'a@b@pbx.local', 'al ice@pbx.local', 'alice@pbx..local', 'alice@pbx_local', ' alice@pbx.local', 'alice@pbx.local '])(
      'refuses %j',
      (text) => {
        expect(parseSipAddress(text)).toBeNull();
      },
    );

    it('refuses a username over 64 characters', () => {
      expect(parseSipAddress(`${'u'.repeat(65)}@pbx.local`)).toBeNull();
      expect(parseSipAddress(`${'u'.repeat(64)}@pbx.local`)).not.toBeNull();
    });

    it('formats the canonical username@domain form', () => {
      expect(formatSipAddress({ username: 'bob', domain: 'bar.bz' })).toBe('bob@bar.bz');
      const parsed = parseSipAddress('Bob@BAR.bz');
      expect(parsed && formatSipAddress(parsed)).toBe('Bob@bar.bz');
    });
  });
});
