import { Authenticator, presentedToken, scopeIncludes } from '../../src/http/auth';

const TOKENS = [
  { name: 'desk', token: 'read-token-0123456789', scope: 'read' as const },
  { name: 'ops', token: 'write-token-0123456789', scope: 'write' as const },
  { name: 'root', token: 'Admin-Token-0123456789', scope: 'admin' as const },
];

describe('Authenticator.identify', () => {
  const authenticator = new Authenticator(TOKENS);

  it('identifies each configured token as its client (name and scope)', () => {
    expect(authenticator.identify('read-token-0123456789')).toEqual({ name: 'desk', scope: 'read' });
    expect(authenticator.identify('write-token-0123456789')).toEqual({ name: 'ops', scope: 'write' });
    expect(authenticator.identify('Admin-Token-0123456789')).toEqual({ name: 'root', scope: 'admin' });
  });

  it('rejects no token and the empty token', () => {
    expect(authenticator.identify(null)).toBeNull();
    expect(authenticator.identify('')).toBeNull();
  });

  it.each([
    ['a prefix', 'Admin-Token-012345678'],
    ['a longer token with the right prefix', 'Admin-Token-01234567890'],
    ['a different case', 'admin-token-0123456789'],
    ['all upper case', 'ADMIN-TOKEN-0123456789'],
    ['one character changed', 'Admin-Token-0123456788'],
    ['surrounding spaces', ' Admin-Token-0123456789 '],
    ['a token name', 'root'],
  ])('rejects %s of a configured token', (_what, presented) => {
    expect(authenticator.identify(presented)).toBeNull();
  });

  it('identifies nobody when no token is configured', () => {
    expect(new Authenticator([]).identify('read-token-0123456789')).toBeNull();
  });
});

describe('presentedToken', () => {
  it('reads Authorization: Bearer, with any case of the scheme and extra spaces', () => {
    expect(presentedToken({ authorization: 'Bearer abc.DEF-123' })).toBe('abc.DEF-123');
    expect(presentedToken({ authorization: 'bearer abc.DEF-123' })).toBe('abc.DEF-123');
    expect(presentedToken({ authorization: 'Bearer    abc.DEF-123  ' })).toBe('abc.DEF-123');
  });

  it('reads X-API-Key as given', () => {
    expect(presentedToken({ 'x-api-key': 'key-0123456789abcdef' })).toBe('key-0123456789abcdef');
  });

  it('prefers a Bearer token over X-API-Key', () => {
    expect(presentedToken({ authorization: 'Bearer from-bearer', 'x-api-key': 'from-key' })).toBe('from-bearer');
  });

  it('falls back to X-API-Key when Authorization is another scheme', () => {
    expect(presentedToken({ authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': 'from-key' })).toBe('from-key');
  });

  it.each([
    ['no headers', {}],
    ['a Basic authorization', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['Bearer without a token', { authorization: 'Bearer ' }],
    ['Bearer with two words', { authorization: 'Bearer one two' }],
    ['the token without a scheme', { authorization: 'abc.DEF-123' }],
    ['an empty X-API-Key', { 'x-api-key': '' }],
  ])('finds no token in %s', (_what, headers) => {
    expect(presentedToken(headers)).toBeNull();
  });
});

describe('scopeIncludes', () => {
  it('orders read < write < admin', () => {
    expect(scopeIncludes('read', 'read')).toBe(true);
    expect(scopeIncludes('read', 'write')).toBe(false);
    expect(scopeIncludes('write', 'read')).toBe(true);
    expect(scopeIncludes('write', 'admin')).toBe(false);
    expect(scopeIncludes('admin', 'write')).toBe(true);
    expect(scopeIncludes('admin', 'admin')).toBe(true);
  });
});
