/**
 * The baselines that bound each service scenario, measured with no HTTP and no service code: mysql2 running the
 * service's own SQL (imported from src/, never copied) on the same schema, and a bare Express server in a child
 * process loaded exactly like the service's GET.
 */
import mysql from 'mysql2';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { LEDGER_SQL } from '../src/features/quota';
import { OBJECTS_SQL, PROCEDURE_SQL, procedureCondition } from '../src/features/objects';
import { prefixRange } from '../src/platform/db/prefix-range';
import { insertSql } from '../src/platform/db/dialect/mysql';
import { databaseUrl, log, mysqlOptions, type BenchDatabase, type Settings } from './common';
import { request } from './http';
import { benchItself, runLoad, runLoops, runSerial, type Measurement } from './load';
import { startBareExpress } from './processes';
import {
  batchGetBody,
  batchItems,
  getRequest,
  listPrefix,
  preloadKey,
  randomHit,
  randomMiss,
  type Fixture,
  type PathFor,
} from './workload';

// ---- the service's SQL ----------------------------------------------------------------------------------

const FOR_UPDATE = ' FOR UPDATE';
const LOCK_TENANT = LEDGER_SQL.lockLive + FOR_UPDATE;
const OBJECT_COLUMNS = ['tenant_id', 'k', 'value', 'metadata', 'size', 'expires_at', 'version', 'written_at'];
/** The outbox row every write records (features/changes ChangesRepository.append). */
const CHANGE_COLUMNS = [
  'tenant_id',
  'revision',
  'seq',
  'type',
  'k',
  'size',
  'expires_at',
  'metadata',
  'value',
  'created_at',
];

const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** src/platform/db/database.ts: BEGIN … COMMIT on one pooled connection, retried on deadlock like the service. */
async function inTransaction<T>(pool: Pool, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const conn = await pool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      const result = await work(conn);
      await conn.query('COMMIT');
      return result;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      const code = (err as { code?: string }).code;
      if (attempt >= 10 || !code || !RETRYABLE.has(code)) throw err;
    } finally {
      conn.release();
    }
  }
}

function allows(row: RowDataPacket, delta: number): boolean {
  return delta <= 0 || Number(row.utilised) + delta <= Number(row.provisioned);
}

/**
 * The service's single-object write on MySQL: one call of the write procedure (features/objects/write-strategies),
 * with no precondition or, `ifExists`, with If-Match: *.
 */
async function callPut(pool: Pool, tenantId: number, key: string, valueJson: string, ifExists = false): Promise<void> {
  const [kind, versions] = procedureCondition(ifExists ? { kind: 'exists' } : undefined);
  const now = Math.floor(Date.now() / 1000);
  const [results] = await pool.query<RowDataPacket[][]>(PROCEDURE_SQL.put, [
    ...[tenantId, key, valueJson, null, Buffer.byteLength(valueJson), null],
    ...[now, kind, versions],
  ]);
  if (!Number(results[0][0].ok)) throw new Error(`procedure refused ${tenantId}/${key}`);
}

/** The write pipeline's single write as plain statements: one transaction per write, no procedure. */
async function writeOne(pool: Pool, tenantId: number, key: string, valueJson: string): Promise<void> {
  const size = Buffer.byteLength(valueJson);
  await inTransaction(pool, async (conn) => {
    const [tenants] = await conn.query<RowDataPacket[]>(LOCK_TENANT, [tenantId]);
    if (!tenants[0]) throw new Error(`no tenant ${tenantId}`);
    const [found] = await conn.query<RowDataPacket[]>(OBJECTS_SQL.lockKeys(1, FOR_UPDATE), [tenantId, key]);
    const oldSize = found[0] ? Number(found[0].size) : null;
    const delta = size - (oldSize ?? 0);
    if (!allows(tenants[0], delta)) throw new Error('quota exceeded');
    const version = Number(tenants[0].revision) + 1;
    const nowMs = Date.now();
    if (oldSize !== null)
      await conn.query(OBJECTS_SQL.updateOne, [valueJson, null, size, null, version, nowMs, tenantId, key]);
    else await conn.query(OBJECTS_SQL.insertOne, [tenantId, key, valueJson, null, size, null, version, nowMs]);
    await conn.execute(insertSql('changes', CHANGE_COLUMNS, 1), [
      ...[tenantId, version, 0, 'put', key, size, null, null, valueJson, nowMs],
    ]);
    await conn.query(LEDGER_SQL.advance, [delta, 0, oldSize === null ? 1 : 0, 1, tenantId]);
  });
}

