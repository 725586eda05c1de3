import type { Migration } from './index';

// Uniqueness lives in the schema so that concurrent requests cannot race past a check (CONTRACT section 7).
export const initialSchema: Migration = {
  name: '001-initial-schema',
  statements: [
    `CREATE TABLE domains (
       domain VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
       local TINYINT(1) NOT NULL DEFAULT 0,
       registrar VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
       proxy VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
       r_port INT UNSIGNED NOT NULL DEFAULT 5060,
       p_port INT UNSIGNED NOT NULL DEFAULT 5060
     ) ENGINE=InnoDB`,
    // Every SIP address in use, by a user or by an alias: one primary key makes the two exclusive.
    `CREATE TABLE addresses (
       username VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       domain VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       owner ENUM('user', 'alias') NOT NULL,
       PRIMARY KEY (username, domain)
     ) ENGINE=InnoDB`,
    `CREATE TABLE users (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       username VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       domain VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       kind ENUM('local', 'remote') NOT NULL,
       displayname VARCHAR(128) NOT NULL DEFAULT '',
       email VARCHAR(254) NOT NULL DEFAULT '',
       dialplan VARCHAR(255) NOT NULL DEFAULT '',
       linetext VARCHAR(64) NOT NULL DEFAULT '',
       password VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
       registrar VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NULL,
       r_port INT UNSIGNED NULL,
       proxy VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NULL,
       p_port INT UNSIGNED NULL,
       authid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
       created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
       updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
       UNIQUE KEY users_address (username, domain),
       KEY users_domain (domain),
       CONSTRAINT users_claim FOREIGN KEY (username, domain) REFERENCES addresses (username, domain)
     ) ENGINE=InnoDB`,
    `CREATE TABLE phones (
       mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       user_id BIGINT UNSIGNED NOT NULL,
       PRIMARY KEY (mac, user_id),
       KEY phones_user (user_id),
       CONSTRAINT phones_user FOREIGN KEY (user_id) REFERENCES users (id)
     ) ENGINE=InnoDB`,
    // e164 is 1 for an E.164 alias and NULL otherwise: NULLs never collide, so the unique key
    // allows any number of plain aliases but one E.164 alias per destination.
    `CREATE TABLE aliases (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       alias_username VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       alias_domain VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       destination_username VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       destination_domain VARCHAR(253) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       destination_user_id BIGINT UNSIGNED NULL,
       e164 TINYINT(1) NULL,
       UNIQUE KEY aliases_alias (alias_username, alias_domain),
       UNIQUE KEY aliases_one_e164 (destination_username, destination_domain, e164),
       KEY aliases_destination_user (destination_user_id),
       CONSTRAINT aliases_claim FOREIGN KEY (alias_username, alias_domain) REFERENCES addresses (username, domain),
       CONSTRAINT aliases_destination_user FOREIGN KEY (destination_user_id) REFERENCES users (id)
     ) ENGINE=InnoDB`,
    // number is the E.164 digits as an integer (the primary key gives ascending numeric order);
    // seq is dense and append-only, so a random pick is a seek on it (see numbers-store.ts).
    `CREATE TABLE numbers (
       number BIGINT UNSIGNED NOT NULL PRIMARY KEY,
       seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
       KEY numbers_seq (seq)
     ) ENGINE=InnoDB`,
  ],
};
