import path from 'node:path';
import { ConfigError, GIB, isEmbedded, loadConfig, projectRoot } from '../../../src/platform/config';

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  it('has the documented limits', () => {
    expect(config).toMatchObject({
      defaultCapacityBytes: GIB,
      selfRegistration: true,
      selfRegistrationMaxBytes: GIB,
      maxKeyChars: 32,
      maxValueBytes: 16384,
      maxValueDepth: 100,
      maxBatchItems: 10000,
      maxBatchBytes: 4194304,
      maxBatchItemBytes: 4194304,
      maxBodyBytes: 8 * 1024 * 1024,
      jwtLifetimeSeconds: 3600,
      purgeIntervalSeconds: 60,
      purgeChunkRows: 1000,
      port: 8080,
      host: '0.0.0.0',
      env: 'development',
      migrateOnStart: true,
      adminApiKeys: [],
    });
    expect(GIB).toBe(1073741824);
  });

  it('selects the embedded SQLite database, one worker, without DATABASE_URL', () => {
    expect(config.databaseUrl).toBeUndefined();
    expect(isEmbedded(config)).toBe(true);
    expect(config.webConcurrency).toBe(1);
    expect(config.dataDir).toBe(path.resolve('./data'));
  });

  it('is silent under NODE_ENV=test and info otherwise', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).logLevel).toBe('silent');
    expect(config.logLevel).toBe('info');
    expect(loadConfig({ NODE_ENV: 'staging' }).env).toBe('development');
    expect(loadConfig({ NODE_ENV: 'production' }).env).toBe('production');
  });

  it('finds the project root (the folder holding swagger.yaml)', () => {
    expect(projectRoot()).toBe(path.resolve(__dirname, '../../..'));
  });
});

describe('loadConfig from the environment', () => {
  it('derives the self-registration cap from the default capacity, and the batch item limit from the batch limit', () => {
    const config = loadConfig({ DEFAULT_CAPACITY_BYTES: '5000', MAX_BATCH_BYTES: '7000' });
    expect(config.defaultCapacityBytes).toBe(5000);
    expect(config.selfRegistrationMaxBytes).toBe(5000);
    expect(config.maxBatchBytes).toBe(7000);
    expect(config.maxBatchItemBytes).toBe(7000);
  });

  it('reads explicit values', () => {
    const config = loadConfig({
      SELF_REGISTRATION_MAX_BYTES: '123',
      MAX_BATCH_ITEM_BYTES: '99',
      MAX_BATCH_ITEMS: '5',
      MAX_VALUE_BYTES: '1000',
      PURGE_INTERVAL_SECONDS: '17',
      DATABASE_URL: 'mariadb://u:p@db:3307/kv',
      ADMIN_API_KEYS: ' 0123456789abcdef , fedcba9876543210 ,',
      PORT: ' 9090 ',
    });
    expect(config).toMatchObject({
      selfRegistrationMaxBytes: 123,
      maxBatchItemBytes: 99,
      maxBatchItems: 5,
      maxValueBytes: 1000,
      purgeIntervalSeconds: 17,
      databaseUrl: 'mariadb://u:p@db:3307/kv',
      adminApiKeys: ['0123456789abcdef', 'fedcba9876543210'],
      port: 9090,
    });
    expect(isEmbedded(config)).toBe(false);
  });

  it.each([
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['no', false],
    ['off', false],
    ['true', true],
    ['1', true],
    ['yes', true],
    [' On ', true],
  ])('reads SELF_REGISTRATION=%j as %j', (raw, expected) => {
    expect(loadConfig({ SELF_REGISTRATION: raw }).selfRegistration).toBe(expected);
  });

  it('treats empty and blank values as unset', () => {
    const config = loadConfig({
      DEFAULT_CAPACITY_BYTES: '',
      SELF_REGISTRATION: '  ',
      DATABASE_URL: ' ',
      LOG_LEVEL: '',
    });
    expect(config.defaultCapacityBytes).toBe(GIB);
    expect(config.selfRegistration).toBe(true);
    expect(config.databaseUrl).toBeUndefined();
  });

  it('polls for access changes every 2 s by default, at most every 4 s, or never with 0', () => {
    expect(loadConfig({}).authCacheSeconds).toBe(2);
    expect(loadConfig({ AUTH_CACHE_SECONDS: '4' }).authCacheSeconds).toBe(4);
    expect(loadConfig({ AUTH_CACHE_SECONDS: '0' }).authCacheSeconds).toBe(0);
  });

  it('allows several workers only with MySQL, where it defaults to one per CPU', () => {
    expect(loadConfig({ WEB_CONCURRENCY: '1' }).webConcurrency).toBe(1);
    const mysql = loadConfig({ DATABASE_URL: 'mysql://db/kv' });
    expect(mysql.webConcurrency).toBeGreaterThanOrEqual(1);
    expect(loadConfig({ DATABASE_URL: 'mysql://db/kv', WEB_CONCURRENCY: '8' }).webConcurrency).toBe(8);
  });

  it('needs a pool of at least two connections with MySQL (the purge holds one for its lock)', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://db/kv', DB_POOL_MAX: '1' })).toThrow(ConfigError);
    expect(loadConfig({ DATABASE_URL: 'mysql://db/kv', DB_POOL_MAX: '2' }).dbPoolMax).toBe(2);
    expect(loadConfig({ DB_POOL_MAX: '1' }).dbPoolMax).toBe(1);
  });

  it('lets overrides win over the environment', () => {
    expect(loadConfig({ MAX_VALUE_BYTES: '10' }, { maxValueBytes: 20 }).maxValueBytes).toBe(20);
  });
});

describe('loadConfig refuses invalid values with a ConfigError', () => {
  it.each([
    ['DEFAULT_CAPACITY_BYTES', 'abc'],
    ['DEFAULT_CAPACITY_BYTES', '0'],
    ['DEFAULT_CAPACITY_BYTES', '-1'],
    ['DEFAULT_CAPACITY_BYTES', '1.5'],
    ['DEFAULT_CAPACITY_BYTES', '99999999999999999999'],
    ['SELF_REGISTRATION_MAX_BYTES', '0'],
    ['MAX_BATCH_ITEMS', '0'],
    ['MAX_BATCH_BYTES', 'many'],
    ['MAX_VALUE_BYTES', '-5'],
    ['MAX_BODY_BYTES', '1023'],
    ['PORT', '-1'],
    ['PORT', '80a'],
    ['JWT_LIFETIME_SECONDS', '0'],
    ['PURGE_INTERVAL_SECONDS', '0'],
    ['AUTH_CACHE_SECONDS', '5'],
    ['AUTH_CACHE_SECONDS', '6'],
    ['WEB_CONCURRENCY', '2'],
    ['WEB_CONCURRENCY', '0'],
    ['AUTH_CACHE_SECONDS', '-1'],
    ['SELF_REGISTRATION', 'maybe'],
    ['MIGRATE_ON_START', '2'],
    ['DATABASE_URL', 'postgres://localhost/db'],
    ['DATABASE_URL', 'sqlite:///tmp/x'],
    ['ADMIN_API_KEYS', 'short'],
    ['ADMIN_API_KEYS', '0123456789abcdef,tooshort'],
  ])('%s=%j', (name, raw) => {
    expect(() => loadConfig({ [name]: raw })).toThrow(ConfigError);
  });

  it('names the variable in the message', () => {
    expect(() => loadConfig({ MAX_BATCH_ITEMS: 'x' })).toThrow(/MAX_BATCH_ITEMS/);
  });
});
