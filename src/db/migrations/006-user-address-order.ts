import type { Migration } from './index';

// CONTRACT section 5, Paging: user/list is ordered by the address as written, username@domain
// (binary), which is not the order of (username, domain): 'a1@x' comes before 'a@x' because '1'
// sorts before '@'. A page is read as `address > ?` in that order, so the address gets a stored
// column and an index of its own; without them every page would sort the whole table.
export const userAddressOrder: Migration = {
  name: '006-user-address-order',
  statements: [
    "ALTER TABLE users ADD COLUMN IF NOT EXISTS address VARCHAR(318) CHARACTER SET ascii COLLATE ascii_bin AS (CONCAT(username, '@', domain)) PERSISTENT",
    'CREATE INDEX IF NOT EXISTS users_address_order ON users (address)',
  ],
};
