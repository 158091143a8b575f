import crypto from 'node:crypto';
import type { Config } from '../../platform/config';
import { AppError } from '../../platform/errors';
import { momentOf, rfc3339, type Clock } from '../../platform/clock';
import type { Scope } from '../../platform/principal';
import type { UnitOfWork } from '../../platform/db/unit-of-work';
import type { WritePipeline } from '../objects';
import type { ChangesRepository } from '../changes';
import type {
  ApiTokenRecord,
  ApiTokenRepository,
  OperatingLimits,
  TenantChanges,
  TenantRecord,
  TenantRepository,
} from '../tenants';
import { hashPassword, type TenantAccess, type TokenService } from '../auth';
import type { AuditAction, AuditActor, AuditFields, AuditRepository, AuditService } from '../audit';

export interface TenantView {
  id: number;
  user_name: string;
  provisioned: number;
  utilised: number;
  objects: number;
  suspended: boolean;
  history_depth: number;
  history_bytes: number;
  rate_limit_rps: number | null;
  rate_limit_burst: number | null;
  read_only: boolean;
  created_at: string;
}

/** The operating limits an operator sets on create or update; null puts a rate back to the instance default. */
interface LimitFields {
  rate_limit_rps?: number | null;
  rate_limit_burst?: number | null;
  read_only?: boolean;
}

export interface CreateTenantRequest extends LimitFields {
  user_name: string;
  password?: string;
  provisioned_capacity: number;
  history_depth?: number;
}

export interface UpdateTenantRequest extends LimitFields {
  provisioned_capacity?: number;
  suspended?: boolean;
  password?: string;
  history_depth?: number;
}

export interface CreateTokenRequest {
  scopes: Scope[];
  expires_in?: number;
  name?: string;
}

export interface TokenView {
  id: string;
  name: string | null;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
}

export interface ListTenantsQuery {
  limit?: number;
  cursor?: string;
  prefix?: string;
}

const DEFAULT_PAGE = 50;
/** How long a deleted tenant's row stays, so that every instance's access cache learns of the deletion. */
const TOMBSTONE_MS = 60 * 60 * 1000;

const tenantNotFound = (): AppError => new AppError('TENANT_NOT_FOUND', 'tenant not found');

/** The repositories of an admin action's transaction: the change and its audit row commit together. */
export interface AdminUnit {
  tenants: TenantRepository;
  apiTokens: ApiTokenRepository;
  audit: AuditRepository;
}

/** What an audited action did, for its audit row: its target and the changed fields before and after. */
interface Audited<T> {
  result: T;
  target: string;
  before?: AuditFields;
  after?: AuditFields;
}

/** How a password appears in the audit log: never its value, nor its hash. */
const PASSWORD_CHANGED = 'changed';

/** Operators' rules: provisioning tenants and quotas, suspension, deletion, API tokens. */
export class AdminService {
  constructor(
    private readonly config: Config,
    private readonly tenants: TenantRepository,
    private readonly unit: UnitOfWork<AdminUnit>,
    private readonly audit: AuditService,
    private readonly pipeline: WritePipeline,
    private readonly changes: ChangesRepository,
    private readonly apiTokens: ApiTokenRepository,
    private readonly tokens: TokenService,
    private readonly access: TenantAccess,
    private readonly clock: Clock,
  ) {}

  async createTenant(actor: AuditActor, body: CreateTenantRequest): Promise<TenantView> {
    const passwordHash = body.password === undefined ? null : await hashPassword(body.password);
    const created = await this.audited(actor, 'tenant.create', async ({ tenants }) => {
      const id = await tenants.create(
        {
          userName: body.user_name,
          passwordHash,
          provisioned: body.provisioned_capacity,
          historyDepth: body.history_depth ?? this.config.historyDepth,
          limits: operatingLimits(body),
        },
        this.clock.nowMs(),
      );
      if (id === undefined) throw new AppError('USER_EXISTS', 'user already exists');
      const record = await lockTenant(tenants, id);
      const after = withPassword(body.password, { user_name: record.userName, ...tenantFields(record) });
      return { result: record, target: tenantTarget(id), after };
    });
    return tenantView(created);
  }

  async getTenant(id: number): Promise<TenantView> {
    const record = await this.tenants.find(id);
    if (!record) throw tenantNotFound();
    return tenantView(record);
  }

