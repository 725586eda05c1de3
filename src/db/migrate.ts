import { Umzug, type UmzugStorage } from 'umzug';
import type { Pool } from './pool';
import { migrations } from './migrations';
import type { Logger } from '../logger';

const LOCK_NAME = 'pbx-gateway-migrate';
const LOCK_WAIT_SECONDS = 60;

function tableStorage(pool: Pool): UmzugStorage {
  return {
    async executed() {
      const [rows] = await pool.query('SELECT name FROM schema_migrations ORDER BY name');
      return (rows as { name: string }[]).map((row) => row.name);
    },
    async logMigration({ name }) {
      await pool.execute('INSERT INTO schema_migrations (name) VALUES (?)', [name]);
    },
    async unlogMigration({ name }) {
      await pool.execute('DELETE FROM schema_migrations WHERE name = ?', [name]);
    },
  };
}

/**
 * Applies the pending migrations. A named lock keeps two gateways starting at once
 * from migrating the same database together.
 */
export async function migrate(pool: Pool, logger?: Logger): Promise<string[]> {
  const connection = await pool.getConnection();
  try {
    const [locked] = await connection.query('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_WAIT_SECONDS]);
    if ((locked as { got: number }[])[0].got !== 1) throw new Error('could not take the migration lock');
    try {
      await connection.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           name VARCHAR(128) NOT NULL PRIMARY KEY,
           applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
         ) ENGINE=InnoDB`,
      );
      const umzug = new Umzug({
        migrations: migrations.map((migration) => ({
          name: migration.name,
          up: async () => {
            for (const statement of migration.statements) await connection.query(statement);
          },
        })),
        storage: tableStorage(pool),
        logger: undefined,
      });
      const applied = await umzug.up();
      for (const { name } of applied) logger?.info('migration applied', { migration: name });
      return applied.map(({ name }) => name);
    } finally {
      await connection.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    connection.release();
  }
}
