import type { Migration } from './index';

// CONTRACT section 5, user/permissions: group memberships in the sense of Kamailio's group module.
// - user_permissions: one row per name a user holds. The key (user_id, name) makes a grant
//   idempotent; `id` is only there for the view's `id` column. The rows go with their user (ON
//   DELETE CASCADE), whichever path removes it.
// - grp: a view with exactly the columns the group module reads (group-create.sql of Kamailio 5.6),
//   so a proxy's `is_user_in()` queries the gateway's rows and sees a change on its next check.
// - version: Kamailio's table as its standard-create.sql makes it; the group module refuses to
//   start unless it holds (grp, 2). An existing one (a database shared with Kamailio) is kept.
export const permissions: Migration = {
  name: '007-permissions',
  statements: [
    `CREATE TABLE IF NOT EXISTS user_permissions (
       user_id BIGINT UNSIGNED NOT NULL,
       name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       id INT UNSIGNED NOT NULL AUTO_INCREMENT,
       last_modified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
       PRIMARY KEY (user_id, name),
       UNIQUE KEY user_permissions_id (id),
       CONSTRAINT user_permissions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
     ) ENGINE=InnoDB`,
    `CREATE OR REPLACE VIEW grp AS
       SELECT user_permissions.id AS id,
              users.username AS username,
              users.domain AS domain,
              user_permissions.name AS grp,
              CAST(user_permissions.last_modified AS DATETIME) AS last_modified
         FROM user_permissions
         JOIN users ON users.id = user_permissions.user_id`,
    `CREATE TABLE IF NOT EXISTS version (
       id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
       table_name VARCHAR(32) NOT NULL,
       table_version INT UNSIGNED DEFAULT 0 NOT NULL,
       CONSTRAINT table_name_idx UNIQUE (table_name)
     ) ENGINE=InnoDB`,
    "INSERT IGNORE INTO version (table_name, table_version) VALUES ('version', 1), ('grp', 2)",
  ],
};
