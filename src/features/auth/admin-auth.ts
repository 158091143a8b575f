import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import jwt from 'jsonwebtoken';
import { AppError } from '../../platform/errors';
import { JWT_ALGORITHM, type TokenService } from './token-service';
import { tokenFromRequest } from './tenant-auth';

const sha256 = (text: string): Buffer => crypto.createHash('sha256').update(text).digest();

/** A short, stable, non-reversible name for an admin key, for logs. */
export function keyFingerprint(key: string): string {
  return sha256(key).toString('hex').slice(0, 12);
}

/** A refused admin request, for the audit log: why, the fingerprint of what was sent (null: nothing), from where. */
export interface AdminAuthFailure {
  reason: 'missing_key' | 'invalid_key' | 'tenant_token';
  actor: string | null;
  address: string | null;
}

/**
 * Admin routes take only an admin key from ADMIN_API_KEYS (several, so a key can be rotated without
 * downtime), compared in constant time. No key configured: 503, never open. A tenant's JWT: 403. The matched
 * key's fingerprint is `res.locals.adminKey` for the handler; every refusal goes to `refused` (which never
 * rejects) before it is answered.
 */
export function createAdminAuth(
  adminKeys: string[],
  tokens: TokenService,
  refused: (failure: AdminAuthFailure) => Promise<void>,
): RequestHandler {
  const digests = adminKeys.map(sha256);
  return async (req, res, next) => {
    if (digests.length === 0) {
      return next(
        new AppError(
          'ADMIN_DISABLED',
          'the admin API is disabled: set ADMIN_API_KEYS to one or more comma-separated keys of at least 16 characters',
        ),
      );
    }
    const presented = tokenFromRequest(req);
    const refuse = async (reason: AdminAuthFailure['reason'], error: AppError): Promise<void> => {
      await refused({ reason, actor: presented === null ? null : keyFingerprint(presented), address: req.ip ?? null });
      next(error);
    };
    if (presented === null) {
      return refuse('missing_key', AppError.unauthorized('an admin key is required: Authorization: Bearer <key>'));
    }
    const digest = sha256(presented);
    // Compare against every key, whatever matched, so timing says nothing about which key or how much.
    let matched = false;
    for (const candidate of digests) matched = crypto.timingSafeEqual(candidate, digest) || matched;
    if (matched) {
      res.locals.adminKey = keyFingerprint(presented);
      return next();
    }
    if (isTenantToken(presented, tokens)) {
      return refuse(
        'tenant_token',
        new AppError('ADMIN_KEY_REQUIRED', 'admin routes need an admin key, not a tenant token'),
      );
    }
    return refuse('invalid_key', AppError.unauthorized('invalid admin key'));
  };
}

function isTenantToken(token: string, tokens: TokenService): boolean {
  try {
    return tokens.principalOf(jwt.verify(token, tokens.verificationKey, { algorithms: [JWT_ALGORITHM] })) !== undefined;
  } catch {
    return false;
  }
}
