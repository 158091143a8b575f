import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SslOptions } from 'mysql2';
import { ConfigError, loadConfig } from '../../../src/platform/config';
import { mysqlDialect } from '../../../src/platform/db/dialect/mysql';
import { describeWithPrograms, makeCertificates, type Certificates } from '../../support/tls-mariadb';

/** The TLS settings as loadConfig reads them, and the mysql2 options the dialect makes of them. */
const URL = 'mysql://app@db.example.com:3306/tenantkv';

describeWithPrograms('openssl')('TLS settings', () => {
  let dir: string;
  let certs: Certificates;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-tls-config-'));
    certs = makeCertificates(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const refused = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('loadConfig accepted the settings');
  };
  const ssl = (env: Record<string, string>): SslOptions | undefined =>
    (mysqlDialect.knexConfig(loadConfig(env)).connection as { ssl?: SslOptions }).ssl;

  it('reads ssl-mode from DATABASE_URL in any case; none means DISABLED, and SQLite has none', () => {
    expect(loadConfig({ DATABASE_URL: URL }).dbTls).toEqual({ mode: 'DISABLED', ca: undefined, client: undefined });
    expect(loadConfig({ DATABASE_URL: `${URL}?ssl-mode=verify_identity` }).dbTls.mode).toBe('VERIFY_IDENTITY');
    expect(loadConfig({ DATABASE_URL: `${URL}?ssl-mode=Preferred` }).dbTls.mode).toBe('PREFERRED');
    expect(loadConfig({}).dbTls.mode).toBe('DISABLED');
    // A URL given in code (as the tests give theirs) is read the same way.
    expect(loadConfig({}, { databaseUrl: `${URL}?ssl-mode=REQUIRED` }).dbTls.mode).toBe('REQUIRED');
  });

  it('refuses an unknown ssl-mode, naming the value', () => {
    expect(refused({ DATABASE_URL: `${URL}?ssl-mode=require` })).toBe(
      'DATABASE_URL: unknown ssl-mode "require" (one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)',
    );
  });

  it('reads the files at start, and names the setting and the path of one it cannot read', () => {
    const config = loadConfig({
      DATABASE_URL: `${URL}?ssl-mode=VERIFY_CA`,
      DB_SSL_CA: certs.ca,
      DB_SSL_CERT: certs.client.cert,
      DB_SSL_KEY: certs.client.key,
    });
    expect(config.dbTls.ca).toEqual({ setting: 'DB_SSL_CA', path: certs.ca, content: fs.readFileSync(certs.ca) });
    expect(config.dbTls.client?.key.content).toEqual(fs.readFileSync(certs.client.key));
    const missing = path.join(dir, 'missing.pem');
    expect(refused({ DATABASE_URL: `${URL}?ssl-mode=VERIFY_CA`, DB_SSL_CA: missing })).toMatch(
      new RegExp(`^DB_SSL_CA=${missing} cannot be read: ENOENT`),
    );
    expect(refused({ TLS_CERT_FILE: missing, TLS_KEY_FILE: certs.server.key })).toMatch(
      new RegExp(`^TLS_CERT_FILE=${missing} cannot be read`),
    );
  });

  it('refuses files that are not what they should be', () => {
    expect(refused({ DATABASE_URL: `${URL}?ssl-mode=VERIFY_CA`, DB_SSL_CA: certs.server.key })).toBe(
      `DB_SSL_CA=${certs.server.key} holds no PEM certificate`,
    );
    expect(refused({ TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.client.key })).toMatch(
      /^TLS_CERT_FILE=.* and TLS_KEY_FILE=.* must be a PEM certificate and its private key: .*key values mismatch/,
    );
  });

  it('takes a certificate and its key together or not at all', () => {
    expect(refused({ TLS_CERT_FILE: certs.server.cert })).toBe(
      'TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither',
    );
    expect(refused({ DATABASE_URL: `${URL}?ssl-mode=REQUIRED`, DB_SSL_KEY: certs.client.key })).toBe(
      'DB_SSL_CERT and DB_SSL_KEY go together: set both or neither',
    );
    const https = loadConfig({ TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.server.key }).https;
    expect(https?.cert.path).toBe(certs.server.cert);
    expect(loadConfig({}).https).toBeUndefined();
  });

  it('refuses files that the ssl-mode would ignore', () => {
    expect(refused({ DATABASE_URL: URL, DB_SSL_CA: certs.ca })).toMatch(
      /^DB_SSL_CA is set but the database connection is not encrypted: add \?ssl-mode=VERIFY_IDENTITY/,
    );
    expect(refused({ DATABASE_URL: URL, DB_SSL_CERT: certs.client.cert, DB_SSL_KEY: certs.client.key })).toMatch(
      /^DB_SSL_CERT is set but the database connection is not encrypted/,
    );
    expect(refused({ DATABASE_URL: `${URL}?ssl-mode=REQUIRED`, DB_SSL_CA: certs.ca })).toBe(
      'DB_SSL_CA is only used to verify the server, which ssl-mode=REQUIRED does not: use ssl-mode=VERIFY_CA or VERIFY_IDENTITY',
    );
  });

  it('refuses VERIFY_IDENTITY with an IP address, which the driver would compare with "localhost"', () => {
    expect(refused({ DATABASE_URL: 'mysql://app@127.0.0.1:3306/t?ssl-mode=VERIFY_IDENTITY' })).toMatch(
      /^ssl-mode=VERIFY_IDENTITY needs the database's host name in DATABASE_URL, not the address 127\.0\.0\.1/,
    );
    expect(refused({ DATABASE_URL: 'mysql://app@[::1]:3306/t?ssl-mode=VERIFY_IDENTITY' })).toMatch(/\[::1\]/);
    expect(loadConfig({ DATABASE_URL: 'mysql://app@127.0.0.1:3306/t?ssl-mode=VERIFY_CA' }).dbTls.mode).toBe(
      'VERIFY_CA',
    );
  });

  it('maps each ssl-mode to mysql2 as MySQL means it', () => {
    expect(ssl({ DATABASE_URL: URL })).toBeUndefined();
    expect(ssl({ DATABASE_URL: `${URL}?ssl-mode=REQUIRED` })).toMatchObject({
      rejectUnauthorized: false,
      verifyIdentity: false,
    });
    const ca = fs.readFileSync(certs.ca);
    expect(ssl({ DATABASE_URL: `${URL}?ssl-mode=VERIFY_CA`, DB_SSL_CA: certs.ca })).toMatchObject({
      ca,
      rejectUnauthorized: true,
      verifyIdentity: false,
    });
    expect(
      ssl({
        DATABASE_URL: `${URL}?ssl-mode=VERIFY_IDENTITY`,
        DB_SSL_CA: certs.ca,
        DB_SSL_CERT: certs.client.cert,
        DB_SSL_KEY: certs.client.key,
      }),
    ).toEqual({
      ca,
      cert: fs.readFileSync(certs.client.cert),
      key: fs.readFileSync(certs.client.key),
      rejectUnauthorized: true,
      verifyIdentity: true,
    });
    // PREFERRED asks the server first, when the pool opens its first connection.
    expect(typeof mysqlDialect.knexConfig(loadConfig({ DATABASE_URL: `${URL}?ssl-mode=PREFERRED` })).connection).toBe(
      'function',
    );
  });
});