/** The write pipeline's batch: lock, read the old rows, decide, one multi-row upsert, move the ledger. */
async function writeMany(pool: Pool, tenantId: number, items: { key: string; valueJson: string }[]): Promise<void> {
  const keys = items.map((i) => i.key);
  const sizes = items.map((i) => Buffer.byteLength(i.valueJson));
  const upsert = insertSql('objects', OBJECT_COLUMNS, items.length, [
    'value',
    'metadata',
    'size',
    'expires_at',
    'version',
    'written_at',
  ]);
  await inTransaction(pool, async (conn) => {
    const [locked] = await conn.query<RowDataPacket[]>(LOCK_TENANT, [tenantId]);
    if (!locked[0]) throw new Error(`no tenant ${tenantId}`);
    const version = Number(locked[0].revision) + 1;
    const nowMs = Date.now();
    const params = items.flatMap((item, i) => [
      tenantId,
      item.key,
      item.valueJson,
      null,
      sizes[i],
      null,
      version,
      nowMs,
    ]);
    const [found] = await conn.query<RowDataPacket[]>(OBJECTS_SQL.lockKeys(keys.length, FOR_UPDATE), [
      tenantId,
      ...keys,
    ]);
    const existing = new Map(found.map((r) => [Buffer.from(r.k as Buffer).toString('utf8'), Number(r.size)]));
    let delta = 0;
    let objects = 0;
    items.forEach((item, i) => {
      const old = existing.get(item.key);
      delta += sizes[i] - (old ?? 0);
      if (old === undefined) objects++;
    });
    if (!allows(locked[0], delta)) throw new Error('quota exceeded');
    // Prepared, as the service sends it (src/platform/db/dialect/mysql.ts insert): values as binary parameters.
    await conn.execute<ResultSetHeader>(upsert, params);
    await conn.execute(
      insertSql('changes', CHANGE_COLUMNS, items.length),
      items.flatMap((item, i) => [tenantId, version, i, 'put', item.key, sizes[i], null, null, item.valueJson, nowMs]),
    );
    await conn.query(LEDGER_SQL.advance, [delta, 0, objects, 1, tenantId]);
  });
}

// ---- the baselines --------------------------------------------------------------------------------------

export const BASELINE_POOL_SIZE = 20;
/** The bare server's pool: the service's per-process default (DB_POOL_MAX=10). */
const BARE_POOL_SIZE = 10;

