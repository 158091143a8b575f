import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';

/**
 * Certificates made with openssl, and a MariaDB of the test's own (its own data folder, port and socket; the
 * server on 3306 is never touched) that accepts only encrypted connections. For the tests of ssl-mode, DB_SSL_*
 * and HTTPS.
 */

const SEARCHED = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];

/** The first of `names` on PATH or in the usual sbin folders. */
function program(names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCHED];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const PROGRAMS = {
  openssl: ['openssl'],
  mariadbd: ['mariadbd', 'mysqld'],
  'mariadb-install-db': ['mariadb-install-db', 'mysql_install_db'],
} as const;
type Program = keyof typeof PROGRAMS;

function required(name: Program): string {
  const found = program([...PROGRAMS[name]]);
  if (found === undefined) throw new Error(`${name} is not installed`);
  return found;
}

/**
 * `describe` when every program is installed. A missing one fails the run under CI=true (as a missing MySQL does,
 * global-setup.ts); elsewhere the suite is skipped, and says so.
 */
export function describeWithPrograms(...names: Program[]): jest.Describe {
  const missing = names.filter((name) => program([...PROGRAMS[name]]) === undefined);
  if (missing.length === 0) return describe;
  const message =
    `the TLS tests need ${missing.join(' and ')}, not installed here ` +
    '(apt-get install openssl mariadb-server; .ci/run installs mariadb-server)';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  process.stderr.write(`\n*** SKIPPED: ${message}.\n\n`);
  return describe.skip;
}

export interface PemPair {
  cert: string;
  key: string;
}

export interface Certificates {
  dir: string;
  /** The authority that signs every certificate below. */
  ca: string;
  /** An authority that signed none of them. */
  otherCa: string;
  /** For 127.0.0.1 and localhost. */
  server: PemPair;
  /** Signed by `ca`, for a name that resolves nowhere (db.invalid). */
  wrongName: PemPair;
  /** A client certificate for mutual TLS. */
  client: PemPair;
}

/** Certificates in `dir`, valid for two days, on P-256 keys (quicker to make than RSA ones). */
export function makeCertificates(dir: string): Certificates {
  const openssl = required('openssl');
  const run = (...args: string[]): void => {
    execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const authority = (name: string, subject: string): string => {
    run(
      'req', '-x509', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ); // prettier-ignore
    return path.join(dir, `${name}.pem`);
  };
  let serial = 1;
  const leaf = (name: string, subject: string, extensions: string[]): PemPair => {
    run('req', '-new', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ['basicConstraints=CA:FALSE', ...extensions].join('\n') + '\n');
    run(
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
      '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`,
    ); // prettier-ignore
    return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  };
  const ca = authority('ca', '/CN=tenantkv test CA');
  const otherCa = authority('other-ca', '/CN=unrelated test CA');
  const server = ['extendedKeyUsage=serverAuth'];
  return {
    dir,
    ca,
    otherCa,
    server: leaf('server', '/CN=127.0.0.1', [...server, 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
    wrongName: leaf('wrong-name', '/CN=db.invalid', [...server, 'subjectAltName=DNS:db.invalid']),
    client: leaf('client', '/CN=tenantkv test client', ['extendedKeyUsage=clientAuth']),
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A MariaDB started from a fresh data folder with `--require-secure-transport=ON`: a TCP connection without TLS
 * is refused. Root reaches it over its unix socket only (which counts as secure), to set it up.
 */
export class TlsMariaDb {
  static readonly DATABASE = 'tenantkv_tls';

  private constructor(
    readonly certificates: Certificates,
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<unknown>,
  ) {}

  /** Makes the certificates, installs a data folder, starts the server and waits until it answers (up to 30 s). */
  static async start(): Promise<TlsMariaDb> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-tls-'));
    try {
      const certificates = makeCertificates(dir);
      const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
      const data = path.join(dir, 'data');
      try {
        execFileSync(
          required('mariadb-install-db'),
          [
            '--no-defaults',
            `--datadir=${data}`,
            '--auth-root-authentication-method=normal',
            '--skip-test-db',
            ...asRoot,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
      } catch (err) {
        throw new Error(`mariadb-install-db failed: ${String((err as { stderr?: unknown }).stderr ?? err)}`, {
          cause: err,
        });
      }
      // The server reads its certificate from these copies, so that a test can swap it (useServerCertificate).
      fs.copyFileSync(certificates.server.cert, path.join(dir, 'live.pem'));
      fs.copyFileSync(certificates.server.key, path.join(dir, 'live.key'));
      const port = await freePort();
      const child = spawn(
        required('mariadbd'),
        [
          '--no-defaults',
          `--datadir=${data}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--socket=${path.join(dir, 'mysqld.sock')}`,
          `--pid-file=${path.join(dir, 'mysqld.pid')}`,
          `--log-error=${path.join(dir, 'error.log')}`,
          `--ssl-ca=${certificates.ca}`,
          `--ssl-cert=${path.join(dir, 'live.pem')}`,
          `--ssl-key=${path.join(dir, 'live.key')}`,
          '--require-secure-transport=ON',
          '--skip-name-resolve',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_bin',
          '--innodb-buffer-pool-size=32M',
          ...asRoot,
        ],
        { stdio: 'ignore' },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const server = new TlsMariaDb(certificates, port, dir, child, exited);
      await server.waitUntilUp();
      await server.sql(
        `CREATE DATABASE ${TlsMariaDb.DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
        `CREATE USER 'app'@'%'`,
        `GRANT ALL ON ${TlsMariaDb.DATABASE}.* TO 'app'@'%'`,
      );
      return server;
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private async waitUntilUp(): Promise<void> {
    const deadline = Date.now() + 30_000;
    let alive = true;
    void this.exited.then(() => (alive = false));
    for (;;) {
      try {
        await (await this.root()).end();
        return;
      } catch (err) {
        if (!alive || Date.now() > deadline) {
          this.child.kill('SIGKILL');
          throw new Error(
            `the test's MariaDB did not come up (${(err as Error).message}):\n${tail(path.join(this.dir, 'error.log'))}`,
            { cause: err },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private root(): Promise<mysql.Connection> {
    return mysql.createConnection({ socketPath: path.join(this.dir, 'mysqld.sock'), user: 'root' });
  }

  /** Runs statements as root, over the socket. */
  async sql(...statements: string[]): Promise<void> {
    const conn = await this.root();
    try {
      for (const statement of statements) await conn.query(statement);
    } finally {
      await conn.end();
    }
  }

  /** A DATABASE_URL for `user` at `host`, with `query` (e.g. '?ssl-mode=REQUIRED'). */
  url(user: string, query = '', host = '127.0.0.1'): string {
    return `mysql://${user}@${host}:${this.port}/${TlsMariaDb.DATABASE}${query}`;
  }

  /** The server presents `pair` to new connections from now on (FLUSH SSL reloads its files). */
  async useServerCertificate(pair: PemPair): Promise<void> {
    fs.copyFileSync(pair.cert, path.join(this.dir, 'live.pem'));
    fs.copyFileSync(pair.key, path.join(this.dir, 'live.key'));
    await this.sql('FLUSH SSL');
  }

  /** Stops the server (SIGKILL after 15 s) and removes its folder. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
