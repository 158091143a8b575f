import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { ServiceProcess, send, type LogLine } from '../../support/service-process';
import { TlsMariaDb, describeWithPrograms, makeCertificates } from '../../support/tls-mariadb';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { serverConnection } from '../../support/mysql-admin';
import { uniqueName } from '../../support/harness';

/**
 * Encrypted connections, through the real forked service: to a MariaDB that this test starts with certificates it
 * makes, which refuses any TCP connection without TLS (so a service that works against it is encrypted); and
 * HTTPS for the API itself.
 */
const SECRET = 'tls-test-jwt-secret-0123456789abcdef';
const ADMIN_KEY = 'tls-test-admin-key-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

const started: ServiceProcess[] = [];
function start(env: Record<string, string>): ServiceProcess {
  const service = new ServiceProcess({
    JWT_SECRET_KEY: SECRET,
    ADMIN_API_KEYS: ADMIN_KEY,
    WEB_CONCURRENCY: '1',
    ...env,
  });
  started.push(service);
  return service;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

function connectionLine(service: ServiceProcess): Promise<LogLine> {
  return service.waitForLine((l) => l.msg.startsWith('database connection:'));
}
const ENCRYPTED = /^database connection: TLS \(TLSv1\.[23], [A-Z0-9_-]+\)$/;

/** A start that cannot succeed: a non-zero exit, without serving; resolves to the primary's fatal lines. */
async function refusedAtStart(service: ServiceProcess): Promise<LogLine[]> {
  const { code } = await service.exited;
  expect(code).not.toBe(0);
  expect(service.lines.some((l) => l.msg.startsWith('tenantkv listening'))).toBe(false);
  return service.lines.filter((l) => l.level === 60 && l.pid === service.pid);
}

/** Refused for TLS: one fatal line that says why in words, with no error object (no stack) attached. */
async function refusedForTls(service: ServiceProcess): Promise<string> {
  const fatal = await refusedAtStart(service);
  expect(fatal).toHaveLength(1);
  expect(fatal[0]).not.toHaveProperty('err');
  expect(fatal[0].msg).toMatch(/TLS to the database failed/);
  return fatal[0].msg;
}

describeWithPrograms(
  'openssl',
  'mariadbd',
  'mariadb-install-db',
)('encrypted connections to MariaDB', () => {
  let db: TlsMariaDb;

  beforeAll(async () => {
    db = await TlsMariaDb.start();
    await db.sql(`CREATE USER 'x509'@'%' REQUIRE X509`, `GRANT ALL ON ${TlsMariaDb.DATABASE}.* TO 'x509'@'%'`);
  }, 60_000);
  afterAll(async () => {
    await db?.stop();
  });

  it('ssl-mode=REQUIRED (any case) encrypts without a CA: the start-up log says TLS and the service works', async () => {
    const service = start({ DATABASE_URL: db.url('app', '?ssl-mode=required') });
    const url = await service.ready();
    expect((await connectionLine(service)).msg).toMatch(ENCRYPTED);
    const name = uniqueName('tls');
    const created = await send(`${url}/api/admin/tenants`, {
      method: 'POST',
      headers: admin,
      body: { user_name: name, password: 'tls-password', provisioned_capacity: 10_000 },
    });
    expect(created.status).toBe(201);
    const login = await send(`${url}/api/auth/login`, {
      method: 'POST',
      body: { user_name: name, password: 'tls-password' },
    });
    const tenant = { Authorization: `Bearer ${(login.body as { token: string }).token}` };
    const put = await send(`${url}/api/object`, {
      method: 'POST',
      headers: tenant,
      body: { key: 'secret', value: { over: 'tls' } },
    });
    expect(put.status).toBe(201);
    const got = await send(`${url}/api/object/secret`, { headers: tenant });
    expect(got).toMatchObject({ status: 200, body: { key: 'secret', value: { over: 'tls' } } });
  });

  it('VERIFY_CA with the CA that signed the server certificate connects', async () => {
    const service = start({ DATABASE_URL: db.url('app', '?ssl-mode=VERIFY_CA'), DB_SSL_CA: db.certificates.ca });
    await service.ready();
    expect((await connectionLine(service)).msg).toMatch(ENCRYPTED);
  });

  it('VERIFY_CA with an unrelated CA is refused at start, naming certificate verification and the CA file', async () => {
    const service = start({
      DATABASE_URL: db.url('app', '?ssl-mode=VERIFY_CA'),
      DB_SSL_CA: db.certificates.otherCa,
    });
    const message = await refusedForTls(service);
    expect(message).toContain(`(ssl-mode=VERIFY_CA, DB_SSL_CA=${db.certificates.otherCa})`);
    expect(message).toMatch(/self-signed certificate in certificate chain; certificate verification needs/);
  });

  it('VERIFY_IDENTITY checks the host name: a certificate for another name is refused, by a worker as well', async () => {
    const byName = db.url('app', '?ssl-mode=VERIFY_IDENTITY', 'localhost');
    const right = start({ DATABASE_URL: byName, DB_SSL_CA: db.certificates.ca });
    await right.ready();
    expect((await connectionLine(right)).msg).toMatch(ENCRYPTED);

    await db.useServerCertificate(db.certificates.wrongName);
    try {
      // The same authority signed it: only the name is wrong, which VERIFY_CA does not look at.
      const chainOnly = start({ DATABASE_URL: db.url('app', '?ssl-mode=VERIFY_CA'), DB_SSL_CA: db.certificates.ca });
      await chainOnly.ready();
      // The workers are the first to connect here: the first that fails stops the service, none is restarted.
      const wrong = start({
        DATABASE_URL: byName,
        DB_SSL_CA: db.certificates.ca,
        MIGRATE_ON_START: 'false',
        WEB_CONCURRENCY: '2',
      });
      const message = await refusedForTls(wrong);
      expect(message).toMatch(/^tenantkv stopped: a worker could not start: TLS to the database failed/);
      expect(message).toContain("Host: localhost. is not in the cert's altnames: DNS:db.invalid");
      expect(wrong.lines.filter((l) => /starting another/.test(l.msg))).toEqual([]);
    } finally {
      await db.useServerCertificate(db.certificates.server);
    }
  });

  it('mutual TLS: a user created REQUIRE X509 connects with DB_SSL_CERT and DB_SSL_KEY, and not without', async () => {
    const url = db.url('x509', '?ssl-mode=VERIFY_CA');
    const withCert = start({
      DATABASE_URL: url,
      DB_SSL_CA: db.certificates.ca,
      DB_SSL_CERT: db.certificates.client.cert,
      DB_SSL_KEY: db.certificates.client.key,
    });
    expect((await send(`${await withCert.ready()}/readyz`)).status).toBe(200);
    expect((await connectionLine(withCert)).msg).toMatch(ENCRYPTED);

    const without = start({ DATABASE_URL: url, DB_SSL_CA: db.certificates.ca });
    await refusedAtStart(without);
    expect(without.transcript()).toContain("Access denied for user 'x509'");
  });

  it('a connection without TLS is refused by the server that requires it', async () => {
    const plain = start({ DATABASE_URL: db.url('app') });
    await refusedAtStart(plain);
    expect(plain.transcript()).toContain("Access denied for user 'app'");
  });

  it('PREFERRED takes TLS where the server offers it, a plain connection where it does not, and says which', async () => {
    const offered = start({ DATABASE_URL: db.url('app', '?ssl-mode=PREFERRED') });
    await offered.ready();
    expect((await connectionLine(offered)).msg).toMatch(ENCRYPTED);
    if (!targets().includes('mysql')) return;
    // The suite's own server: encrypted or not as its have_ssl says.
    const conn = await serverConnection(TEST_MYSQL_URL);
    const [[haveSsl]] = (await conn.query("SHOW GLOBAL VARIABLES LIKE 'have_ssl'")) as unknown as [[{ Value: string }]];
    await conn.end();
    const local = start({ DATABASE_URL: `${TEST_MYSQL_URL}?ssl-mode=PREFERRED`, MIGRATE_ON_START: 'false' });
    await local.ready();
    expect((await connectionLine(local)).msg).toMatch(
      haveSsl.Value === 'YES'
        ? ENCRYPTED
        : /^database connection: unencrypted \(ssl-mode=PREFERRED and the server offers no TLS\)$/,
    );
  });
});

describeWithPrograms('openssl')('HTTPS for the API', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-https-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function get(url: string, ca: string | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      https
        .get(url, { ca: ca === undefined ? undefined : fs.readFileSync(ca), agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
  }

  it.each(targets())(
    'on %s: serves https with TLS_CERT_FILE and TLS_KEY_FILE, says so, shuts down gracefully',
    async (target) => {
      const certificates = makeCertificates(fs.mkdtempSync(path.join(dir, 'certs-')));
      const service = start({
        TLS_CERT_FILE: certificates.server.cert,
        TLS_KEY_FILE: certificates.server.key,
        ...(target === 'mysql'
          ? { DATABASE_URL: TEST_MYSQL_URL, MIGRATE_ON_START: 'false' }
          : { DATA_DIR: fs.mkdtempSync(path.join(dir, 'data-')) }),
      });
      const url = await service.ready();
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await get(`${url}/readyz`, certificates.ca)).toBe(200);
      // A client that does not trust the certificate's authority is refused.
      await expect(get(`${url}/healthz`, undefined)).rejects.toThrow(/certificate/);
      await service.stop();
      expect((await service.exited).code).toBe(0);
      expect(service.lines.some((l) => l.msg.startsWith('stopped serving'))).toBe(true);
    },
  );
});
