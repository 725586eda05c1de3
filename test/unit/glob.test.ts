import { globToLike } from '../../src/values/glob';

// An independent LIKE matcher ('\' escapes, % any run, _ one character) to check what a pattern matches.
function like(pattern: string, text: string): boolean {
  let source = '^';
  for (let index = 0; index < pattern.length; index += 1) {
    const character = pattern[index];
    if (character === '\\') {
      index += 1;
      source += pattern[index].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (character === '%') source += '[\\s\\S]*';
    else if (character === '_') source += '[\\s\\S]';
    else source += character.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${source}$`).test(text);
}

describe('search glob (CONTRACT section 4)', () => {
  it('is matched anywhere (pre-post globbed)', () => {
    expect(globToLike('1234')).toBe('%1234%');
    expect(like(globToLike('1234'), '+4712345678')).toBe(true);
    expect(like(globToLike('1234'), '+4712435678')).toBe(false);
  });

  it("turns '*' into any run and '?' into one character", () => {
    expect(globToLike('47*9')).toBe('%47%9%');
    expect(globToLike('47?9')).toBe('%47_9%');
    expect(like(globToLike('+47?1'), '+4761123456')).toBe(true);
    expect(like(globToLike('+47?1'), '+47161123456')).toBe(false);
    expect(like(globToLike('+47*56'), '+4761123456')).toBe(true);
  });

  it("keeps '%' and '_' literal", () => {
    expect(globToLike('a%b')).toBe('%a\\%b%');
    expect(globToLike('a_b')).toBe('%a\\_b%');
    expect(like(globToLike('a_b'), 'xa_bx')).toBe(true);
    expect(like(globToLike('a_b'), 'xacbx')).toBe(false);
    expect(like(globToLike('100%'), '100%@x')).toBe(true);
    expect(like(globToLike('100%'), '1000@x')).toBe(false);
  });

  it('escapes the escape character itself', () => {
    expect(globToLike('a\\b')).toBe('%a\\\\b%');
    expect(like(globToLike('a\\b'), 'a\\b')).toBe(true);
    expect(like(globToLike('a\\%'), 'a\\x')).toBe(false);
  });

  it('keeps other characters as they are', () => {
    expect(globToLike('alice@pbx.local')).toBe('%alice@pbx.local%');
    expect(globToLike('+47')).toBe('%+47%');
  });

  it('matches everything for an empty search', () => {
    expect(globToLike('')).toBe('%%');
    expect(like(globToLike(''), '')).toBe(true);
  });
});
