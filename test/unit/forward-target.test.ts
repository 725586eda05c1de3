import { parseForwardTarget } from '../../src/values/forward-target';

describe('forward target (CONTRACT section 4)', () => {
  it('accepts empty (clears the forward)', () => {
    expect(parseForwardTarget('')).toBe('');
  });

  it.each(['0', '+0', '0912345678', '+4761123456', '1'.repeat(20), `+${'9'.repeat(20)}`, '1234'])('accepts %j unchanged', (text) => {
    expect(parseForwardTarget(text)).toBe(text);
  });

  it.each([
    ['the plus alone', '+'],
    ['21 digits', '1'.repeat(21)],
    ['+ and 21 digits', `+${'1'.repeat(21)}`],
    ['a letter', '12a4'],
    ['a plus in the middle', '12+34'],
    ['two pluses', '++12'],
    ['a space', '12 34'],
    ['only a space', ' '],
    ['a dash', '12-34'],
    ['a SIP address', 'alice@pbx.local'],
  ])('refuses %s', (_what, text) => {
    expect(parseForwardTarget(text)).toBeNull();
  });
});
