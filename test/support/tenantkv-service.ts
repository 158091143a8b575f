import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TenantKv, TenantKvAdmin, type Tenant } from '../../packages/client/src';
import { uniqueName } from './harness';
import { ServiceProcess } from './service-process';
import { TEST_MYSQL_URL, type TargetName } from './targets';

/** The real forked service (test/support/service-process.ts) on either database, for the client's tests. */
export const ADMIN_KEY = 'client-test-admin-key-0123456789';
export const PASSWORD = 'client test password';

/**
 * What a service on `target` needs: MariaDB's test database (already migrated, with two workers), or a SQLite
 * folder of its own (migrated at start; one worker, as SQLite requires). Pass the same env again to start a
 * service on the same database.
 */
export function serviceEnv(target: TargetName, extra: Record<string, string> = {}): Record<string, string> {
  const database: Record<string, string> =
    target === 'mysql'
      ? { DATABASE_URL: TEST_MYSQL_URL, MIGRATE_ON_START: 'false', WEB_CONCURRENCY: '2' }
      : { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-client-')), WEB_CONCURRENCY: '1' };
  return {
    ...database,
    JWT_SECRET_KEY: 'client-test-jwt-secret-0123456789abcdef',
    ADMIN_API_KEYS: ADMIN_KEY,
    // Node's fetch opens a spare connection once a stream it read is closed, and a connection that never sent a
    // request holds the service's shutdown until its deadline (server.closeIdleConnections leaves it open).
    SHUTDOWN_TIMEOUT_SECONDS: '2',
    ...extra,
  };
}

export async function startService(env: Record<string, string>): Promise<{ service: ServiceProcess; url: string }> {
  const service = new ServiceProcess(env);
  try {
    return { service, url: await service.ready() };
  } catch (err) {
    await service.stop();
    throw err;
  }
}

/** A port nothing listens on now, for a service that must come back on the same address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A tenant provisioned through the admin client, and a tenant client logged in as it. */
export async function newTenant(
  admin: TenantKvAdmin,
  url: string,
  fields: Partial<Parameters<TenantKvAdmin['tenants']['create']>[0]> = {},
): Promise<{ tenant: Tenant; kv: TenantKv }> {
  const name = uniqueName('client');
  const tenant = await admin.tenants.create({
    user_name: name,
    password: PASSWORD,
    provisioned_capacity: 1024 * 1024,
    ...fields,
  });
  const kv = new TenantKv({ baseUrl: url });
  await kv.login(name, PASSWORD);
  return { tenant, kv };
}

/** Everything an async iterable gives. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
