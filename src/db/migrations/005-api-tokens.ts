import type { Migration } from './index';

// CONTRACT section 5, tokens/*: tokens made at run time, kept as SHA-256 digests (a dump reveals no
// usable token), and when each token (from API_TOKENS too) was last used. Times are UTC DATETIMEs:
// an expiry may lie past 2038, where TIMESTAMP ends.
export const apiTokens: Migration = {
  name: '005-api-tokens',
  statements: [
    `CREATE TABLE IF NOT EXISTS api_tokens (
       name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
       digest CHAR(43) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       scope ENUM('read', 'write', 'admin') NOT NULL,
       created_at DATETIME(3) NOT NULL,
       expires_at DATETIME(3) NULL,
       rate_per_minute INT UNSIGNED NULL,
       UNIQUE KEY api_tokens_digest (digest)
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS token_use (
       name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
       last_used DATETIME(3) NOT NULL
     ) ENGINE=InnoDB`,
  ],
};
