import type { Migration } from './index';

// CONTRACT section 11: nothing rests on locks that a Galera cluster does not hold across nodes.
// - pbx_extensions.claim / claim_until / claim_seq: the claim row that serialises every change of
//   one extension across gateways and database nodes. A claim is a committed write, which the
//   cluster certifies: of two gateways claiming at once on two nodes, one fails (and waits). The
//   holder's transaction writes the row again (claim_seq), so a change whose claim was taken over
//   meanwhile fails at commit instead of overwriting the new holder's work.
export const cluster: Migration = {
  name: '008-cluster',
  statements: [
    `ALTER TABLE pbx_extensions
       ADD COLUMN IF NOT EXISTS claim CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
       ADD COLUMN IF NOT EXISTS claim_until TIMESTAMP(3) NULL,
       ADD COLUMN IF NOT EXISTS claim_seq BIGINT UNSIGNED NOT NULL DEFAULT 0`,
  ],
};
