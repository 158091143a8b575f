import crypto from 'node:crypto';
import { AppError } from './errors';

/**
 * Opaque page cursors: a position (any JSON) sealed with an HMAC over it and the scope it was issued for (a
 * tenant and a prefix, say). A cursor used in another scope, altered, or made up is refused with 400
 * INVALID_CURSOR; clients can only hand back what they were given.
 */
export interface CursorCodec {
  encode(position: unknown, scope: string): string;
  decode<T>(cursor: string, scope: string): T;
}

const TAG_BYTES = 16;

export function cursorCodec(secret: string): CursorCodec {
  const key = crypto.createHmac('sha256', secret).update('tenantkv page cursors').digest();
  const tag = (body: Buffer, scope: string): Buffer =>
    crypto.createHmac('sha256', key).update(scope).update('\0').update(body).digest().subarray(0, TAG_BYTES);
  const invalid = (): AppError =>
    AppError.badRequest('cursor: not one this service issued for this listing', 'INVALID_CURSOR');
  return {
    encode(position, scope) {
      const body = Buffer.from(JSON.stringify(position), 'utf8');
      return Buffer.concat([tag(body, scope), body]).toString('base64url');
    },
    decode<T>(cursor: string, scope: string): T {
      const raw = Buffer.from(cursor, 'base64url');
      if (raw.length <= TAG_BYTES) throw invalid();
      const body = raw.subarray(TAG_BYTES);
      if (!crypto.timingSafeEqual(raw.subarray(0, TAG_BYTES), tag(body, scope))) throw invalid();
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch {
        throw invalid();
      }
    },
  };
}