  /** A page in creation order; the cursor is opaque to clients and null on the last page. */
  async listTenants(query: ListTenantsQuery): Promise<{ tenants: TenantView[]; next_cursor: string | null }> {
    const limit = query.limit ?? DEFAULT_PAGE;
    const afterId = query.cursor === undefined ? 0 : decodeCursor(query.cursor);
    const page = await this.tenants.list(limit + 1, afterId, query.prefix);
    const more = page.length > limit;
    const tenants = page.slice(0, limit).map(tenantView);
    return { tenants, next_cursor: more ? encodeCursor(tenants[tenants.length - 1].id) : null };
  }

  async updateTenant(actor: AuditActor, id: number, body: UpdateTenantRequest): Promise<TenantView> {
    const changes: TenantChanges = operatingLimits(body);
    if (body.provisioned_capacity !== undefined) changes.provisioned = body.provisioned_capacity;
    if (body.suspended !== undefined) changes.suspended = body.suspended;
    if (body.history_depth !== undefined) changes.historyDepth = body.history_depth;
    if (body.password !== undefined) changes.passwordHash = await hashPassword(body.password);
    const updated = await this.audited(actor, updateAction(body), async ({ tenants }) => {
      const before = await lockTenant(tenants, id);
      await tenants.update(id, changes, this.clock.nowMs());
      const after = await lockTenant(tenants, id);
      return { result: after, target: tenantTarget(id), ...changedFields(before, after, body.password) };
    });
    await this.access.changed({ tenantId: id });
    return tenantView(updated);
  }

  /**
   * Marks the tenant deleted (every instance refuses it from then on), then removes its objects in chunks
   * of PURGE_CHUNK_ROWS so that no statement locks many rows, then its tokens. Its row stays an hour as a
   * tombstone that other instances' polls see, then a later deletion sweeps it. A deletion cut short is
   * finished by repeating the DELETE.
   */
  async deleteTenant(actor: AuditActor, id: number): Promise<void> {
    const now = this.clock.nowMs();
    await this.audited(actor, 'tenant.delete', async ({ tenants }): Promise<Audited<void>> => {
      const before = await tenants.findForUpdate(id);
      if (!before) throw tenantNotFound();
      await tenants.markDeleted(id, now);
      const target = tenantTarget(id);
      // Repeated to finish a deletion cut short, it changes nothing more.
      if (before.deleted) return { result: undefined, target, before: {}, after: {} };
      return {
        result: undefined,
        target,
        before: { user_name: before.userName, deleted: false },
        after: { deleted: true },
      };
    });
    await this.access.changed({ tenantId: id });
    while ((await this.pipeline.removeTenantChunk(id, this.config.purgeChunkRows, momentOf(this.clock))) > 0);
    while ((await this.pipeline.removeTenantHistoryChunk(id, this.config.purgeChunkRows)) > 0);
    await this.changes.eraseTenant(id, this.config.purgeChunkRows);
    await this.tenants.removeTokens(id);
    await this.tenants.sweepTombstones(now - TOMBSTONE_MS);
  }

  async createToken(
    actor: AuditActor,
    tenantId: number,
    body: CreateTokenRequest,
  ): Promise<{ id: string; token: string; scopes: Scope[]; expires_at: string | null }> {
    const now = this.clock.nowSeconds();
    const id = `tok_${crypto.randomBytes(12).toString('hex')}`;
    const scopes: Scope[] = body.scopes.includes('write') ? ['read', 'write'] : ['read'];
    const lifetime = body.expires_in ?? null;
    const record = {
      id,
      tenantId,
      name: body.name ?? null,
      scopes,
      createdAtMs: this.clock.nowMs(),
      expiresAt: lifetime === null ? null : now + lifetime,
    };
    await this.audited(actor, 'token.create', async ({ tenants, apiTokens }) => {
      const tenant = await tenants.accessState(tenantId);
      if (!tenant || tenant.deleted) throw tenantNotFound();
      await apiTokens.create(record);
      const expiresAt = record.expiresAt === null ? null : rfc3339(record.expiresAt * 1000);
      const after = { tenant_id: tenantId, name: record.name, scopes, expires_at: expiresAt };
      return { result: undefined, target: tokenTarget(id), after };
    });
    const { token, expiresAt } = this.tokens.issue({ tenantId, scopes, tokenVersion: 0, tokenId: id }, now, lifetime);
    return { id, token, scopes, expires_at: expiresAt === null ? null : rfc3339(expiresAt.getTime()) };
  }

  async listTokens(tenantId: number): Promise<{ tokens: TokenView[] }> {
    await this.getTenant(tenantId);
    const tokens = await this.apiTokens.listActive(tenantId, this.clock.nowSeconds());
    return { tokens: tokens.map(tokenView) };
  }

