import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { Authenticator, tokenDigest } from '../../src/http/auth';
import { Gatekeeper } from '../../src/http/gatekeeper';
import { LongWorkGate } from '../../src/http/long-work';
import { createLogger } from '../../src/logger';

const TOKEN = 'tok-Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E';
const quiet = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));

function requestFrom(address: string, token?: string): IncomingMessage {
  return { socket: { remoteAddress: address }, headers: token ? { authorization: `Bearer ${token}` } : {} } as unknown as IncomingMessage;
}

function gatekeeper(overrides: Partial<ConstructorParameters<typeof Gatekeeper>[0]> = {}): Gatekeeper {
  return new Gatekeeper({
    authenticator: new Authenticator([{ name: 'desk', token: TOKEN, scope: 'read' }]),
    logger: quiet,
    maxInFlight: 32,
    unauthenticatedPerMinute: 60,
    ratePerMinute: 0,
    ...overrides,
  });
}

describe('Gatekeeper', () => {
  it('admits a token with 32 requests in flight, refuses the 33rd with 429, and admits again once one ends', () => {
    const gate = gatekeeper();
    const admitted = Array.from({ length: 32 }, () => gate.admit(requestFrom('10.0.0.1', TOKEN)));
    expect(admitted.every((admission) => admission.refusal === null && admission.client?.name === 'desk')).toBe(true);
    const refused = gate.admit(requestFrom('10.0.0.1', TOKEN));
    expect(refused.refusal).toMatchObject({ status: 429, cause: 'rate', headers: ['Retry-After', '1'] });
    admitted[0].release();
    admitted[0].release(); // a second release counts once
    expect(gate.admit(requestFrom('10.0.0.1', TOKEN)).refusal).toBeNull();
    expect(gate.admit(requestFrom('10.0.0.1', TOKEN)).refusal?.status).toBe(429);
  });

  it('admits any number of requests one after another (no per-minute limit by default)', () => {
    const gate = gatekeeper();
    let refused = 0;
    for (let index = 0; index < 10_000; index += 1) {
      const admission = gate.admit(requestFrom('10.0.0.1', TOKEN));
      if (admission.refusal) refused += 1;
      admission.release();
    }
    expect(refused).toBe(0);
  });

  it('answers unknown tokens 401, then 429 past 60 a minute per address; other addresses and the valid token are untouched', () => {
    const gate = gatekeeper();
    for (let index = 0; index < 60; index += 1) expect(gate.admit(requestFrom('10.0.0.2', `guess-${index}`)).refusal?.status).toBe(401);
    expect(gate.admit(requestFrom('10.0.0.2')).refusal?.status).toBe(429);
    expect(gate.admit(requestFrom('10.0.0.3', 'guess')).refusal?.status).toBe(401);
    expect(gate.admit(requestFrom('10.0.0.2', TOKEN)).refusal).toBeNull();
  });

  it('counts an IPv6 client by its /56, so new addresses from one network do not reset the count', () => {
    const gate = gatekeeper({ unauthenticatedPerMinute: 2 });
    expect(gate.admit(requestFrom('2001:db8:0:1::1')).refusal?.status).toBe(401);
    expect(gate.admit(requestFrom('2001:db8:0:2::1')).refusal?.status).toBe(401);
    expect(gate.admit(requestFrom('2001:db8:0:3::1')).refusal?.status).toBe(429);
  });

  it("applies a token's own rate_per_minute", () => {
    const authenticator = new Authenticator([]);

    authenticator.replaceIssued([{ name: 'slow', digest: tokenDigest('slow-token'), scope: 'read', expires: null, ratePerMinute: 2 }]);
    const gate = gatekeeper({ authenticator });
    const statuses = [1, 2, 3].map(() => {
      const admission = gate.admit(requestFrom('10.0.0.1', 'slow-token'));
      admission.release();
      return admission.refusal?.status ?? 200;
    });
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('LongWorkGate', () => {
  it('lets `slots` in at once, the next in arrival order as each leaves, and refuses one that waited too long', async () => {
    const gate = new LongWorkGate(2, 200);
    const first = await gate.enter();
    const second = await gate.enter();
    const order: number[] = [];
    const third = gate.enter().then((leave) => (order.push(3), leave));
    const fourth = gate.enter().then((leave) => (order.push(4), leave));
    first();
    second();
    (await third)();
    (await fourth)();
    expect(order).toEqual([3, 4]);
    const a = await gate.enter();
    await gate.enter();
    await expect(gate.enter()).rejects.toMatchObject({ cause: 'db' });
    a();
    await expect(gate.enter()).resolves.toEqual(expect.any(Function));
  });
});
