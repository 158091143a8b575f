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

/**
 * Admin routes take only an admin key from ADMIN_API_KEYS (several, so a key can be rotated without
 * downtime), compared in constant time. No key configured: 503, never open. A tenant's JWT: 403.
 */
export function createAdminAuth(adminKeys: string[], tokens: TokenService): RequestHandler {
  const digests = adminKeys.map(sha256);
  return (req, res, next) => {
    if (digests.length === 0) {
      return next(
        new AppError(
          'ADMIN_DISABLED',
          'the admin API is disabled: set ADMIN_API_KEYS to one or more comma-separated keys of at least 16 characters',
        ),
      );
    }
    const presented = tokenFromRequest(req);
    if (presented === null) return next(AppError.unauthorized('an admin key is required: Authorization: Bearer <key>'));
    const digest = sha256(presented);
    // Compare against every key, whatever matched, so timing says nothing about which key or how much.
    let matched = false;
    for (const candidate of digests) matched = crypto.timingSafeEqual(candidate, digest) || matched;
    if (matched) {
      res.locals.adminKey = keyFingerprint(presented);
      return next();
    }
    if (isTenantToken(presented, tokens)) {
      return next(new AppError('ADMIN_KEY_REQUIRED', 'admin routes need an admin key, not a tenant token'));
    }
    next(AppError.unauthorized('invalid admin key'));
  };
}

function isTenantToken(token: string, tokens: TokenService): boolean {
  try {
    return tokens.principalOf(jwt.verify(token, tokens.verificationKey, { algorithms: [JWT_ALGORITHM] })) !== undefined;
  } catch {
    return false;
  }
}
