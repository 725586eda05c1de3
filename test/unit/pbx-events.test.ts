import { Writable } from 'node:stream';
import { ConfigError, validateConfig } from '../../src/config';
import { hasCredentials, readEventCall } from '../../src/http/pbx-events-endpoint';
import { createLogger } from '../../src/logger';
import { PbxEvents } from '../../src/nodes/pbx/pbx-events';
import type { ExtensionContext, ExtensionOutcome } from '../../src/nodes/pbx/sync-service';

// POST /pbx/events without a database: how a call is read, how the work is bounded, and the settings.

const quiet = () => createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));

/** A SyncService stand-in whose reconciles end when the test says so. */
function heldSync() {
  const started: string[] = [];
  const waiting: (() => void)[] = [];
  return {
    started,
    release: () => waiting.splice(0).forEach((resume) => resume()),
    sync: {
      reconcileExtension: async (_domain: string, number: string, _context?: ExtensionContext): Promise<ExtensionOutcome> => {
        started.push(number);
        await new Promise<void>((resume) => waiting.push(resume));
        return 'unchanged';
      },
    },
  };
}

function events(sync: ReturnType<typeof heldSync>['sync'], limits: { concurrency: number; maxPending: number }): PbxEvents {
  return new PbxEvents({ sync, domains: { isLocal: async () => true }, audit: { write: async () => 0 }, logger: quiet(), domain: 'pbx.local', ...limits });
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('PbxEvents', () => {
  it('reconciles at most `concurrency` extensions at once, each number once however many events name it', async () => {
    const held = heldSync();
    const queue = events(held.sync, { concurrency: 2, maxPending: 10 });

    expect(['11', '12', '13', '13', '12'].map((number) => queue.notice('ExtenAdded', number))).toEqual(['queued', 'queued', 'queued', 'queued already', 'queued']);
    await settle();
    expect(held.started).toEqual(['11', '12']);
    held.release();
    await settle();
    await settle();
    // 12 was named again while it ran: it runs once more, after 13.
    expect(held.started).toEqual(['11', '12', '13', '12']);
    held.release();
    await queue.idle();
  });

  it('drops events past the bound of waiting extensions, and all of them at stop', async () => {
    const held = heldSync();
    const queue = events(held.sync, { concurrency: 1, maxPending: 2 });

    expect(['21', '22', '23', '24'].map((number) => queue.notice('ExtenRemoved', number))).toEqual(['queued', 'queued', 'queued', 'dropped']);
    await settle();
    const stopping = queue.stop();
    expect(queue.notice('ExtenAdded', '25')).toBe('dropped');
    held.release();
    await stopping;
    expect(held.started).toEqual(['21']);
  });
});

describe('reading a call', () => {
  it.each([
    [{ event_name: 'ExtenAdded', exten: '1001' }, { kind: 'extension', event: 'ExtenAdded', number: '1001' }],
    [{ event_name: 'ExtenRemoved', number: '1002' }, { kind: 'extension', event: 'ExtenRemoved', number: '1002' }],
    [{ event_name: 'ExtenRemoved', exten: 1003 }, { kind: 'extension', event: 'ExtenRemoved', number: '1003' }],
    [{ event_name: 'NewState', exten: '1001' }, { kind: 'ignored', why: expect.any(String) }],
    [{ event_name: 'ExtenAdded', exten: '1' }, { kind: 'ignored', why: expect.any(String) }],
    [{ event_name: 'ExtenAdded' }, { kind: 'invalid', cause: 'exten', detail: expect.any(String) }],
    [{ exten: '1001' }, { kind: 'invalid', cause: 'event_name', detail: expect.any(String) }],
    [['ExtenAdded'], { kind: 'invalid', cause: 'body', detail: expect.any(String) }],
    ['ExtenAdded', { kind: 'invalid', cause: 'body', detail: expect.any(String) }],
  ])('reads %j', (body, expected) => {
    expect(readEventCall(body)).toEqual(expected);
  });

  it('takes exactly the configured Basic credentials', () => {
    const expected = { username: 'simotel', password: 'p:ss word' };
    const basic = (text: string) => ({ authorization: `Basic ${Buffer.from(text).toString('base64')}` });
    expect(hasCredentials(basic('simotel:p:ss word'), expected)).toBe(true);
    expect(hasCredentials(basic('simotel:p:ss wor'), expected)).toBe(false);
    expect(hasCredentials(basic('Simotel:p:ss word'), expected)).toBe(false);
    expect(hasCredentials(basic('simotel'), expected)).toBe(false);
    expect(hasCredentials({}, expected)).toBe(false);
    expect(hasCredentials({ authorization: 'Bearer p:ss word' }, expected)).toBe(false);
  });
});

describe('PBX_EVENTS_* settings', () => {
  const strong = 'Jx8vQ2mL7pZr4Wn9Tb3Kc6Hd1Fg5Sa0E';
  const base = {
    host: '127.0.0.1',
    port: 0,
    mysqlUrl: 'mysql://root@127.0.0.1:3306/pbxgw',
    mysqlPoolSize: 10,
    localDomains: ['pbx.local', 'other.local'],
    logLevel: 'info',
    numbersMaxRange: 1000,
    authDisabled: true,
    apiTokens: [],
    pbx: { url: '', apiKey: '', username: '', password: '', timeoutMs: 1000 },
  };

  it('leaves the endpoint off by default', () => {
    expect(validateConfig(base).pbxEvents).toEqual({ username: '', password: '', domain: '' });
  });

  it('takes the first local domain unless PBX_EVENTS_DOMAIN is set', () => {
    expect(validateConfig({ ...base, pbxEvents: { username: 'simotel', password: strong } }).pbxEvents.domain).toBe('pbx.local');
    expect(validateConfig({ ...base, pbxEvents: { username: 'simotel', password: strong, domain: 'Other.Local' } }).pbxEvents.domain).toBe('other.local');
  });

  it.each([
    [{ username: 'simotel' }, /^PBX_EVENTS_PASSWORD: required/],
    [{ password: strong }, /^PBX_EVENTS_USERNAME: required/],
    [{ username: 'simotel', password: 'short-password' }, /^PBX_EVENTS_PASSWORD: too weak/],
    [{ username: 'sim:otel', password: strong }, /^PBX_EVENTS_USERNAME /],
    [{ username: 'simotel', password: strong, domain: 'not a domain' }, /^PBX_EVENTS_DOMAIN /],
  ])('stops the start for %j', (pbxEvents, message) => {
    expect(() => validateConfig({ ...base, pbxEvents })).toThrow(ConfigError);
    expect(() => validateConfig({ ...base, pbxEvents })).toThrow(message);
  });

  it('needs PBX_EVENTS_DOMAIN without LOCAL_DOMAINS, and never shows the password', () => {
    expect(() => validateConfig({ ...base, localDomains: [], pbxEvents: { username: 'simotel', password: strong } })).toThrow(/^PBX_EVENTS_DOMAIN: required/);
    try {
      validateConfig({ ...base, pbxEvents: { username: 'simotel', password: `${strong} x` } });
    } catch (error) {
      expect((error as Error).message).toMatch(/^PBX_EVENTS_PASSWORD /);
      expect((error as Error).message).not.toContain(strong);
    }
  });
});
