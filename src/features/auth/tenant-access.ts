import type { Config } from '../../platform/config';
import { AppError, serviceReadOnly, tenantGone, tenantReadOnly, tenantSuspended } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import type { Clock } from '../../platform/clock';
import type { Principal } from '../../platform/principal';
import type { WorkerBus } from '../../platform/worker-bus';
import type { AccessState, ApiTokenRepository, TenantRepository } from '../tenants';

/** What an operator changed: a tenant (suspension, password, deletion, …) or one API token. */
export interface AccessChange {
  tenantId?: number;
  tokenId?: string;
}

const ACCESS_CHANNEL = 'access';

interface TokenState {
  tenantId: number;
  revoked: boolean;
}

/** Rows changed this long before the last poll are read again: instances' clocks are never quite equal. */
const POLL_OVERLAP_MS = 60_000;
/** Past this many cached tenants or tokens the cache starts afresh rather than grow without bound. */
const MAX_ENTRIES = 200_000;

/**
 * Decides whether a verified token may still act: its tenant exists and is not suspended, a login token was
 * issued under the tenant's current token version, an API token has not been revoked. Answers from memory:
 * each process loads a tenant or token once, then polls for changes every AUTH_CACHE_SECONDS (at most 4), so a
 * suspension or revocation made on any instance takes effect everywhere within 5 seconds; on the instance that
 * made it, at once on every worker (the change goes over the worker bus before the operator is answered). A
 * token newer than what is cached (a login after a password change made elsewhere) reloads the tenant, never
 * fails. AUTH_CACHE_SECONDS=0 reads the database on every request instead.
 *
 * The same state carries the operator's limits on the tenant (read-only mode, its rate limit), which therefore
 * change everywhere as a suspension does.
 */
export class TenantAccess {
  private readonly tenants = new Map<number, AccessState | null>();
  private readonly tokens = new Map<string, TokenState | null>();
  private lastPollMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    private readonly tenantRepo: TenantRepository,
    private readonly tokenRepo: ApiTokenRepository,
    private readonly clock: Clock,
    private readonly bus: WorkerBus,
  ) {
    this.lastPollMs = clock.nowMs();
    bus.subscribe(ACCESS_CHANNEL, (change) => this.forget(change as AccessChange));
  }

  /**
   * The answer from memory alone: the 401 or 403 the principal has earned, null when it may act, or undefined
   * when this instance has not seen its tenant or token yet (then `authorize`).
   */
  verdictFromCache(principal: Principal): AppError | null | undefined {
    const tenant = this.cachedTenant(principal);
    if (tenant === undefined) return undefined;
    if (principal.tokenId !== undefined && !this.tokens.has(principal.tokenId)) return undefined;
    return verdict(principal, tenant, this.tokens.get(principal.tokenId ?? ''));
  }

  /** Throws the 401 or 403 that the principal has earned; resolves when it may act. */
  async authorize(principal: Principal): Promise<void> {
    const cached = this.cachedTenant(principal);
    const tenant = cached === undefined ? await this.loadTenant(principal.tenantId) : cached;
    let token: TokenState | null | undefined;
    if (principal.tokenId !== undefined) {
      token = this.tokens.has(principal.tokenId)
        ? this.tokens.get(principal.tokenId)
        : await this.loadToken(principal.tokenId);
    }
    const error = verdict(principal, tenant, token);
    if (error) throw error;
  }

  /**
   * The tenant's state as this process last read it: after a request of the tenant was authorized, always there
   * (with AUTH_CACHE_SECONDS=0 too, where it is what that request read).
   */
  cachedState(tenantId: number): AccessState | undefined {
    return this.tenants.get(tenantId) ?? undefined;
  }

  /**
   * Throws what a write of the principal's earns now (a suspension, a revocation, read-only mode), reading again
   * what this process was told to forget: for work that outlasts its request's admission (an import's chunks).
   */
  async admitWrite(principal: Principal): Promise<void> {
    await this.authorize(principal);
    const refusal = this.writeRefusal(principal.tenantId);
    if (refusal) throw refusal;
  }

  /** Why a write of this tenant's, once authorized, is refused now (instance or tenant read-only), or null. */
  writeRefusal(tenantId: number): AppError | null {
    if (this.config.readOnly) return serviceReadOnly();
    return this.tenants.get(tenantId)?.readOnly ? tenantReadOnly() : null;
  }

  /**
   * After an operator changed a tenant or revoked a token through this process: every worker of this instance
   * forgets what it knew, and reads it again on its next request. Resolves once they all have.
   */
  changed(change: AccessChange): Promise<void> {
    this.forget(change);
    return this.bus.publish(ACCESS_CHANNEL, change);
  }

  private forget(change: AccessChange): void {
    if (change.tenantId !== undefined) this.tenants.delete(change.tenantId);
    if (change.tokenId !== undefined) this.tokens.delete(change.tokenId);
  }

  /**
   * What this process holds of the principal's tenant: the state, null for "no such tenant", or undefined when
   * it must be read (never seen, or the token was issued under a newer token version than the one held).
   */
  private cachedTenant(principal: Principal): AccessState | null | undefined {
    if (this.config.authCacheSeconds === 0) return undefined;
    const tenant = this.tenants.get(principal.tenantId);
    if (tenant === undefined) return undefined;
    if (tenant !== null && principal.tokenId === undefined && principal.tokenVersion > tenant.tokenVersion) {
      return undefined;
    }
    return tenant;
  }

  /** One poll: re-reads the tenants and tokens that changed since the last poll (with overlap). */
  async refresh(): Promise<void> {
    const startedAt = this.clock.nowMs();
    const since = this.lastPollMs - POLL_OVERLAP_MS;
    const [changed, revoked] = await Promise.all([
      this.tenantRepo.changedSince(since),
      this.tokenRepo.revokedSince(since),
    ]);
    for (const state of changed) if (this.tenants.has(state.id)) this.tenants.set(state.id, state);
    for (const id of revoked) {
      const token = this.tokens.get(id);
      if (token) token.revoked = true;
    }
    this.lastPollMs = startedAt;
  }

  startPolling(logger: Logger): void {
    if (this.config.authCacheSeconds === 0) return;
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => logger.error({ err }, 'tenant access refresh failed'));
    }, this.config.authCacheSeconds * 1000);
    this.timer.unref();
  }

  stopPolling(): void {
    clearInterval(this.timer);
  }

  private async loadTenant(id: number): Promise<AccessState | null> {
    const state = (await this.tenantRepo.accessState(id)) ?? null;
    // Kept even when not trusted for the next request (AUTH_CACHE_SECONDS=0): this request's limits read it.
    remember(this.tenants, id, state);
    return state;
  }

  private async loadToken(id: string): Promise<TokenState | null> {
    const record = await this.tokenRepo.find(id);
    const state = record ? { tenantId: record.tenantId, revoked: record.revoked } : null;
    if (this.config.authCacheSeconds > 0) remember(this.tokens, id, state);
    return state;
  }
}

function verdict(
  principal: Principal,
  tenant: AccessState | null,
  token: TokenState | null | undefined,
): AppError | null {
  if (!tenant || tenant.deleted) return tenantGone();
  if (tenant.suspended) return tenantSuspended();
  if (principal.tokenId === undefined) {
    return principal.tokenVersion === tenant.tokenVersion ? null : AppError.unauthorized('token has been revoked');
  }
  if (!token || token.revoked || token.tenantId !== principal.tenantId) {
    return AppError.unauthorized('token has been revoked');
  }
  return null;
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_ENTRIES) map.clear();
  map.set(key, value);
}
