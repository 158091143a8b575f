import type { components } from './api.js';

/**
 * What the client's methods take and give, named after swagger.yaml's schemas (api.ts, generated from it): the
 * service's JSON as it is, snake_case fields included. Only the options of a call are the client's own (camelCase).
 */
type Schemas = components['schemas'];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** Any JSON object (swagger.yaml's Metadata, which openapi-typescript types as an empty record). */
export type Metadata = Record<string, unknown>;
/** A schema with its value typed as the caller says it is, and its metadata as any JSON object. */
type Typed<S, V, M = { metadata?: Metadata }> = Omit<S, 'value' | 'metadata'> & { value: V } & M;

/** An object as GET and batch get answer it, its value typed as the caller says it is. */
export type KvObject<T = unknown> = Typed<Schemas['ObjectResponse'], T>;
/** A listed key; `value` with values asked for. */
export type ListItem<T = unknown> = Omit<Schemas['ObjectPage']['items'][number], 'value' | 'metadata'> & {
  value?: T;
  metadata?: Metadata;
};
export type ListPage<T = unknown> = Omit<Schemas['ObjectPage'], 'items'> & { items: ListItem<T>[] };
/** A kept version; `value` is null for a tombstone (`deleted`). */
export type HistoryItem<T = unknown> = Typed<Schemas['HistoryPage']['items'][number], T | null>;
export type HistoryPage<T = unknown> = Omit<Schemas['HistoryPage'], 'items'> & { items: HistoryItem<T>[] };
export type BatchGetResult<T = unknown> = { items: KvObject<T>[]; missing: string[] };
/** A change of the feed's JSON pages; `value` with values asked for, on puts. */
export type ChangeRecord = Typed<Schemas['ChangesPage']['changes'][number], unknown>;
export type ChangesPage = Omit<Schemas['ChangesPage'], 'changes'> & { changes: ChangeRecord[] };
export type Quota = Schemas['Quota'];
export type ExportLine = Typed<Schemas['ExportLine'], unknown, { metadata: Metadata | null }>;
export type ImportLine = Typed<Schemas['ImportLine'], unknown, { metadata?: Metadata | null }>;
export type ImportReport = Schemas['ImportReport'];
export type LoginResult = Schemas['LoginResponse'];
export type RegisterResult = Schemas['RegisterResponse'];

export type Tenant = Schemas['Tenant'];
export type TenantPage = Schemas['TenantPage'];
export type CreateTenantBody = Schemas['AdminCreateTenant'];
export type UpdateTenantBody = Schemas['AdminUpdateTenant'];
export type CreateTokenBody = Schemas['AdminCreateToken'];
export type TokenCreated = Schemas['TokenCreated'];
export type TokenInfo = Schemas['TokenList']['tokens'][number];
export type Scope = Schemas['Scope'];
export type AuditEntry = Schemas['AuditEntry'];
export type AuditPage = Schemas['AuditPage'];
export type AuditVerdict = Schemas['AuditVerdict'];

/** Every call takes a signal: aborting it ends the call (and its retries) with the signal's reason. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Expiry (one of them) and metadata of a write. */
export interface WriteOptions {
  /** Absolute unix seconds, 0 for never. */
  ttl?: number;
  /** Seconds from now (at least 1); instead of `ttl`. */
  expiresIn?: number;
  /** A JSON object, counted in the quota with the value; an overwrite without it drops the old one. */
  metadata?: Metadata;
}

/** A write's precondition (at most one): it is then a compare-and-set, PreconditionFailedError when it fails. */
export interface Precondition {
  /** Only over this version (or any of these versions). */
  ifVersion?: number | number[];
  /** Only if the key does not exist (create, never replace). */
  ifAbsent?: boolean;
  /** Only if the key exists. */
  ifExists?: boolean;
}

export interface PutOptions extends WriteOptions, Precondition, CallOptions {}

export interface DeleteOptions extends CallOptions {
  ifVersion?: number | number[];
  ifExists?: boolean;
}

/** One item of a batch: its precondition, if any, makes the whole batch a multi-key compare-and-set. */
export interface BatchPutItem extends WriteOptions {
  key: string;
  value: unknown;
  ifVersion?: number;
  ifAbsent?: boolean;
}

export interface GetOptions extends CallOptions {
  /** Read this version, live or kept (NotFoundError when it is not kept). */
  version?: number;
}

export interface ListOptions extends CallOptions {
  /** Only keys that start with it. */
  prefix?: string;
  /** Keys per page (1–1000; the service's default 100). */
  limit?: number;
  /** Include each object's value. */
  values?: boolean;
  /** Start after this page (a `cursor` of an earlier page with the same prefix). */
  cursor?: string;
}

export interface ListPageOptions extends ListOptions {
  /** Add `count`, the exact number of live keys under the prefix. */
  count?: boolean;
}

export interface HistoryOptions extends CallOptions {
  /** Versions per page (1–100). */
  limit?: number;
  /** The `cursor` of an earlier page. */
  before?: string;
}

export interface ChangesOptions extends CallOptions {
  since?: number;
  prefix?: string;
  limit?: number;
  values?: boolean;
}

/** One change, as the stream sends it; its `version` is the change's revision. */
export type WatchEvent = Typed<Schemas['ChangeEvent'], unknown> & { type: 'put' | 'delete' | 'expire' };

export interface WatchOptions extends CallOptions {
  /**
   * Changes after this revision. Without it, the stream starts at the tenant's current revision (read once,
   * from the quota), so that a reconnection misses nothing either.
   */
  since?: number;
  /** Include each put's value. */
  values?: boolean;
  /** Reconnections after a dropped connection: the first delay, doubled each time up to `maxDelayMs`. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; maxAttempts?: number };
  /**
   * A stream that brings nothing for this long (the service sends a heartbeat every 15 s) is taken as dropped
   * and resumed. Default 45 s.
   */
  idleTimeoutMs?: number;
}

export interface ExportOptions extends CallOptions {
  prefix?: string;
}

export interface ImportOptions extends CallOptions {
  /** `overwrite` (default) replaces existing keys, `skip_existing` leaves them alone. */
  mode?: 'overwrite' | 'skip_existing';
}

/**
 * What `import` reads: objects (each becomes an NDJSON line), or NDJSON already (a ReadableStream of bytes, or an
 * iterable of strings / byte chunks, such as a Node file stream).
 */
export type ImportSource =
  | ReadableStream<Uint8Array>
  | AsyncIterable<ImportLine | Uint8Array | string>
  | Iterable<ImportLine | Uint8Array | string>;
