import type { Migration } from './index';

// CONTRACT section 9, secrets at rest (docs/decisions/007):
// - users.secret: the user's password sealed under the key in SECRETS_KEY_FILE (src/secrets/).
//   users.password is the old clear column: a password may look like anything, so whether a value
//   is sealed is told by the column it is in, never guessed from its text. The start seals what
//   is still in `password` and leaves it NULL; the index finds those rows without a scan.
// - secrets_check: one row (id 1) holding a known text sealed under the key the database was
//   sealed with, so that every start, even with no users yet, learns whether its key is that one.
//   Its row lock also serialises the start-up sealing and a rotation. The start inserts the row.
export const secrets: Migration = {
  name: '004-secrets',
  statements: [
    'ALTER TABLE users ADD COLUMN IF NOT EXISTS secret VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER password',
    'CREATE INDEX IF NOT EXISTS users_clear_password ON users (password)',
    `CREATE TABLE IF NOT EXISTS secrets_check (
       id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
       sealed VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
       updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
     ) ENGINE=InnoDB`,
  ],
};
