import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import mysql, { type PoolOptions } from 'mysql2/promise';

/** What one `make bench` run does: durations, load shape and data set. QUICK and PROFILE only change these. */
export interface Settings {
  quick: boolean;
  profile: boolean;
  /** Measured seconds of each load scenario, and the discarded warm-up before it. */
  durationS: number;
  warmupS: number;
  connections: number;
  highConnections: number;
  tenants: number;
  keysPerTenant: number;
  /** Keys of the one big tenant the listing scenario lists from. */
  bigTenantKeys: number;
  /** Size of every small value as compact JSON, in bytes. */
  valueBytes: number;
  batchRuns: number;
  batchItems: number;
  batchItemBytes: number;
  /** Share of GETs in the mixed scenario. */
  mixReadShare: number;
  /**
   * Objects of batchItemBytes the eventual reads of the full-cache scenario range over: in full mode more than
   * the service's READ_CACHE_MB (default 32 MB) holds, so that the cache is full and evicting.
   */
  cacheSetKeys: number;
  /** The staleness measurement: writes/s through instance A, for this long, while B reads them eventually. */
  stalenessRate: number;
  stalenessS: number;
  /** The WEB_CONCURRENCY values the service scenarios run with, in order. */
  workerCounts: number[];
  defaultWorkers: number;
  /** Full mode: before each measurement, wait up to this long for other work on the machine to settle. */
  quietWaitS: number;
  /** Capacity each bench tenant registers with: the self-registration ceiling (SELF_REGISTRATION_MAX_BYTES). */
  capacityBytes: number;
}

function flag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

export function loadSettings(env: NodeJS.ProcessEnv, cpus: number): Settings {
  const quick = flag(env.QUICK);
  const profile = flag(env.PROFILE);
  const batchItems = 256;
  return {
    quick,
    profile,
    durationS: quick ? 1 : 10,
    warmupS: quick ? 0.3 : 2,
    connections: 20,
    highConnections: 200,
    tenants: 100,
    keysPerTenant: 100,
    bigTenantKeys: quick ? 20_000 : 1_000_000,
    valueBytes: 200,
    batchRuns: quick ? 3 : 10,
    batchItems,
    // 256 × 16384 = 4194304 bytes: exactly MAX_BATCH_BYTES, the largest batch the service accepts.
    batchItemBytes: (4 * 1024 * 1024) / batchItems,
    mixReadShare: 0.9,
    cacheSetKeys: quick ? 256 : 3072,
    stalenessRate: quick ? 200 : 1000,
    stalenessS: quick ? 2 : 10,
    // PROFILE=1 profiles one process, so only WEB_CONCURRENCY=1 runs.
    workerCounts: profile ? [1] : [...new Set([1, cpus])],
    defaultWorkers: cpus,
    quietWaitS: quick ? 0 : 15,
    capacityBytes: 1024 * 1024 * 1024,
  };
}

/** The repository's root, from bench/ under ts-node and from dist-bench/bench/ alike. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(path.join(dir, 'swagger.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

export function randomHex(bytes: number): string {
  return crypto.randomBytes(bytes).toString('hex');
}

/** A string whose compact JSON (quotes included) is exactly `bytes` bytes long: ASCII, nothing to escape. */
export function jsonStringOfBytes(bytes: number, seed = 0): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < bytes - 2; i++) s += alphabet[(i * 7 + seed) % alphabet.length];
  return s;
}

// ---- the database ----------------------------------------------------------------------------------------

/** The bench's database: a server and one database on it, created (and dropped) by the bench unless named. */
export interface BenchDatabase {
  /** mysql://user:password@host:port (no database). */
  serverUrl: string;
  name: string;
  /** True when the bench created the database and so drops it at the end. */
  owned: boolean;
}

export const DEFAULT_BENCH_DATABASE_URL = 'mysql://root@127.0.0.1:3306';

/**
 * BENCH_DATABASE_URL names the server (default: the local MariaDB as root). Without a database in its path the
 * bench creates a fresh `tenantkv_bench_<random>` and drops it at the end; with one, it uses that database as is
 * and leaves it in place.
 */
export function benchDatabase(env: NodeJS.ProcessEnv): BenchDatabase {
  const raw = env.BENCH_DATABASE_URL?.trim() || DEFAULT_BENCH_DATABASE_URL;
  const url = new URL(raw.replace(/^mariadb:/, 'mysql:'));
  const named = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '';
  url.search = '';
  const serverUrl = url.toString().replace(/\/$/, '');
  return named
    ? { serverUrl, name: named, owned: false }
    : { serverUrl, name: `tenantkv_bench_${randomHex(4)}`, owned: true };
}

/**
 * Creates the fresh database the bench owns (BENCH_DATABASE_URL without a database in its path) and resolves to
 * the step that drops it again; a database named in the URL is used as it is, never created or dropped.
 */
export async function createOwnedDatabase(db: BenchDatabase): Promise<() => Promise<void>> {
  const onServer = async (sql: string): Promise<void> => {
    const conn = await mysql.createConnection(mysqlOptions(db.serverUrl, undefined, 1));
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  };
  if (!db.owned) return async () => undefined;
  await onServer(`CREATE DATABASE \`${db.name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  return async () => {
    await onServer(`DROP DATABASE IF EXISTS \`${db.name}\``);
    log(`dropped database ${db.name}`);
  };
}

export function databaseUrl(db: BenchDatabase): string {
  return `${db.serverUrl}/${encodeURIComponent(db.name)}`;
}

/** The mysql2 options the service's knex pool uses (src/db/dialect.ts), for the baselines. */
export function mysqlOptions(serverUrl: string, database: string | undefined, poolSize: number): PoolOptions {
  const url = new URL(serverUrl);
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    charset: 'utf8mb4',
    timezone: 'Z',
    supportBigNumbers: true,
    decimalNumbers: true,
    connectionLimit: poolSize,
    maxIdle: poolSize,
  };
}

// ---- statistics ------------------------------------------------------------------------------------------

/** Nearest-rank percentile of unsorted samples (0 for none). */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return 0;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(samples: number[]): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function log(message: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
