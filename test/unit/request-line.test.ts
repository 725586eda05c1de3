import { Writable } from 'node:stream';
import { createLogger, type RequestLine } from '../../src/logger';

function logged(level: string, lines: RequestLine[]): string[] {
  const written: string[] = [];
  const logger = createLogger(level, new Writable({ write: (chunk, _encoding, done) => done(void written.push(String(chunk))) }));
  for (const line of lines) logger.request(line);
  return written;
}

const LINE: RequestLine = {
  request_id: '6f1c2e8a-7d1b-4c55-9a0e-3b2f4d5c6e7f',
  node: 'user/get',
  method: 'GET',
  client: 'helpdesk',
  address: '127.0.0.1',
  outcome: 'ok',
  cause: undefined,
  status: 200,
  duration_ms: 1.25,
};

describe('the request line', () => {
  it('is the JSON line winston would write: level, message, the fields, an ISO timestamp', () => {
    const before = Date.now();
    const [text] = logged('info', [LINE]);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['level', 'message', 'request_id', 'node', 'method', 'client', 'address', 'outcome', 'status', 'duration_ms', 'timestamp']);
    const { cause: _absent, ...given } = LINE;
    expect(parsed).toEqual({ level: 'info', message: 'request', ...given, timestamp: expect.any(String) });
    const time = Date.parse(String(parsed.timestamp));
    expect(new Date(time).toISOString()).toBe(parsed.timestamp);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });

  it('quotes what a client chooses, so a hostile path or parameter name cannot forge a field', () => {
    const node = 'x","level":"error\u2028\n';
    const cause = 'a"b\\';
    const [text] = logged('info', [{ ...LINE, node, cause, client: undefined }]);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.slice(0, -1)).not.toContain('\n');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed).toMatchObject({ level: 'info', node, cause });
    expect(parsed).not.toHaveProperty('client');
  });

  it('is not written below level info', () => {
    expect(logged('warn', [LINE])).toEqual([]);
    expect(logged('debug', [LINE])).toHaveLength(1);
  });
});
