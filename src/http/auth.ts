import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Passport } from 'passport';
import { Strategy as JwtStrategy, type StrategyOptionsWithoutRequest } from 'passport-jwt';
import { AppError } from '../errors';
import { JWT_ALGORITHM, type Principal, type Scope, type TokenService } from '../service/token-service';
import type { TenantAccess } from '../service/tenant-access';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends Principal {}
  }
}

/** `Authorization: Bearer <jwt>`, or the bare `<jwt>` that the Go service's clients send. */
export function tokenFromRequest(req: Request): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^bearer\s+(.+)$/i.exec(header.trim());
  const token = (match ? match[1] : header).trim();
  return token === '' ? null : token;
}

/**
 * Tenant authentication with passport-jwt: HS256 only (so `alg: none` and key-confusion tokens fail), the
 * tenant id taken from the verified token alone, every failure a JSON 401; then TenantAccess says whether
 * the tenant and the token are still in good standing (403 suspended, 401 revoked).
 */
export function createTenantAuth(tokens: TokenService, access: TenantAccess): (scope: Scope) => RequestHandler {
  const passport = new Passport();
  const options: StrategyOptionsWithoutRequest = {
    jwtFromRequest: tokenFromRequest,
    // passport-jwt hands the key to jsonwebtoken untouched; its types predate KeyObject, which is what keeps
    // verification fast (see TokenService).
    secretOrKey: tokens.verificationKey as unknown as Buffer,
    algorithms: [JWT_ALGORITHM],
  };
  passport.use(
    new JwtStrategy(options, (payload: unknown, done: (err: unknown, user?: Express.User | false) => void) => {
      const principal = tokens.principalOf(payload);
      if (!principal) return done(null, false);
      access.authorize(principal).then(
        () => done(null, principal),
        (err: unknown) => done(err),
      );
    }),
  );
  return (scope) => (req: Request, res: Response, next: NextFunction) => {
    passport.authenticate('jwt', { session: false }, (err: unknown, principal: Express.User | false) => {
      if (err) return next(err);
      if (!principal) return next(AppError.unauthorized('missing, invalid or expired token'));
      if (!principal.scopes.includes(scope)) {
        return next(AppError.forbidden(`this token does not have the ${scope} scope`, 'INSUFFICIENT_SCOPE'));
      }
      req.user = principal;
      next();
    })(req, res, next);
  };
}