export async function runBaselines(
  database: BenchDatabase,
  fixture: Fixture,
  settings: Settings,
  root: string,
): Promise<Measurement[]> {
  const core = mysql.createPool(mysqlOptions(database.serverUrl, database.name, BASELINE_POOL_SIZE));
  core.on('connection', (conn) => {
    // The service's session setting (src/db/dialect.ts afterCreate).
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', () => undefined);
  });
  const pool = core.promise();
  const timing = {
    subject: benchItself,
    concurrency: BASELINE_POOL_SIZE,
    durationS: settings.durationS,
    warmupS: settings.warmupS,
  };
  const smallJson = JSON.stringify(fixture.smallValue);
  const results: Measurement[] = [];
  const tag = Math.random().toString(36).slice(2, 6);
  try {
    log('baseline: mysql2 point select');
    results.push(
      await runLoops({
        id: 'raw-select',
        label: 'mysql2 point select',
        ...timing,
        op: async () => {
          const { tenant, key } = randomHit(fixture);
          const [rows] = await pool.query<RowDataPacket[]>(OBJECTS_SQL.get, [tenant.id, key]);
          if (rows.length !== 1) throw new Error(`point select: ${tenant.id}/${key} not found`);
        },
      }),
    );
    log('baseline: mysql2 write procedure, 100 tenants (create)');
    results.push(
      await runLoops({
        id: 'raw-write-100',
        label: 'mysql2 write procedure, 100 tenants (create)',
        ...timing,
        op: (_loop, n) => callPut(pool, fixture.tenants[n % fixture.tenants.length].id, `r${tag}-${n}`, smallJson),
      }),
    );
    log('baseline: mysql2 write procedure, 1 tenant (overwrite)');
    results.push(
      await runLoops({
        id: 'raw-write-1',
        label: 'mysql2 write procedure, 1 tenant (overwrite)',
        ...timing,
        op: async () => {
          const key = preloadKey(Math.floor(Math.random() * fixture.keysPerTenant));
          await callPut(pool, fixture.hotTenant.id, key, smallJson);
        },
      }),
    );
    log('baseline: mysql2 write procedure with If-Match: *, 100 tenants (overwrite)');
    results.push(
      await runLoops({
        id: 'raw-write-if-match',
        label: 'mysql2 write procedure, If-Match: *, 100 tenants',
        ...timing,
        op: async () => {
          const { tenant, key } = randomHit(fixture);
          await callPut(pool, tenant.id, key, smallJson, true);
        },
      }),
    );
    log('baseline: mysql2 range query of 1000 keys');
    results.push(
      await runLoops({
        id: 'raw-list-1000',
        label: `mysql2 range query, 1000 keys of ${fixture.bigTenantKeys}`,
        ...timing,
        op: async () => {
          const range = prefixRange(listPrefix(fixture.bigTenantKeys));
          const now = Math.floor(Date.now() / 1000);
          const [rows] = await pool.query<RowDataPacket[]>(OBJECTS_SQL.list(range, undefined, false), [
            ...[fixture.bigTenant.id, range.from, range.to, now, 1001],
          ]);
          if (rows.length !== 1001) throw new Error(`range query: ${rows.length} rows`);
        },
      }),
    );
    log('baseline: mysql2 IN query of 100 keys');
    results.push(
      await runLoops({
        id: 'raw-batch-get-100',
        label: 'mysql2 IN query, 100 keys',
        ...timing,
        op: async () => {
          const { keys } = batchGetBody(fixture, 100);
          const tenant = fixture.tenants[Math.floor(Math.random() * fixture.tenants.length)];
          const [rows] = await pool.query<RowDataPacket[]>(OBJECTS_SQL.getMany(keys.length), [tenant.id, ...keys]);
          if (rows.length !== 100) throw new Error(`IN query: ${rows.length} rows`);
        },
      }),
    );
    log('baseline: mysql2 write transaction, 1 tenant (overwrite)');
    results.push(
      await runLoops({
        id: 'raw-tx-1',
        label: 'mysql2 write tx, 1 tenant (overwrite)',
        ...timing,
        op: async () => {
          const key = preloadKey(Math.floor(Math.random() * fixture.keysPerTenant));
          await writeOne(pool, fixture.hotTenant.id, key, smallJson);
        },
      }),
    );
    log('baseline: mysql2 4 MB batch transaction');
    results.push(
      await runSerial({
        id: 'raw-batch',
        label: `mysql2 4 MB batch tx (${settings.batchItems} rows)`,
        runs: settings.batchRuns,
        expect: [],
        subject: benchItself,
        prepare: async (run) => {
          const items = batchItems(`rb${tag}-${run}-`, settings.batchItems, settings.batchItemBytes).map((i) => ({
            key: i.key,
            valueJson: JSON.stringify(i.value),
          }));
          return async () => {
            await writeMany(pool, fixture.batchTenant.id, items);
            return undefined;
          };
        },
      }),
    );
  } finally {
    await pool.end();
  }

  const bare = await startBareExpress(root, {
    BARE_DATABASE_URL: databaseUrl(database),
    BARE_POOL_SIZE: String(BARE_POOL_SIZE),
  });
  try {
    const probe = randomHit(fixture);
    const answer = await request('GET', `${bare.url}/bare/object/${probe.tenant.id}/${probe.key}`);
    if (answer.status !== 200) throw new Error(`bare Express point select: ${answer.status} ${answer.body}`);
    const bareLoad = (id: string, label: string, pathFor: PathFor, miss: boolean, expect: number[], url = bare.url) => {
      log(`baseline: ${label}`);
      return runLoad({
        id,
        label,
        url,
        subject: () => [bare.pid],
        connections: settings.connections,
        durationS: settings.durationS,
        warmupS: settings.warmupS,
        setupRequest: getRequest(fixture, pathFor, miss ? randomMiss : randomHit),
        expect,
      });
    };
    const helloPath: PathFor = (tenant, key) => `/bare/hello/${tenant.id}/${encodeURIComponent(key)}`;
    const selectPath: PathFor = (tenant, key) => `/bare/object/${tenant.id}/${encodeURIComponent(key)}`;
    results.push(
      await bareLoad('bare-http-hello', 'bare node:http hello world', helloPath, false, [200], bare.httpUrl),
    );
    results.push(await bareLoad('bare-hello', 'bare Express hello world', helloPath, false, [200]));
    results.push(await bareLoad('bare-select', 'bare Express + point select', selectPath, false, [200]));
    results.push(await bareLoad('bare-select-miss', 'bare Express + point select (miss)', selectPath, true, [404]));
  } finally {
    await bare.stop();
  }
  return results;
}
