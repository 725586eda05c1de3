import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer } from '../../http/answer-schemas';
import type { SyncService } from './sync-service';

export function pbxNodes(sync: SyncService): NodeDefinition[] {
  return [
    defineNode<{ domain: string; dry_run?: boolean; prune?: boolean }>({
      path: 'pbx/sync',
      longWork: true,
      scope: 'admin',
      summary: 'Reconciles a local domain with the extensions on the PBX.',
      description:
        'Extensions without a provisioning record are imported as local users (password unknown: later updates leave secret out); ' +
        'provisioning records whose name or e-mail differ take the PBX values; local users whose extension is gone are listed, ' +
        'and removed with prune=true (unless hardphones or aliases point at them). Running it twice changes nothing the second time.',
      params: {
        domain: param.domain().required(),
        dry_run: param.dryRun(),
        prune: param.flag('true: remove local users whose extension is gone from the PBX.'),
      },
      answers: {
        imported: answer.sipAddresses('Addresses imported from the PBX.'),
        updated: answer.sipAddresses('Addresses whose name or e-mail were taken from the PBX.'),
        missing_on_pbx: answer.sipAddresses('Local users whose extension is not on the PBX.'),
        pruned: answer.sipAddresses('Of those, the ones removed.'),
        dry_run: answer.dryRun,
      },
      failures: { domain: 'the domain is not local', pbx: 'the PBX refused' },
      handle: async ({ domain, dry_run: dryRun = false, prune = false }, { audit }) => {
        const report = await sync.sync(domain, { dryRun, prune, audit });
        return { ...report, ...(dryRun ? { dry_run: true } : {}) };
      },
    }),
  ];
}
