import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';

/** Every setting of the service. `loadConfig` is the only reader of process.env. */
export interface Config {
  env: 'production' | 'development' | 'test';
  host: string;
  port: number;
  /** Port of the unauthenticated /metrics listener (0 picks a free port); undefined: none. */
  metricsPort: number | undefined;
  metricsHost: string;
  /** Per-tenant metric series, one per tenant: off by default for their number. */
  metricsTenantLabels: boolean;
  /** HTTPS for the API (TLS_CERT_FILE and TLS_KEY_FILE); undefined serves plain HTTP. */
  https: KeyPair | undefined;
  /** mysql://… for MySQL/MariaDB; undefined selects the embedded SQLite database. */
  databaseUrl: string | undefined;
  /** TLS to MySQL/MariaDB: the ssl-mode of DATABASE_URL and the files of DB_SSL_CA, DB_SSL_CERT and DB_SSL_KEY. */
  dbTls: DbTls;
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
  /** Point reads that arrive while others are in flight go to the database together, one statement for all. */
  readCoalescing: boolean;
  /** Memory of each process's cache of objects for `consistency=eventual` reads, in MB (0: no cache). */
  readCacheMb: number;
  /** How old an eventual read's answer may be: past it, or when the process cannot tell, the database answers. */
  cacheMaxStalenessMs: number;
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
  /** Origins whose browser scripts may call the API (`*`: any); empty: no CORS answers. */
  corsOrigins: string[];
  /** Requests per second each tenant may make unless an operator set its own (0: unlimited). */
  rateLimitRps: number;
  /** Requests a tenant may make at once; below rateLimitRps counts as rateLimitRps. */
  rateLimitBurst: number;
  /** redis://… to share rate limits and login throttling across instances; undefined keeps them per instance. */
  rateLimitRedisUrl: string | undefined;
  /** What every key this service writes to that Redis starts with. */
  rateLimitRedisPrefix: string;
  /** Failed logins per user name per 15 minutes (ten times as many per client address). */
  loginMaxFailures: number;
}

export class ConfigError extends Error {}

/** `scheme://host[:port]` exactly, as a browser's Origin header has it; no wildcard (the URL parser allows `*`). */
function isOrigin(text: string): boolean {
  try {
    return !text.includes('*') && new URL(text).origin === text;
  } catch {
    return false;
  }
}

/** MySQL's names for how far a connection is encrypted and its server verified (the clients' --ssl-mode). */
export const SSL_MODES = ['DISABLED', 'PREFERRED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** A file a setting names, read at start. */
export interface SettingFile {
  setting: string;
  path: string;
  content: Buffer;
}

/** A PEM certificate and its private key, checked to belong together. */
export interface KeyPair {
  cert: SettingFile;
  key: SettingFile;
}

export interface DbTls {
  /** DISABLED when DATABASE_URL has no ssl-mode. */
  mode: SslMode;
  /** The authority that signed the server's certificate; without it, VERIFY_* trusts Node's public CAs. */
  ca: SettingFile | undefined;
  /** This client's certificate, for a database user created REQUIRE X509 (mutual TLS). */
  client: KeyPair | undefined;
}

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

function settingFile(env: Env, name: string): SettingFile | undefined {
  const file = nonEmpty(env, name);
  if (file === undefined) return undefined;
  try {
    return { setting: name, path: path.resolve(file), content: fs.readFileSync(file) };
  } catch (err) {
    throw new ConfigError(`${name}=${file} cannot be read: ${(err as Error).message}`);
  }
}

/** `names` says which settings, for the message when only one of them is set. */
function keyPair(cert: SettingFile | undefined, key: SettingFile | undefined, names: string): KeyPair | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new ConfigError(`${names} go together: set both or neither`);
  try {
    tls.createSecureContext({ cert: cert.content, key: key.content });
  } catch (err) {
    throw new ConfigError(
      `${cert.setting}=${cert.path} and ${key.setting}=${key.path} must be a PEM certificate and its private key: ` +
        (err as Error).message,
    );
  }
  return { cert, key };
}

function holdsCertificate(file: SettingFile): boolean {
  try {
    new X509Certificate(file.content);
    return true;
  } catch {
    return false;
  }
}

/**
 * The ssl-mode of DATABASE_URL (MySQL's names, in any case) and the files it uses. A file that the mode would
 * ignore is refused: a CA given with a mode that verifies nothing would look like a protection it is not.
 */
