import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { ServiceProcess } from '../support/service-process';

/** The 3-node Galera cluster that test/cluster/cluster.sh runs: node N on 127.0.0.1:351N. */
export const NODES = [1, 2, 3] as const;
export type Node = (typeof NODES)[number];
export const DATABASE = 'tenantkv_cluster';
export const port = (node: Node): number => 3510 + node;
export const urlOf = (node: Node): string => `mysql://root@127.0.0.1:${port(node)}/${DATABASE}`;

export const ADMIN_KEY = 'cluster-test-admin-key-0123456789';
export const JWT_SECRET = 'cluster-test-jwt-secret-0123456789abcdef';

const SCRIPT = path.join(__dirname, 'cluster.sh');

/** Runs cluster.sh (kill N, restart N…); resolves with its output, rejects with it. */
export function cluster(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [SCRIPT, ...args], { timeout: 240_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`cluster.sh ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout + stderr),
    );
  });
}

/** A connection to one node that reads everything the cluster committed before each statement. */
export async function nodeConnection(node: Node, database: string | null = DATABASE): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: port(node),
    user: 'root',
    database: database ?? undefined,
    supportBigNumbers: true,
    multipleStatements: true,
  });
  await conn.query('SET SESSION wsrep_sync_wait = 1');
  return conn;
}

export async function onNode<T>(node: Node, work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await nodeConnection(node);
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

/** One tenantkv instance on one node, as `make run` runs it. */
export function instanceOn(node: Node, env: Record<string, string> = {}): ServiceProcess {
  return new ServiceProcess({
    DATABASE_URL: urlOf(node),
    JWT_SECRET_KEY: JWT_SECRET,
    ADMIN_API_KEYS: ADMIN_KEY,
    WEB_CONCURRENCY: '1',
    PURGE_INTERVAL_SECONDS: '1',
    ...env,
  });
}

export interface Reply {
  status: number;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

/** A keep-alive HTTP client: one per simulated client, so that each reuses its connection. */
export class Client {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        `${this.baseUrl}${path}`,
        {
          method,
          agent: this.agent,
          headers: {
            ...(payload ? { 'Content-Type': 'application/json' } : {}),
            ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  put = (key: string, value: unknown, ttl?: number) =>
    this.request('POST', '/api/object', ttl === undefined ? { key, value } : { key, value, ttl });
  get = (key: string) => this.request('GET', `/api/object/${encodeURIComponent(key)}`);
  del = (key: string) => this.request('DELETE', `/api/object/${encodeURIComponent(key)}`);
  batch = (items: { key: string; value: unknown; ttl?: number }[]) => this.request('POST', '/api/batch/object', items);

  close(): void {
    this.agent.destroy();
  }
}

/** A tenant made through the admin API of `baseUrl`, and a login token for it. */
export async function createTenant(
  baseUrl: string,
  name: string,
  capacity: number,
): Promise<{ id: number; token: string }> {
  const admin = new Client(baseUrl);
  try {
    const created = await admin.request(
      'POST',
      '/api/admin/tenants',
      { user_name: name, password: 'cluster-password', provisioned_capacity: capacity },
      { Authorization: `Bearer ${ADMIN_KEY}` },
    );
    if (created.status !== 201) throw new Error(`tenant ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    const login = await admin.request('POST', '/api/auth/login', { user_name: name, password: 'cluster-password' });
    if (login.status !== 200) throw new Error(`login ${name}: ${login.status}`);
    return { id: (created.body as { id: number }).id, token: (login.body as { token: string }).token };
  } finally {
    admin.close();
  }
}

export interface NodeLedger {
  node: Node;
  utilised: number;
  objectCount: number;
  provisioned: number;
  /** SUM(objects.size) and COUNT(*): what the ledger must equal. */
  storedSize: number;
  storedObjects: number;
  /** SUM of the bytes actually stored (the value, and the metadata where that column exists). */
  storedBytes: number;
}

/** The ledger of a tenant as one node has it, next to what it must equal. */
export async function ledgerOn(node: Node, tenantId: number): Promise<NodeLedger> {
  return onNode(node, async (conn) => {
    const [columns] = await conn.query(
      `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'objects' AND COLUMN_NAME = 'metadata'`,
    );
    const metadata = (columns as unknown[]).length > 0 ? ' + COALESCE(LENGTH(metadata), 0)' : '';
    const [[tenant]] = (await conn.query('SELECT utilised, object_count, provisioned FROM tenants WHERE id = ?', [
      tenantId,
    ])) as unknown as [Record<string, unknown>[]];
    const [[stored]] = (await conn.query(
      `SELECT COALESCE(SUM(size), 0) AS size, COUNT(*) AS n, COALESCE(SUM(LENGTH(value)${metadata}), 0) AS bytes
       FROM objects WHERE tenant_id = ?`,
      [tenantId],
    )) as unknown as [Record<string, unknown>[]];
    return {
      node,
      utilised: Number(tenant.utilised),
      objectCount: Number(tenant.object_count),
      provisioned: Number(tenant.provisioned),
      storedSize: Number(stored.size),
      storedObjects: Number(stored.n),
      storedBytes: Number(stored.bytes),
    };
  });
}

/** A small deterministic PRNG (mulberry32), so that a failing storm can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
