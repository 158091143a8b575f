import { stringify as stringifyExact } from 'lossless-json';
import { AppError } from '../../platform/errors';
import { nestingExceeds, numbersIn } from '../../platform/json';

/**
 * Pure rules about what may be stored. The request schemas in swagger.yaml already hold the shape of a key
 * (1–MAX_KEY_LENGTH code points, no control characters) and of metadata (an object); what JSON Schema cannot
 * say lives here.
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
  return serialize(value, limits, 'value', 'VALUE_TOO_LARGE');
}

/** The stored form of a metadata object: compact JSON, at most MAX_METADATA_BYTES of it. */
export function serializeMetadata(metadata: unknown, limits: ValueLimits): { text: string; size: number } {
  return serialize(metadata, limits, 'metadata', 'METADATA_TOO_LARGE');
}

function serialize(
  json: unknown,
  limits: ValueLimits,
  what: 'value' | 'metadata',
  tooLarge: 'VALUE_TOO_LARGE' | 'METADATA_TOO_LARGE',
): { text: string; size: number } {
  if (nestingExceeds(json, limits.maxDepth)) {
    throw AppError.badRequest(`${what} is nested deeper than ${limits.maxDepth} levels`, 'VALUE_TOO_DEEP');
  }
  const numbers = numbersIn(json);
  if (numbers.nonFinite) {
    throw AppError.badRequest(`${what} holds a number outside the range of a double (e.g. 1e400)`, 'INVALID_VALUE');
  }
  const text = numbers.exact ? (stringifyExact(json) as string) : JSON.stringify(json);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limits.maxBytes) {
    throw AppError.badRequest(`${what} is ${size} bytes, over the limit of ${limits.maxBytes} bytes`, tooLarge);
  }
  return { text, size };
}

/**
 * A request's expiry as stored (unix seconds, or null for never): the absolute `ttl` (0 or absent for never),
 * or `expires_in` seconds from now; not both.
 */
export function expiryOf(ttl: number | undefined, expiresIn: number | undefined, nowSeconds: number): number | null {
  if (expiresIn !== undefined) {
    if (ttl !== undefined) {
      throw AppError.badRequest(
        'send ttl (absolute unix seconds) or expires_in (seconds from now), not both',
        'INVALID_TTL',
      );
    }
    if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || !Number.isSafeInteger(nowSeconds + expiresIn)) {
      throw AppError.badRequest('expires_in must be a whole number of seconds, at least 1', 'INVALID_TTL');
    }
    return nowSeconds + expiresIn;
  }
  if (ttl === undefined || ttl === 0) return null;
  if (!Number.isSafeInteger(ttl) || ttl < 0) {
    throw AppError.badRequest('ttl must be an integer number of unix seconds, or 0 for never', 'INVALID_TTL');
  }
  if (ttl <= nowSeconds)
    throw AppError.badRequest('ttl must be in the future (unix seconds), or 0 for never', 'INVALID_TTL');
  return ttl;
}

/** Seconds an object has left (0 for never), for readers: it is live, so at least 1 when it expires. */
export function expiresIn(expiresAt: number | null, nowSeconds: number): number {
  return expiresAt === null ? 0 : expiresAt - nowSeconds;
}
