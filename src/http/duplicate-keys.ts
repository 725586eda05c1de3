import type { IncomingMessage } from 'node:http';

// JSON.parse keeps the last of two members with one name; a client that sends `user` twice meant
// something, and which one wins should not be a guess. The JSON parser's `verify` hook scans the
// raw body for a top-level name given twice, and the registry refuses it as `invalid` (that name).

const DUPLICATE = Symbol('duplicate JSON member');

type Marked = IncomingMessage & { [DUPLICATE]?: string };

/** The first top-level member name `text` (a JSON object) gives twice, or undefined. */
export function firstDuplicateKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (char === '"') {
      const start = index;
      for (index += 1; index < text.length && text[index] !== '"'; index += 1) if (text[index] === '\\') index += 1;
      if (depth !== 1) continue;
      let after = index + 1;
      while (after < text.length && ' \t\r\n'.includes(text[after])) after += 1;
      if (text[after] !== ':') continue;
      let name: string;
      try {
        name = JSON.parse(text.slice(start, index + 1)) as string;
      } catch {
        return undefined; // not JSON: the parser refuses it
      }
      if (seen.has(name)) return name;
      seen.add(name);
    } else if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
  }
  return undefined;
}

/** For express.json's `verify`: notes a duplicate top-level member on the request. */
export function noteDuplicateKeys(request: IncomingMessage, _response: unknown, body: Buffer, encoding: string): void {
  const duplicate = firstDuplicateKey(body.toString((encoding || 'utf8') as BufferEncoding));
  if (duplicate !== undefined) (request as Marked)[DUPLICATE] = duplicate;
}

/** The duplicate member noted on the request, if any. */
export function duplicateKeyOf(request: IncomingMessage): string | undefined {
  return (request as Marked)[DUPLICATE];
}
