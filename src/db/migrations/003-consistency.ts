import type { Migration } from './index';

// CONTRACT section 7: MySQL's record is the whole truth for an extension the gateway manages.
// - users.forward_policy: what the gateway last set on the PBX (JSON of the PBX's four keys);
//   NULL while unknown (users made before this migration, until their next change or pbx/sync).
// - pbx_extensions: one row per extension number the gateway has worked on. Its row lock
//   serialises every change of one extension across gateways (a row, unlike GET_LOCK, also holds
//   on a Galera cluster), and in_doubt_since marks an extension whose two stores may disagree
//   until a gateway repairs it.
// - audit_log.request_id: the commit marker a lost COMMIT answer is settled by.
export const consistency: Migration = {
  name: '003-consistency',
  statements: [
    'ALTER TABLE users ADD COLUMN IF NOT EXISTS forward_policy VARCHAR(512) NULL',
    `CREATE TABLE IF NOT EXISTS pbx_extensions (
       number VARCHAR(15) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
       in_doubt_since TIMESTAMP(3) NULL,
       reason VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
       KEY pbx_extensions_in_doubt (in_doubt_since)
     ) ENGINE=InnoDB`,
    'ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS request_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL',
    'CREATE UNIQUE INDEX IF NOT EXISTS audit_request ON audit_log (request_id)',
  ],
};
