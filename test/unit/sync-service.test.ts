import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';
import { GatewayError } from '../../src/outcome';
import { SyncService, type SyncServiceDeps } from '../../src/nodes/pbx/sync-service';
import type { PbxClient } from '../../src/pbx/pbx-client';

// The service's own guard: whatever PbxClient it is given, a list that is not a list stops the sync
// before a local user is read, let alone pruned.

it('stops with error/pbx when the PBX client hands it something other than a list, before any user is touched', async () => {
  const touched: string[] = [];
  const users = new Proxy({}, { get: (_target, name) => () => touched.push(String(name)) });
  const domains = { isLocal: async () => true };
  const pbx = { list: async () => null } as unknown as PbxClient;
  const logger = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));
  const service = new SyncService({ users, domains, pbx, logger } as unknown as SyncServiceDeps);

  const failure = await service.sync('pbx.local', { dryRun: false, prune: true }).catch((error: unknown) => error);

  expect(failure).toBeInstanceOf(GatewayError);
  expect(failure).toMatchObject({ cause: 'pbx', detail: 'the PBX answered a list that is not a list' });
  expect(touched).toEqual([]);
});