function databaseTls(env: Env, databaseUrl: string | undefined): DbTls {
  if (databaseUrl === undefined) return { mode: 'DISABLED', ca: undefined, client: undefined };
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new ConfigError('DATABASE_URL is not a URL (mysql://user:password@host:3306/database)');
  }
  const raw = url.searchParams.get('ssl-mode');
  const mode = raw === null ? 'DISABLED' : SSL_MODES.find((m) => m === raw.trim().toUpperCase());
  if (mode === undefined) {
    throw new ConfigError(`DATABASE_URL: unknown ssl-mode "${raw}" (one of ${SSL_MODES.join(', ')})`);
  }
  const ca = settingFile(env, 'DB_SSL_CA');
  const client = keyPair(settingFile(env, 'DB_SSL_CERT'), settingFile(env, 'DB_SSL_KEY'), 'DB_SSL_CERT and DB_SSL_KEY');
  if (mode === 'DISABLED' && (ca !== undefined || client !== undefined)) {
    throw new ConfigError(
      `${ca ? 'DB_SSL_CA' : 'DB_SSL_CERT'} is set but the database connection is not encrypted: add ` +
        '?ssl-mode=VERIFY_IDENTITY (or VERIFY_CA, REQUIRED) to DATABASE_URL',
    );
  }
  if (ca !== undefined && mode !== 'VERIFY_CA' && mode !== 'VERIFY_IDENTITY') {
    throw new ConfigError(
      `DB_SSL_CA is only used to verify the server, which ssl-mode=${mode} does not: use ssl-mode=VERIFY_CA ` +
        'or VERIFY_IDENTITY',
    );
  }
  if (ca !== undefined && !holdsCertificate(ca)) throw new ConfigError(`DB_SSL_CA=${ca.path} holds no PEM certificate`);
  if (mode === 'VERIFY_IDENTITY' && isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0) {
    // mysql2 compares the certificate with "localhost" when it connects to an IP address (it checks only names).
    throw new ConfigError(
      `ssl-mode=VERIFY_IDENTITY needs the database's host name in DATABASE_URL, not the address ${url.hostname}: ` +
        "use a name that the server's certificate holds, or ssl-mode=VERIFY_CA",
    );
  }
  return { mode, ca, client };
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
    https: keyPair(
      settingFile(env, 'TLS_CERT_FILE'),
      settingFile(env, 'TLS_KEY_FILE'),
      'TLS_CERT_FILE and TLS_KEY_FILE',
    ),
    metricsPort: nonEmpty(env, 'METRICS_PORT') === undefined ? undefined : integer(env, 'METRICS_PORT', 0),
    metricsHost: nonEmpty(env, 'METRICS_HOST') ?? '127.0.0.1',
    metricsTenantLabels: boolean(env, 'METRICS_TENANT_LABELS', false),
    databaseUrl,
    dbTls: databaseTls(env, 'databaseUrl' in overrides ? overrides.databaseUrl : databaseUrl),
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
    readCoalescing: boolean(env, 'READ_COALESCING', true),
    readCacheMb: integer(env, 'READ_CACHE_MB', 32, 0),
    cacheMaxStalenessMs: integer(env, 'CACHE_MAX_STALENESS_MS', 1000, 1),
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
    corsOrigins: (env.CORS_ORIGINS ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ''),
    rateLimitRps: integer(env, 'RATE_LIMIT_RPS', 0, 0),
    rateLimitBurst: integer(env, 'RATE_LIMIT_BURST', 0, 0),
    rateLimitRedisUrl: nonEmpty(env, 'RATE_LIMIT_REDIS_URL'),
    rateLimitRedisPrefix: nonEmpty(env, 'RATE_LIMIT_REDIS_PREFIX') ?? 'tenantkv',
    loginMaxFailures: integer(env, 'LOGIN_MAX_FAILURES', 10, 1),
    ...overrides,
  };
  const notOrigin = config.corsOrigins.find((origin) => origin !== '*' && !isOrigin(origin));
  if (notOrigin !== undefined) {
    // A browser sends its origin exactly (no path, no trailing slash): anything else would never match.
    throw new ConfigError(`CORS_ORIGINS: "${notOrigin}" is not an origin such as https://app.example.com or *`);
  }
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
  if (config.rateLimitRedisUrl !== undefined && !/^rediss?:\/\//.test(config.rateLimitRedisUrl)) {
    throw new ConfigError('RATE_LIMIT_REDIS_URL must start with redis:// (or rediss:// for TLS)');
  }
  if (config.readCacheMb * 2 > config.workerHeapMb) {
    // The cache lives in the worker's heap, beside everything else the worker holds.
    throw new ConfigError(
      `READ_CACHE_MB (${config.readCacheMb}) may be at most half of WORKER_HEAP_MB (${config.workerHeapMb})`,
    );
  }
  if (config.authCacheSeconds > 4) {
    throw new ConfigError('AUTH_CACHE_SECONDS must be at most 4: a suspension must reach every instance within 5 s');
  }
  return config;
}

export function isEmbedded(config: Config): boolean {
  return config.databaseUrl === undefined;
}
