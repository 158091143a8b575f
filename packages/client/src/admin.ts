import { Transport, type ClientOptions } from './http.js';
import { ndjson } from './streams.js';
import type {
  AuditEntry,
  AuditPage,
  AuditVerdict,
  CallOptions,
  CreateTenantBody,
  CreateTokenBody,
  ExportLine,
  ExportOptions,
  Tenant,
  TenantPage,
  TokenCreated,
  TokenInfo,
  UpdateTenantBody,
} from './types.js';

export interface TenantKvAdminOptions extends ClientOptions {
  /** One of the service's ADMIN_API_KEYS. */
  adminKey: string;
}

export interface TenantListOptions extends CallOptions {
  /** Only tenants whose user_name starts with it. */
  prefix?: string;
  /** Tenants per page (1–500). */
  limit?: number;
  /** The `next_cursor` of an earlier page. */
  cursor?: string;
}

export interface AuditOptions extends CallOptions {
  /** Entries after this id. */
  since?: number;
  /** Entries per page (1–1000). */
  limit?: number;
}

const tenantPath = (id: number): string => `/api/admin/tenants/${encodeURIComponent(String(id))}`;

/** Provisioning: bodies and answers are the admin API's JSON (swagger.yaml's AdminCreateTenant, Tenant…). */
export class TenantsApi {
  constructor(private readonly transport: Transport) {}

  /** Not retried after a network failure: a second create of a name that was created is 409. */
  create(body: CreateTenantBody, o: CallOptions = {}): Promise<Tenant> {
    return this.transport.json({
      method: 'POST',
      path: '/api/admin/tenants',
      json: body,
      idempotent: false,
      signal: o.signal,
    });
  }

  page(o: TenantListOptions = {}): Promise<TenantPage> {
    return this.transport.json({
      method: 'GET',
      path: '/api/admin/tenants',
      query: { prefix: o.prefix || undefined, limit: o.limit, cursor: o.cursor },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Every tenant (under the prefix), in creation order, page after page. */
  async *list(o: TenantListOptions = {}): AsyncGenerator<Tenant> {
    let cursor = o.cursor;
    for (;;) {
      const page = await this.page({ ...o, cursor });
      yield* page.tenants;
      if (page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  get(id: number, o: CallOptions = {}): Promise<Tenant> {
    return this.transport.json({ method: 'GET', path: tenantPath(id), idempotent: true, signal: o.signal });
  }

  /**
   * Quota (`provisioned_capacity`), `suspended`, `password`, `history_depth`, `rate_limit_rps` /
   * `rate_limit_burst`, `read_only`. Not retried after a network failure: each change is one audit entry.
   */
  update(id: number, body: UpdateTenantBody, o: CallOptions = {}): Promise<Tenant> {
    return this.transport.json({
      method: 'PATCH',
      path: tenantPath(id),
      json: body,
      idempotent: false,
      signal: o.signal,
    });
  }

  suspend(id: number, o: CallOptions = {}): Promise<Tenant> {
    return this.update(id, { suspended: true }, o);
  }

  resume(id: number, o: CallOptions = {}): Promise<Tenant> {
    return this.update(id, { suspended: false }, o);
  }

  /** Repeating it finishes a deletion cut short, so it is retried like any idempotent call. */
  async delete(id: number, o: CallOptions = {}): Promise<void> {
    await this.transport.text({ method: 'DELETE', path: tenantPath(id), idempotent: true, signal: o.signal });
  }

  /** Any tenant's live objects (suspended or read-only ones too) as NDJSON bytes. */
  async exportStream(id: number, o: ExportOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.transport.open({
      method: 'GET',
      path: `${tenantPath(id)}/export`,
      query: { prefix: o.prefix || undefined },
      idempotent: true,
      signal: o.signal,
    });
    return res.body as ReadableStream<Uint8Array>;
  }

  async *export(id: number, o: ExportOptions = {}): AsyncGenerator<ExportLine> {
    yield* ndjson<ExportLine>(await this.exportStream(id, o), o.signal);
  }
}

/** A tenant's API tokens: the secret is in `create`'s answer only. */
export class TokensApi {
  constructor(private readonly transport: Transport) {}

  create(tenantId: number, body: CreateTokenBody, o: CallOptions = {}): Promise<TokenCreated> {
    return this.transport.json({
      method: 'POST',
      path: `${tenantPath(tenantId)}/tokens`,
      json: body,
      idempotent: false,
      signal: o.signal,
    });
  }

  /** The unrevoked, unexpired tokens, newest first. */
  async list(tenantId: number, o: CallOptions = {}): Promise<TokenInfo[]> {
    const answer = await this.transport.json<{ tokens: TokenInfo[] }>({
      method: 'GET',
      path: `${tenantPath(tenantId)}/tokens`,
      idempotent: true,
      signal: o.signal,
    });
    return answer.tokens;
  }

  async revoke(tenantId: number, tokenId: string, o: CallOptions = {}): Promise<void> {
    await this.transport.text({
      method: 'DELETE',
      path: `${tenantPath(tenantId)}/tokens/${encodeURIComponent(tokenId)}`,
      idempotent: false,
      signal: o.signal,
    });
  }
}

/** The audit log of admin actions and admin authentication failures, and its hash chain's check. */
export class AuditApi {
  constructor(private readonly transport: Transport) {}

  page(o: AuditOptions = {}): Promise<AuditPage> {
    return this.transport.json({
      method: 'GET',
      path: '/api/admin/audit',
      query: { since: o.since, limit: o.limit },
      idempotent: true,
      signal: o.signal,
    });
  }

  /** Every entry after `since`, in id order, up to the end of the log as it is when the walk reaches it. */
  async *entries(o: AuditOptions = {}): AsyncGenerator<AuditEntry> {
    let since = o.since ?? 0;
    for (;;) {
      const page = await this.page({ ...o, since });
      if (page.entries.length === 0) return;
      yield* page.entries;
      since = page.next_since;
    }
  }

  verify(o: CallOptions = {}): Promise<AuditVerdict> {
    return this.transport.json({ method: 'GET', path: '/api/admin/audit/verify', idempotent: true, signal: o.signal });
  }
}

/** An operator's view of tenantkv, with an admin key: tenants, their tokens, the audit log, the metrics. */
export class TenantKvAdmin {
  readonly tenants: TenantsApi;
  readonly tokens: TokensApi;
  readonly audit: AuditApi;
  private readonly transport: Transport;

  constructor(options: TenantKvAdminOptions) {
    if (!options.adminKey) throw new TypeError('adminKey is required');
    this.transport = new Transport(options, () => `Bearer ${options.adminKey}`);
    this.tenants = new TenantsApi(this.transport);
    this.tokens = new TokensApi(this.transport);
    this.audit = new AuditApi(this.transport);
  }

  /** The instance's Prometheus metrics, as text. */
  async metrics(o: CallOptions = {}): Promise<string> {
    return (await this.transport.text({ method: 'GET', path: '/metrics', idempotent: true, signal: o.signal })).text;
  }
}
