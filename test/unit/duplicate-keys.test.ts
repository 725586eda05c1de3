import { firstDuplicateKey } from '../../src/http/duplicate-keys';

describe('firstDuplicateKey', () => {
  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{ "user" : "x" , "b": [1, {"user": 2}], "user":"y"}', 'user'],
    ['{"\\u0061":1,"a":2}', 'a'],
    ['{"a\\"b":1,"a\\"b":2}', 'a"b'],
  ])('finds the top-level member given twice in %s', (text, name) => {
    expect(firstDuplicateKey(text)).toBe(name);
  });

  it.each([
    ['{"a":1,"b":2}'],
    ['{"a":{"x":1,"x":2}}'],
    ['{"a":[{"x":1},{"x":2}]}'],
    ['{"a":"a","b":"a"}'],
    ['{"a":"{\\"a\\":1}","b":1}'],
    ['[1,2]'],
    ['{}'],
  ])('finds none in %s', (text) => {
    expect(firstDuplicateKey(text)).toBeUndefined();
  });
});
