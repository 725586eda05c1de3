import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { migrate, MigrationFailed } from '../../src/db/migrate';
import { migrations } from '../../src/db/migrations';
import { MYSQL_SERVER } from '../helpers/gateway';

// Several gateways starting at once on one database (CONTRACT section 11): one migrates under the
// schema_lock row, the others wait until nothing is pending; no GET_LOCK, nothing left half-done.
describe('migrations under the schema_lock row', () => {
  const database = `pbxgw_migrate_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const pools: mysql.Pool[] = [];
  let admin: mysql.Connection;

  const newPool = () => {
    const pool = mysql.createPool({ uri: `${MYSQL_SERVER}/${database}`, connectionLimit: 3 });
    pools.push(pool);
    return pool;
  };
  const names = async () => ((await admin.query(`SELECT name FROM \`${database}\`.schema_migrations ORDER BY name`))[0] as { name: string }[]).map((row) => row.name);

  beforeAll(async () => {
    admin = await mysql.createConnection(MYSQL_SERVER);
  });
  beforeEach(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.query(`CREATE DATABASE \`${database}\``);
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  });

  it('five gateways migrating a fresh database at once: every one succeeds, each migration applied once, the lock free', async () => {
    const applied = await Promise.all(Array.from({ length: 5 }, () => migrate(newPool())));
    // One of them applied everything, the others found nothing pending.
    expect(applied.map((list) => list.length).sort((a, b) => b - a)).toEqual([migrations.length, 0, 0, 0, 0]);
    expect(await names()).toEqual(migrations.map((migration) => migration.name).sort());
    const [lock] = (await admin.query(`SELECT holder FROM \`${database}\`.schema_lock`)) as [{ holder: string | null }[], unknown];
    expect(lock).toEqual([{ holder: null }]);
  });

  it('takes over the lock of a gateway that died while migrating, and finishes its migration', async () => {
    const pool = newPool();
    await migrate(pool);
    // As if a holder died half-way through the last migration: its lease ran out, its record is missing.
    const last = migrations[migrations.length - 1].name;
    await admin.query(`DELETE FROM \`${database}\`.schema_migrations WHERE name = ?`, [last]);
    await admin.query(`UPDATE \`${database}\`.schema_lock SET holder = ?, until = CURRENT_TIMESTAMP(3) - INTERVAL 1 SECOND`, [randomUUID()]);
    expect(await migrate(newPool())).toEqual([last]);
    expect(await names()).toContain(last);
  });

  it('waits for a live holder, then finds nothing pending', async () => {
    const pool = newPool();
    await migrate(pool);
    const last = migrations[migrations.length - 1].name;
    await admin.query(`DELETE FROM \`${database}\`.schema_migrations WHERE name = ?`, [last]);
    const holder = randomUUID();
    await admin.query(`UPDATE \`${database}\`.schema_lock SET holder = ?, until = CURRENT_TIMESTAMP(3) + INTERVAL 30 SECOND`, [holder]);
    const waiting = migrate(newPool());
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(settled).toBe(false);
    // The holder finishes: records the migration and lets go.
    await admin.query(`INSERT INTO \`${database}\`.schema_migrations (name) VALUES (?)`, [last]);
    await admin.query(`UPDATE \`${database}\`.schema_lock SET holder = NULL, until = NULL WHERE holder = ?`, [holder]);
    expect(await waiting).toEqual([]);
  });

  it('names the migration that the database refused, instead of blaming the connection', async () => {
    const pool = newPool();
    await migrate(pool);
    const failing = migrations.find((migration) => migration.name === '007-permissions');
    expect(failing).toBeDefined();
    // A real table named grp stops 007 (its view cannot replace a table).
    await admin.query(`DELETE FROM \`${database}\`.schema_migrations WHERE name = '007-permissions'`);
    await admin.query(`DROP VIEW IF EXISTS \`${database}\`.grp`);
    await admin.query(`CREATE TABLE \`${database}\`.grp (id INT PRIMARY KEY)`);
    const error = await migrate(newPool()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationFailed);
    expect((error as Error).message).toMatch(/^migration 007-permissions failed \(ER_/);
  });
});
