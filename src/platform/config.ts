import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';

/** Every setting of the service. `loadConfig` is the only reader of process.env. */
export interface Config {
  env: 'production' | 'development' | 'test';
  host: string;
  port: number;
  /** mysql://… for MySQL/MariaDB; undefined selects the embedded SQLite database. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolMax: number;
  /** How long one statement waits for a row lock (MySQL innodb_lock_wait_timeout, SQLite busy_timeout). */
  dbLockWaitTimeoutSeconds: number;
  /** How long a request waits for a pooled connection. */
  dbAcquireTimeoutMs: number;
  /** A request not answered by then is answered 503 BUSY. */
  requestTimeoutMs: number;
  migrateOnStart: boolean;
  jwtSecret: string | undefined;
  jwtLifetimeSeconds: number;
  defaultCapacityBytes: number;
  selfRegistration: boolean;
  selfRegistrationMaxBytes: number;
  /** Longest key, in code points (MAX_KEY_LENGTH, up to 512). */
  maxKeyChars: number;
  maxValueBytes: number;
  maxMetadataBytes: number;
  maxValueDepth: number;
  maxBatchItems: number;
  maxBatchBytes: number;
  maxBatchItemBytes: number;
  maxBodyBytes: number;
  /** Previous versions new tenants keep per key (0: no history). */
  historyDepth: number;
  changeRetentionSeconds: number;
  changeMaxRows: number;
  changePollMs: number;
  maxWatchersPerTenant: number;
  purgeIntervalSeconds: number;
  purgeChunkRows: number;
  webConcurrency: number;
  /** V8 old-space cap of each worker, in MB. */
  workerHeapMb: number;
  shutdownTimeoutSeconds: number;
  logLevel: string;
  adminApiKeys: string[];
  /** How often each instance polls for suspensions and revocations; 0 reads the database on every request. */
  authCacheSeconds: number;
  /** Maintenance: this instance refuses every tenant write with 503 and does not purge. */
  readOnly: boolean;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function nonEmpty(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** The folder that holds package.json and swagger.yaml, from src/ and from dist/src/ alike. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'swagger.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new ConfigError('swagger.yaml not found above ' + __dirname);
    dir = parent;
  }
  return dir;
}

export const GIB = 1024 * 1024 * 1024;
const MAX_KEY_CHARS = 512;
export const MAX_HISTORY_DEPTH = 100;

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const nodeEnv = env.NODE_ENV === 'production' || env.NODE_ENV === 'test' ? env.NODE_ENV : 'development';
  const databaseUrl = nonEmpty(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^(mysql|mariadb):\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with mysql:// (MySQL 8 or MariaDB 10.6+)');
  }
  const defaultCapacityBytes = integer(env, 'DEFAULT_CAPACITY_BYTES', GIB, 1);
  const maxBatchBytes = integer(env, 'MAX_BATCH_BYTES', 4 * 1024 * 1024, 1);
  const config: Config = {
    env: nodeEnv,
    host: nonEmpty(env, 'HOST') ?? '0.0.0.0',
    port: integer(env, 'PORT', 8080),
    databaseUrl,
    dataDir: path.resolve(nonEmpty(env, 'DATA_DIR') ?? './data'),
    dbPoolMax: integer(env, 'DB_POOL_MAX', 10, 1),
    dbLockWaitTimeoutSeconds: integer(env, 'DB_LOCK_WAIT_TIMEOUT_SECONDS', 3, 1),
    dbAcquireTimeoutMs: integer(env, 'DB_ACQUIRE_TIMEOUT_MS', 3000, 100),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 10_000, 100),
    migrateOnStart: boolean(env, 'MIGRATE_ON_START', true),
    jwtSecret: nonEmpty(env, 'JWT_SECRET_KEY'),
    jwtLifetimeSeconds: integer(env, 'JWT_LIFETIME_SECONDS', 3600, 1),
    defaultCapacityBytes,
    selfRegistration: boolean(env, 'SELF_REGISTRATION', true),
    selfRegistrationMaxBytes: integer(env, 'SELF_REGISTRATION_MAX_BYTES', defaultCapacityBytes, 1),
    maxKeyChars: integer(env, 'MAX_KEY_LENGTH', 32, 1),
    maxValueBytes: integer(env, 'MAX_VALUE_BYTES', 16384, 1),
    maxMetadataBytes: integer(env, 'MAX_METADATA_BYTES', 1024, 2),
    maxValueDepth: 100,
    maxBatchItems: integer(env, 'MAX_BATCH_ITEMS', 10000, 1),
    maxBatchBytes,
    maxBatchItemBytes: integer(env, 'MAX_BATCH_ITEM_BYTES', maxBatchBytes, 1),
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 8 * 1024 * 1024, 1024),
    historyDepth: integer(env, 'HISTORY_DEPTH', 0, 0),
    changeRetentionSeconds: integer(env, 'CHANGE_RETENTION_SECONDS', 3600, 1),
    changeMaxRows: integer(env, 'CHANGE_MAX_ROWS', 1_000_000, 1),
    changePollMs: integer(env, 'CHANGE_POLL_MS', 100, 10),
    maxWatchersPerTenant: integer(env, 'MAX_WATCHERS_PER_TENANT', 10, 1),
    purgeIntervalSeconds: integer(env, 'PURGE_INTERVAL_SECONDS', 60, 1),
    purgeChunkRows: integer(env, 'PURGE_CHUNK_ROWS', 1000, 1),
    webConcurrency: integer(env, 'WEB_CONCURRENCY', databaseUrl ? os.availableParallelism() : 1, 1),
    workerHeapMb: integer(env, 'WORKER_HEAP_MB', 128, 32),
    shutdownTimeoutSeconds: integer(env, 'SHUTDOWN_TIMEOUT_SECONDS', 10, 1),
    logLevel: nonEmpty(env, 'LOG_LEVEL') ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    adminApiKeys: (env.ADMIN_API_KEYS ?? '')
      .split(',')
      .map((key) => key.trim())
      .filter((key) => key !== ''),
    authCacheSeconds: integer(env, 'AUTH_CACHE_SECONDS', 2, 0),
    readOnly: boolean(env, 'READ_ONLY', false),
    ...overrides,
  };
  if (config.adminApiKeys.some((key) => key.length < 16)) {
    throw new ConfigError('every key in ADMIN_API_KEYS must be at least 16 characters long');
  }
  if (config.databaseUrl !== undefined && config.dbPoolMax < 2) {
    // The in-process purge holds one connection for its named lock while it works on another.
    throw new ConfigError('DB_POOL_MAX must be at least 2 with MySQL/MariaDB');
  }
  if (config.databaseUrl === undefined && config.webConcurrency > 1) {
    throw new ConfigError('WEB_CONCURRENCY must be 1 with the embedded SQLite database (set DATABASE_URL for more)');
  }
  if (config.historyDepth > MAX_HISTORY_DEPTH) {
    throw new ConfigError(`HISTORY_DEPTH may be at most ${MAX_HISTORY_DEPTH} versions per key`);
  }
  if (config.maxKeyChars > MAX_KEY_CHARS) {
    // The key column and its index hold 512 code points of 4-byte UTF-8 (2048 bytes).
    throw new ConfigError(`MAX_KEY_LENGTH may be at most ${MAX_KEY_CHARS} code points`);
  }
  if (config.authCacheSeconds > 4) {
    throw new ConfigError('AUTH_CACHE_SECONDS must be at most 4: a suspension must reach every instance within 5 s');
  }
  return config;
}

export function isEmbedded(config: Config): boolean {
  return config.databaseUrl === undefined;
}
