import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Passport } from 'passport';
import { Strategy as JwtStrategy, type StrategyOptionsWithRequest } from 'passport-jwt';
import { AppError } from '../../platform/errors';
import type { Principal, Scope } from '../../platform/principal';
import { JWT_ALGORITHM, type TokenService } from './token-service';
import type { TenantAccess } from './tenant-access';

/** `Authorization: Bearer <jwt>`, or the bare `<jwt>` that the Go service's clients send. */
export function tokenFromRequest(req: Request): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^bearer\s+(.+)$/i.exec(header.trim());
  const token = (match ? match[1] : header).trim();
  return token === '' ? null : token;
}

/** Verified tokens remembered at most, so that a flood of distinct tokens cannot grow memory without bound. */
const MAX_VERIFIED = 50_000;

/**
 * Tenant authentication with passport-jwt: HS256 only (so `alg: none` and key-confusion tokens fail), the
 * tenant id taken from the verified token alone, every failure a JSON 401; then TenantAccess says whether
 * the tenant and the token are still in good standing (403 suspended, 401 revoked), on every request.
 *
 * A token passport has verified is remembered until its `exp`, so that a client's next requests skip the
 * signature check and its parsing (a third of a GET's CPU when measured); only tokens with a valid signature
 * are ever remembered, keyed by the whole token string.
 */
export function createTenantAuth(tokens: TokenService, access: TenantAccess): (scope: Scope) => RequestHandler {
  const verified = new Map<string, { principal: Principal; expiresAtMs: number }>();
  const passport = new Passport();
  const options: StrategyOptionsWithRequest = {
    jwtFromRequest: tokenFromRequest,
    // passport-jwt hands the key to jsonwebtoken untouched; its types predate KeyObject, which is what keeps
    // verification fast (see TokenService).
    secretOrKey: tokens.verificationKey as unknown as Buffer,
    algorithms: [JWT_ALGORITHM],
    passReqToCallback: true,
  };
  passport.use(
    new JwtStrategy(
      options,
      (req: Request, payload: unknown, done: (err: unknown, user?: Express.User | false) => void) => {
        const principal = tokens.principalOf(payload);
        if (!principal) return done(null, false);
        const exp = (payload as { exp?: unknown }).exp;
        if (verified.size >= MAX_VERIFIED) verified.clear();
        verified.set(tokenFromRequest(req) as string, {
          principal,
          expiresAtMs: typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY,
        });
        done(null, principal);
      },
    ),
  );

  const allow = (req: Request, principal: Principal, scope: Scope, next: NextFunction): void => {
    if (!principal.scopes.includes(scope)) {
      return next(new AppError('INSUFFICIENT_SCOPE', `this token does not have the ${scope} scope`));
    }
    if (scope === 'write') {
      const refusal = access.writeRefusal(principal.tenantId);
      if (refusal) return next(refusal);
    }
    req.user = principal;
    next();
  };

  const admit = (req: Request, principal: Principal, scope: Scope, next: NextFunction): void => {
    const known = access.verdictFromCache(principal);
    if (known === undefined) {
      access.authorize(principal).then(() => allow(req, principal, scope, next), next);
      return;
    }
    if (known) return next(known);
    allow(req, principal, scope, next);
  };

  return (scope) => (req: Request, res: Response, next: NextFunction) => {
    const token = tokenFromRequest(req);
    const remembered = token === null ? undefined : verified.get(token);
    if (remembered && remembered.expiresAtMs > Date.now()) return admit(req, remembered.principal, scope, next);
    passport.authenticate('jwt', { session: false }, (err: unknown, principal: Express.User | false) => {
      if (err) return next(err);
      if (!principal) return next(AppError.unauthorized('missing, invalid or expired token'));
      admit(req, principal, scope, next);
    })(req, res, next);
  };
}
