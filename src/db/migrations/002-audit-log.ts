import type { Migration } from './index';

// Every change and every refused change (CONTRACT section 5, audit/list). `subject` is the user
// (or alias destination) the request was about, for audit/list?user=.
export const auditLog: Migration = {
  name: '002-audit-log',
  statements: [
    `CREATE TABLE audit_log (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       time TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
       token VARCHAR(64) NULL,
       node VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       params TEXT NOT NULL,
       response VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       cause VARCHAR(64) NULL,
       duration_ms DOUBLE NOT NULL,
       subject VARCHAR(318) CHARACTER SET ascii COLLATE ascii_bin NULL,
       KEY audit_subject (subject, id)
     ) ENGINE=InnoDB`,
  ],
};
