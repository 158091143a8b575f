import type { Config } from '../../platform/config';
import { AppError, serviceReadOnly, tenantSuspended } from '../../platform/errors';
import { rfc3339, type Clock } from '../../platform/clock';
import type { TenantCredentials, TenantRepository } from '../tenants';
import { DECOY_HASH, hashPassword, verifyPassword } from './password';
import { LOGIN_SCOPES, type TokenService } from './token-service';

/** The register body as the schema admits it: the Go service's field names and their camelCase aliases. */
export interface RegisterRequest {
  user_name?: string;
  name?: string;
  password: string;
  provisioned_capacity?: number;
  provisionedCapacity?: number;
}

export interface LoginRequest {
  user_name?: string;
  name?: string;
  password: string;
}

const INVALID_LOGIN = 'invalid username/password';

/** Throttles password guessing and mass registration (features/rate-limit); its methods throw 429 RATE_LIMITED. */
export interface LoginGuard {
  takeLoginAttempt(userName: string, address: string): Promise<void>;
  returnLoginAttempt(userName: string, address: string): void;
  takeRegistration(address: string): Promise<void>;
  returnRegistration(address: string): void;
}

export class AuthService {
  constructor(
    private readonly config: Config,
    private readonly tenants: TenantRepository,
    private readonly tokens: TokenService,
    private readonly clock: Clock,
    private readonly guard: LoginGuard,
  ) {}

  async register(
    body: RegisterRequest,
    address: string,
  ): Promise<{ id: number; user_name: string; provisioned_capacity: number }> {
    if (!this.config.selfRegistration) {
      throw new AppError('REGISTRATION_DISABLED', 'self-registration is disabled; ask an operator for an account');
    }
    if (this.config.readOnly) throw serviceReadOnly();
    await this.guard.takeRegistration(address);
    const userName = (body.user_name ?? body.name) as string;
    const requested = body.provisioned_capacity ?? body.provisionedCapacity ?? 0;
    if (!Number.isSafeInteger(requested) || requested < 0) {
      throw AppError.badRequest('provisioned_capacity must be a whole number of bytes ≥ 0', 'INVALID_CAPACITY');
    }
    const capacity = requested === 0 ? this.config.defaultCapacityBytes : requested;
    if (capacity > this.config.selfRegistrationMaxBytes) {
      throw AppError.badRequest(
        `provisioned_capacity may be at most ${this.config.selfRegistrationMaxBytes} bytes at self-registration`,
        'INVALID_CAPACITY',
      );
    }
    let id: number | undefined;
    try {
      const passwordHash = await hashPassword(body.password);
      id = await this.tenants.create(
        { userName, passwordHash, provisioned: capacity, historyDepth: this.config.historyDepth },
        this.clock.nowMs(),
      );
    } catch (err) {
      // Not the client's failure (the database unreachable, busy), as for logins.
      this.guard.returnRegistration(address);
      throw err;
    }
    // 400, not USER_EXISTS's 409: the Go service's clients expect it.
    if (id === undefined) throw new AppError('USER_EXISTS', 'user already exists', { status: 400 });
    this.guard.returnRegistration(address);
    return { id, user_name: userName, provisioned_capacity: capacity };
  }

  /** Every field of the answer is a string: the Go clients decode it into a map of strings. */
  async login(body: LoginRequest, address: string): Promise<{ token: string; expires_at: string }> {
    const userName = (body.user_name ?? body.name) as string;
    await this.guard.takeLoginAttempt(userName, address);
    let tenant: TenantCredentials | undefined;
    let valid: boolean;
    try {
      tenant = await this.tenants.findCredentials(userName);
      // Hash even for an unknown user, so that timing does not tell which user names exist.
      valid = await verifyPassword(body.password, tenant?.passwordHash ?? DECOY_HASH);
    } catch (err) {
      // Not checked (the database unreachable, busy): not a failure, or clients retrying an outage lock users out.
      this.guard.returnLoginAttempt(userName, address);
      throw err;
    }
    if (!tenant || tenant.passwordHash === null || !valid) {
      throw AppError.badRequest(INVALID_LOGIN, 'INVALID_CREDENTIALS');
    }
    this.guard.returnLoginAttempt(userName, address);
    if (tenant.suspended) throw tenantSuspended();
    const { token, expiresAt } = this.tokens.issue(
      { tenantId: tenant.id, scopes: LOGIN_SCOPES, tokenVersion: tenant.tokenVersion },
      this.clock.nowSeconds(),
    );
    return { token, expires_at: rfc3339(expiresAt.getTime()) };
  }
}
