import { Transport, type ClientOptions, type RequestSpec } from './http.js';
import { ndjson, ndjsonBody } from './streams.js';
import type {
  BatchGetResult,
  BatchPutItem,
  CallOptions,
  ChangeRecord,
  ChangesOptions,
  ChangesPage,
  DeleteOptions,
  ExportLine,
  ExportOptions,
  GetOptions,
  HistoryItem,
  HistoryOptions,
  HistoryPage,
  ImportOptions,
  ImportReport,
  ImportSource,
  JsonValue,
  KvObject,
  ListItem,
  ListOptions,
  ListPage,
  ListPageOptions,
  LoginResult,
  Precondition,
  PutOptions,
  Quota,
  RegisterResult,
  WatchOptions,
} from './types.js';
import { Watch } from './watch.js';

export interface TenantKvOptions extends ClientOptions {
  /** A login token or an API token; `login()` sets it too. */
  token?: string;
}

const objectPath = (key: string): string => `/api/object/${encodeURIComponent(key)}`;

/** The version an ETag names (`"7"`). */
function etagVersion(headers: Headers): number {
  return Number((headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, ''));
}

function preconditionHeaders(p: Precondition): Record<string, string> {
  if ([p.ifVersion !== undefined, p.ifAbsent, p.ifExists].filter(Boolean).length > 1) {
    throw new TypeError('give at most one of ifVersion, ifAbsent and ifExists');
  }
  if (p.ifAbsent) return { 'If-None-Match': '*' };
  if (p.ifExists) return { 'If-Match': '*' };
  if (p.ifVersion === undefined) return {};
  const versions = Array.isArray(p.ifVersion) ? p.ifVersion : [p.ifVersion];
  return { 'If-Match': versions.map((v) => `"${v}"`).join(', ') };
}

/** A write's expiry and metadata as the service names them. */
function writeFields(o: { ttl?: number; expiresIn?: number; metadata?: object }): Record<string, unknown> {
  return {
    ...(o.ttl === undefined ? {} : { ttl: o.ttl }),
    ...(o.expiresIn === undefined ? {} : { expires_in: o.expiresIn }),
    ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
  };
}

/**
 * A tenant's view of tenantkv: its objects, their history, its change feed, its quota. Every method throws a
 * TenantKvError subclass for what the service refuses (errors.ts); 429 is retried after its Retry-After, 503s and
 * network failures only for calls that sending twice cannot harm (docs in the package's README).
 */
export class TenantKv {
  private readonly transport: Transport;
  /** The token sent as `Authorization: Bearer`. */
  token: string | undefined;

  constructor(options: TenantKvOptions) {
    this.token = options.token;
    this.transport = new Transport(options, () => (this.token === undefined ? undefined : `Bearer ${this.token}`));
  }

  /** Self-registration (when the operator allows it); `provisionedCapacity` in bytes, 0 for the default. */
  register(
    userName: string,
    password: string,
    provisionedCapacity?: number,
    o: CallOptions = {},
  ): Promise<RegisterResult> {
    return this.transport.json({
      method: 'POST',
      path: '/api/auth/register',
      json: {
        user_name: userName,
        password,
        ...(provisionedCapacity === undefined ? {} : { provisioned_capacity: provisionedCapacity }),
      },
      idempotent: false,
      signal: o.signal,
    });
  }

  /** Logs in and keeps the token for the calls that follow. */
  async login(userName: string, password: string, o: CallOptions = {}): Promise<LoginResult> {
    const result = await this.transport.json<LoginResult>({
      method: 'POST',
      path: '/api/auth/login',
      json: { user_name: userName, password },
      // A login changes nothing that a second one would undo.
      idempotent: true,
      signal: o.signal,
    });
    this.token = result.token;
    return result;
  }

