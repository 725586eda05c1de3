import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ReadStream } from 'node:tty';
import { UsageError } from './io';

// `name=-` (CONTRACT section 10): the value is read from standard input, so a password stays out of
// the shell's history and of `ps`. From a terminal it is typed at a prompt on stderr without echo;
// from a pipe or a file it is the next line. Each `-` takes one line, in the order given.

/** Ctrl-C at the prompt: the command stops, nothing is sent (exit 130, as a shell reports SIGINT). */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

export interface ValueReader {
  /** The next value for parameter `name`. */
  read(name: string): Promise<string>;
  /** Lets go of standard input (the process may then end). */
  close(): void;
}

const isTerminal = (stream: Readable): stream is ReadStream => (stream as Partial<ReadStream>).isTTY === true && typeof (stream as Partial<ReadStream>).setRawMode === 'function';

/** One line typed at `prompt` with the terminal's echo off: Enter ends it, Backspace and Ctrl-U edit it, Ctrl-C stops. */
function promptHidden(stdin: ReadStream, stderr: Writable, prompt: string): Promise<string> {
  stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onEnd = () => finish(value === '' ? new UsageError('standard input ended before a value was typed') : undefined);
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish();
        if (character === '\u0003') return finish(new Interrupted('interrupted: nothing was sent'));
        if (character === '\u0004') return onEnd();
        // An arrow or function key: an escape sequence, the rest of this chunk.
        if (character === '\u001b') return;
        if (character === '\u007f' || character === '\b') value = [...value].slice(0, -1).join('');
        else if (character === '\u0015') value = '';
        else if (character >= ' ') value += character;
      }
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
  });
}

export function valueReader(stdin: Readable, stderr: Writable): ValueReader {
  let lines: readline.Interface | null = null;
  let iterator: AsyncIterator<string> | null = null;
  return {
    async read(name) {
      if (isTerminal(stdin)) return promptHidden(stdin, stderr, `${name}: `);
      lines ??= readline.createInterface({ input: stdin, crlfDelay: Infinity, terminal: false });
      iterator ??= lines[Symbol.asyncIterator]();
      const next = await iterator.next();
      if (next.done) throw new UsageError(`${name}=-: standard input ended before a line for it was read`);
      return next.value;
    },
    close() {
      lines?.close();
      stdin.pause();
    },
  };
}