  async revokeToken(actor: AuditActor, tenantId: number, tokenId: string): Promise<void> {
    await this.audited(actor, 'token.revoke', async ({ apiTokens }) => {
      if (!(await apiTokens.revoke(tenantId, tokenId, this.clock.nowMs()))) {
        throw new AppError('TOKEN_NOT_FOUND', 'token not found');
      }
      return { result: undefined, target: tokenTarget(tokenId), before: { revoked: false }, after: { revoked: true } };
    });
    await this.access.changed({ tokenId });
  }

  /**
   * Runs an admin action and appends its audit row in one transaction, so that the change and its record commit
   * together or not at all: an action that fails (404, 409) leaves neither.
   */
  private audited<T>(
    actor: AuditActor,
    action: AuditAction,
    work: (unit: AdminUnit) => Promise<Audited<T>>,
  ): Promise<T> {
    return this.unit.run(async (unit) => {
      const { result, target, before, after } = await work(unit);
      await this.audit.append(unit.audit, { actor, action, target, before: before ?? null, after: after ?? null });
      return result;
    });
  }
}

/** The live tenant's row, locked for the action's transaction; 404 when there is none. */
async function lockTenant(tenants: TenantRepository, id: number): Promise<TenantRecord> {
  const record = await tenants.findForUpdate(id);
  if (!record || record.deleted) throw tenantNotFound();
  return record;
}

const tenantTarget = (id: number): string => `tenant:${id}`;
const tokenTarget = (id: string): string => `token:${id}`;

/** What an operator sets on a tenant, named as the admin API names it. */
function tenantFields(r: TenantRecord): AuditFields {
  return {
    provisioned_capacity: r.provisioned,
    suspended: r.suspended,
    history_depth: r.historyDepth,
    rate_limit_rps: r.rateLimitRps,
    rate_limit_burst: r.rateLimitBurst,
    read_only: r.readOnly,
  };
}

/** The fields whose values differ, each side; a new password is recorded as changed, whatever it was. */
function changedFields(
  before: TenantRecord,
  after: TenantRecord,
  password: string | undefined,
): { before: AuditFields; after: AuditFields } {
  const was = tenantFields(before);
  const is = tenantFields(after);
  const changed = Object.keys(is).filter((field) => is[field] !== was[field]);
  return {
    before: Object.fromEntries(changed.map((field) => [field, was[field]])),
    after: withPassword(password, Object.fromEntries(changed.map((field) => [field, is[field]]))),
  };
}

function withPassword(password: string | undefined, fields: AuditFields): AuditFields {
  return password === undefined ? fields : { ...fields, password: PASSWORD_CHANGED };
}

/** The action a PATCH field is recorded under (`suspended` is tenant.suspend or tenant.resume by its value). */
const UPDATE_ACTIONS: Record<Exclude<keyof UpdateTenantRequest, 'suspended'>, AuditAction> = {
  provisioned_capacity: 'tenant.quota',
  password: 'tenant.password',
  history_depth: 'tenant.history',
  rate_limit_rps: 'tenant.rate_limit',
  rate_limit_burst: 'tenant.rate_limit',
  read_only: 'tenant.read_only',
};

/** A PATCH about one thing is recorded as that action; one about several, as tenant.update. */
function updateAction(body: UpdateTenantRequest): AuditAction {
  const actions = new Set(
    (Object.keys(body) as (keyof UpdateTenantRequest)[]).map((field) =>
      field === 'suspended' ? (body.suspended ? 'tenant.suspend' : 'tenant.resume') : UPDATE_ACTIONS[field],
    ),
  );
  return actions.size === 1 ? [...actions][0] : 'tenant.update';
}

function tenantView(r: TenantRecord): TenantView {
  return {
    id: r.id,
    user_name: r.userName,
    provisioned: r.provisioned,
    utilised: r.utilised,
    objects: r.objects,
    suspended: r.suspended,
    history_depth: r.historyDepth,
    history_bytes: r.historyBytes,
    rate_limit_rps: r.rateLimitRps,
    rate_limit_burst: r.rateLimitBurst,
    read_only: r.readOnly,
    created_at: rfc3339(r.createdAtMs),
  };
}

function operatingLimits(body: LimitFields): OperatingLimits {
  return { rateLimitRps: body.rate_limit_rps, rateLimitBurst: body.rate_limit_burst, readOnly: body.read_only };
}

function tokenView(r: ApiTokenRecord): TokenView {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    created_at: rfc3339(r.createdAtMs),
    expires_at: r.expiresAt === null ? null : rfc3339(r.expiresAt * 1000),
  };
}

function encodeCursor(lastId: number): string {
  return Buffer.from(`t:${lastId}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^t:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw AppError.badRequest('cursor is not one this service issued', 'INVALID_CURSOR');
  return Number(match[1]);
}