  /** The object; NotFoundError when it is absent or expired (or that version is not kept). */
  get<T = JsonValue>(key: string, o: GetOptions = {}): Promise<KvObject<T>> {
    return this.transport.json({
      method: 'GET',
      path: objectPath(key),
      query: { version: o.version },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Whether the key exists: its version and the length of its GET body, or null. */
  async head(key: string, o: CallOptions = {}): Promise<{ version: number; contentLength: number } | null> {
    const res = await this.transport.text({
      method: 'HEAD',
      path: objectPath(key),
      idempotent: true,
      accept: [404],
      signal: o.signal,
    });
    if (res.status === 404) return null;
    return { version: etagVersion(res.headers), contentLength: Number(res.headers.get('content-length')) };
  }

  /** Creates or replaces; resolves to the new version. With a precondition, a compare-and-set. */
  async put(key: string, value: unknown, o: PutOptions = {}): Promise<{ version: number }> {
    const headers = preconditionHeaders(o);
    const res = await this.transport.text({
      method: 'POST',
      path: '/api/object',
      headers,
      json: { key, value, ...writeFields(o) },
      // A compare-and-set sent twice cannot apply twice (the second finds the version moved on: 412); `ifExists`
      // holds again after its own write, so it can.
      idempotent: o.ifVersion !== undefined || o.ifAbsent === true,
      signal: o.signal,
    });
    return { version: etagVersion(res.headers) };
  }

  /** Deletes (no error when absent); with `ifVersion` / `ifExists` only if that holds. */
  async delete(key: string, o: DeleteOptions = {}): Promise<void> {
    await this.transport.text({
      method: 'DELETE',
      path: objectPath(key),
      headers: preconditionHeaders(o),
      idempotent: true,
      signal: o.signal,
    });
  }

  /** All items in one transaction, or none; resolves to their shared version. */
  async batchPut(items: BatchPutItem[], o: CallOptions = {}): Promise<{ version: number }> {
    const body = items.map((item) => ({
      key: item.key,
      value: item.value,
      ...writeFields(item),
      ...(item.ifVersion === undefined ? {} : { if_version: item.ifVersion }),
      ...(item.ifAbsent ? { if_absent: true } : {}),
    }));
    const res = await this.transport.text({
      method: 'POST',
      path: '/api/batch/object',
      json: body,
      idempotent: items.length > 0 && items.every((i) => i.ifVersion !== undefined || i.ifAbsent),
      signal: o.signal,
    });
    return { version: etagVersion(res.headers) };
  }

  batchGet<T = JsonValue>(keys: string[], o: CallOptions = {}): Promise<BatchGetResult<T>> {
    return this.transport.json({
      method: 'POST',
      path: '/api/batch/get',
      json: { keys },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Deletes the keys in one transaction; `deleted` counts the live ones removed. */
  batchDelete(keys: string[], o: CallOptions = {}): Promise<{ deleted: number }> {
    return this.transport.json({
      method: 'POST',
      path: '/api/batch/delete',
      json: { keys },
      idempotent: false,
      signal: o.signal,
    });
  }

  /** Deletes every key under a non-empty prefix. */
  deletePrefix(prefix: string, o: CallOptions = {}): Promise<{ deleted: number }> {
    if (prefix === '') throw new TypeError('deletePrefix needs a non-empty prefix; deleteAll() deletes every key');
    return this.transport.json({
      method: 'DELETE',
      path: '/api/objects',
      query: { prefix },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Deletes every key of the tenant. */
  deleteAll(o: CallOptions = {}): Promise<{ deleted: number }> {
    return this.transport.json({
      method: 'DELETE',
      path: '/api/objects',
      query: { all: true },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** One page of keys; pass its `cursor` back for the next. */
  listPage<T = JsonValue>(o: ListPageOptions = {}): Promise<ListPage<T>> {
    return this.transport.json({
      method: 'GET',
      path: '/api/objects',
      query: {
        prefix: o.prefix || undefined,
        limit: o.limit,
        cursor: o.cursor,
        values: o.values || undefined,
        count: o.count || undefined,
      },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Every key under the prefix, in byte order, page after page. */
  async *list<T = JsonValue>(o: ListOptions = {}): AsyncGenerator<ListItem<T>> {
    let cursor = o.cursor;
    for (;;) {
      const page = await this.listPage<T>({ ...o, cursor });
      yield* page.items;
      if (page.list_complete || page.cursor === null) return;
      cursor = page.cursor;
    }
  }

  /** One page of a key's versions, newest first. */
  historyPage<T = JsonValue>(key: string, o: HistoryOptions = {}): Promise<HistoryPage<T>> {
    return this.transport.json({
      method: 'GET',
      path: `${objectPath(key)}/history`,
      query: { limit: o.limit, before: o.before },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Every version of a key the tenant keeps, newest first (the live one included). */
  async *history<T = JsonValue>(key: string, o: HistoryOptions = {}): AsyncGenerator<HistoryItem<T>> {
    let before = o.before;
    for (;;) {
      const page = await this.historyPage<T>(key, { ...o, before });
      yield* page.items;
      if (page.cursor === null) return;
      before = page.cursor;
    }
  }

  /** Forgets a key's kept versions (the live one stays). */
  async forgetHistory(key: string, o: CallOptions = {}): Promise<void> {
    await this.transport.text({
      method: 'DELETE',
      path: `${objectPath(key)}/history`,
      idempotent: true,
      signal: o.signal,
    });
  }

  /** One page of the change feed as JSON; the next is `since: page.revision`. */
  changesPage(o: ChangesOptions = {}): Promise<ChangesPage> {
    return this.transport.json({
      method: 'GET',
      path: '/api/changes',
      query: { since: o.since, prefix: o.prefix || undefined, limit: o.limit, values: o.values || undefined },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** The changes after `since` up to now, page after page (watch() follows them as they come). */
  async *changes(o: ChangesOptions = {}): AsyncGenerator<ChangeRecord> {
    let since = o.since;
    for (;;) {
      const page = await this.changesPage({ ...o, since });
      yield* page.changes;
      if (!page.more) return;
      since = page.revision;
    }
  }

  /** Follows the changes under `prefix` as they commit, across dropped connections (watch.ts). */
  watch(prefix = '', o: WatchOptions = {}): Watch {
    return new Watch(this.transport, prefix, o, async (signal) => (await this.quota({ signal })).revision);
  }

  quota(o: CallOptions = {}): Promise<Quota> {
    return this.transport.json({ method: 'GET', path: '/api/quota', idempotent: true, signal: o.signal });
  }

  /** The live objects under the prefix as NDJSON bytes, as the service streams them. */
  async exportStream(o: ExportOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const spec: RequestSpec = {
      method: 'GET',
      path: '/api/export',
      query: { prefix: o.prefix || undefined },
      idempotent: true,
      signal: o.signal,
    };
    return (await this.transport.open(spec)).body as ReadableStream<Uint8Array>;
  }

  /** The live objects under the prefix, one by one; a cut-off export throws rather than end early. */
  async *export(o: ExportOptions = {}): AsyncGenerator<ExportLine> {
    yield* ndjson<ExportLine>(await this.exportStream(o), o.signal);
  }

  /**
   * Writes NDJSON lines (objects, or an export's bytes) in atomic chunks; resolves to the service's report.
   * Streamed, never retried (a stream cannot be sent twice). Browsers stream request bodies over HTTP/2 only.
   */
  import(source: ImportSource, o: ImportOptions = {}): Promise<ImportReport> {
    return this.transport.json({
      method: 'POST',
      path: '/api/import',
      query: { mode: o.mode },
      headers: { 'Content-Type': 'application/x-ndjson' },
      stream: ndjsonBody(source),
      idempotent: false,
      signal: o.signal,
    });
  }
}
