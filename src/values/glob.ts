// CONTRACT section 4: a glob ('*' any run, '?' one character), matched anywhere ("pre-post globbed");
// '%' and '_' are literal. Turned into a LIKE pattern with '\' as the escape character.

export function globToLike(glob: string): string {
  let pattern = '%';
  for (const character of glob) {
    if (character === '*') pattern += '%';
    else if (character === '?') pattern += '_';
    else if (character === '%' || character === '_' || character === '\\') pattern += `\\${character}`;
    else pattern += character;
  }
  return `${pattern}%`;
}
