import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/config';
import { shownPath, writeStartToken } from '../../src/start-token';

// START_TOKEN_FILE: written with mode 0600 whatever was there before, in a directory made 0700.

let directory: string;

beforeEach(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-token-'));
});

afterEach(() => {
  fs.chmodSync(directory, 0o700);
  fs.rmSync(directory, { recursive: true, force: true });
});

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('writeStartToken', () => {
  it('makes the missing directory with mode 0700 and the file with mode 0600', () => {
    const file = path.join(directory, 'secrets', 'start-token');
    const token = writeStartToken(file);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${token}\n`);
    expect(mode(file)).toBe(0o600);
    expect(mode(path.dirname(file))).toBe(0o700);
  });

  it('replaces what a previous start left, a file readable by others included, and leaves no temporary file', () => {
    const file = path.join(directory, 'start-token');
    fs.writeFileSync(file, 'old-token\n', { mode: 0o644 });
    const token = writeStartToken(file);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${token}\n`);
    expect(mode(file)).toBe(0o600);
    expect(fs.readdirSync(directory)).toEqual(['start-token']);
  });

  it('replaces a symlink at the path rather than writing through it', () => {
    const elsewhere = path.join(directory, 'elsewhere');
    fs.writeFileSync(elsewhere, 'untouched\n', { mode: 0o644 });
    const file = path.join(directory, 'start-token');
    fs.symlinkSync(elsewhere, file);
    writeStartToken(file);
    expect(fs.readFileSync(elsewhere, 'utf8')).toBe('untouched\n');
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(false);
    expect(mode(file)).toBe(0o600);
  });

  it('makes a new token each time', () => {
    const file = path.join(directory, 'start-token');
    expect(writeStartToken(file)).not.toBe(writeStartToken(file));
  });

  it('stops with one line naming START_TOKEN_FILE when it cannot write', () => {
    // root writes anywhere: a path under a regular file fails for everyone.
    const blocker = path.join(directory, 'not-a-directory');
    fs.writeFileSync(blocker, '');
    const run = () => writeStartToken(path.join(blocker, 'start-token'));
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/^START_TOKEN_FILE: cannot write the start token to .* \((ENOTDIR|EEXIST)\)/);
  });
});

describe('shownPath', () => {
  it('shows a path under the working directory relative to it, others absolute', () => {
    expect(shownPath('secrets/start-token')).toBe(path.join('secrets', 'start-token'));
    expect(shownPath(path.join(process.cwd(), 'secrets', 'start-token'))).toBe(path.join('secrets', 'start-token'));
    expect(shownPath('/run/pbxgw/start-token')).toBe('/run/pbxgw/start-token');
  });
});
