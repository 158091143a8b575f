import { stringify as stringifyExact } from 'lossless-json';
import { AppError } from '../../platform/errors';
import { nestingExceeds, numbersIn } from '../../platform/json';

/**
 * Pure rules about what may be stored. The request schemas in swagger.yaml already hold the shape of a key
 * (1–32 code points, no control characters); what JSON Schema cannot say lives here.
 */

export interface ValueLimits {
  maxBytes: number;
  maxDepth: number;
}

/** Keys are stored as UTF-8: a lone surrogate has no UTF-8 form, so it cannot be a key. */
export function checkKey(key: string): void {
  if (!key.isWellFormed()) throw AppError.badRequest('key must be valid Unicode text', 'INVALID_KEY');
}

/** The stored form of a value and its size: its compact JSON text and that text's UTF-8 byte length. */
export function serializeValue(value: unknown, limits: ValueLimits): { text: string; size: number } {
  if (nestingExceeds(value, limits.maxDepth)) {
    throw AppError.badRequest(`value is nested deeper than ${limits.maxDepth} levels`, 'VALUE_TOO_DEEP');
  }
  const numbers = numbersIn(value);
  if (numbers.nonFinite) {
    throw AppError.badRequest('value holds a number outside the range of a double (e.g. 1e400)', 'INVALID_VALUE');
  }
  const text = numbers.exact ? (stringifyExact(value) as string) : JSON.stringify(value);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limits.maxBytes) {
    throw AppError.badRequest(`value is ${size} bytes, over the limit of ${limits.maxBytes} bytes`, 'VALUE_TOO_LARGE');
  }
  return { text, size };
}

/** A request's ttl (absolute unix seconds; 0 or absent for never) as the stored expiry, or null for never. */
export function expiryFromTtl(ttl: number | undefined, nowSeconds: number): number | null {
  if (ttl === undefined || ttl === 0) return null;
  if (!Number.isSafeInteger(ttl) || ttl < 0) {
    throw AppError.badRequest('ttl must be an integer number of unix seconds, or 0 for never', 'INVALID_TTL');
  }
  if (ttl <= nowSeconds)
    throw AppError.badRequest('ttl must be in the future (unix seconds), or 0 for never', 'INVALID_TTL');
  return ttl;
}

export function isExpired(expiresAt: number | null, nowSeconds: number): boolean {
  return expiresAt !== null && expiresAt <= nowSeconds;
}
