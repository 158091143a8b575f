import type autocannon from 'autocannon';
import { jsonStringOfBytes } from './common';

/**
 * The data set and the random requests built on it, shared by the service scenarios and the baselines so that
 * both are loaded exactly alike.
 */
export interface Tenant {
  id: number;
  name: string;
  token: string;
}

export interface Fixture {
  tenants: Tenant[];
  /** Keys 0 … keysPerTenant-1 (see preloadKey) exist in every tenant, each holding `smallValue`. */
  keysPerTenant: number;
  /** A JS string whose compact JSON is the small value size (200 bytes). */
  smallValue: string;
  /** The tenant every connection of the single-tenant overwrite writes to (its row is the hot spot). */
  hotTenant: Tenant;
  /** The tenant that receives the 4 MB batches. */
  batchTenant: Tenant;
  /** A tenant with bigTenantKeys keys (see bigKey), for listing. */
  bigTenant: Tenant;
  bigTenantKeys: number;
}

/** Key `index` of a big tenant of `keys` keys: `big/` and the index in as many digits as the last one has. */
export function bigKey(index: number, keys: number): string {
  return `big/${String(index).padStart(String(keys - 1).length, '0')}`;
}

/** The prefix one listing asks for: `big/<d>`, a random one of the leading digits the big tenant's keys have. */
export function listPrefix(keys: number): string {
  const lastLeading = Number(String(keys - 1)[0]);
  return `big/${Math.floor(Math.random() * (lastLeading + 1))}`;
}

export function preloadKey(index: number): string {
  return `k${String(index).padStart(5, '0')}`;
}

export function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)];
}

export function randomHit(fixture: Fixture, tenant = pick(fixture.tenants)): { tenant: Tenant; key: string } {
  return { tenant, key: preloadKey(Math.floor(Math.random() * fixture.keysPerTenant)) };
}

export function randomMiss(fixture: Fixture): { tenant: Tenant; key: string } {
  return { tenant: pick(fixture.tenants), key: `miss-${Math.floor(Math.random() * 1e9)}` };
}

export function bearer(tenant: Tenant): Record<string, string> {
  return { authorization: `Bearer ${tenant.token}` };
}

/** Where a GET of (tenant, key) goes: the service reads the tenant from the token, the bare server from the path. */
export type PathFor = (tenant: Tenant, key: string) => string;

export const servicePath: PathFor = (_tenant, key) => `/api/object/${encodeURIComponent(key)}`;

/** The same GET, allowed to be answered from the serving process's cache. */
export const eventualPath: PathFor = (tenant, key) => `${servicePath(tenant, key)}?consistency=eventual`;

/** autocannon's setupRequest for a GET of a random key of a random tenant, with that tenant's token. */
export function getRequest(
  fixture: Fixture,
  pathFor: PathFor,
  choose: (fixture: Fixture) => { tenant: Tenant; key: string },
): (request: autocannon.Request) => autocannon.Request {
  return () => {
    const { tenant, key } = choose(fixture);
    return { method: 'GET', path: pathFor(tenant, key), headers: bearer(tenant) };
  };
}

export function postObjectRequest(tenant: Tenant, key: string, value: string): autocannon.Request {
  return {
    method: 'POST',
    path: '/api/object',
    headers: { ...bearer(tenant), 'content-type': 'application/json' },
    body: JSON.stringify({ key, value }),
  };
}

/** A batch get of `count` distinct preloaded keys (every tenant has them all), in random order. */
export function batchGetBody(fixture: Fixture, count: number): { keys: string[] } {
  const keys = Array.from({ length: fixture.keysPerTenant }, (_, i) => preloadKey(i));
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  return { keys: keys.slice(0, count) };
}

/** `count` batch items of `itemBytes` each (compact JSON of the value), keys `<prefix><index>`. */
export function batchItems(prefix: string, count: number, itemBytes: number): { key: string; value: string }[] {
  const value = jsonStringOfBytes(itemBytes);
  return Array.from({ length: count }, (_, i) => ({ key: `${prefix}${i}`, value }));
}
