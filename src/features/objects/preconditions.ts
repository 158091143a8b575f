import type { Request, Response } from 'express';
import { AppError } from '../../platform/errors';
import type { FailedPrecondition, Precondition } from './write-model';

/** At most this many entity tags in one If-Match or If-None-Match list. */
const MAX_TAGS = 32;

/** An object's entity tag: its version, quoted (RFC 9110 §8.8.3). */
export function etag(version: number): string {
  return `"${version}"`;
}

/**
 * `*`, or a list of entity tags (`"5", "7"`) as versions. Weak tags (`W/"5"`) never match a write's strong
 * comparison, so they are refused rather than silently never matching.
 */
function parseTags(header: string, name: string): '*' | number[] {
  const value = header.trim();
  if (value === '*') return '*';
  const versions = value.split(',').map((part) => {
    const match = /^"(\d{1,15})"$/.exec(part.trim());
    if (!match) {
      throw AppError.badRequest(`${name}: expected * or a list of "<version>" entity tags`, 'INVALID_PRECONDITION');
    }
    return Number(match[1]);
  });
  if (versions.length > MAX_TAGS) {
    throw AppError.badRequest(`${name}: at most ${MAX_TAGS} entity tags`, 'INVALID_PRECONDITION');
  }
  return versions;
}

/** The precondition a write's If-Match / If-None-Match headers ask for, if any. */
export function writePrecondition(req: Request): Precondition | undefined {
  const ifMatch = req.get('if-match');
  const ifNoneMatch = req.get('if-none-match');
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw AppError.badRequest('send If-Match or If-None-Match, not both', 'INVALID_PRECONDITION');
  }
  if (ifMatch !== undefined) {
    const tags = parseTags(ifMatch, 'If-Match');
    return tags === '*' ? { kind: 'exists' } : { kind: 'version', versions: tags };
  }
  if (ifNoneMatch !== undefined) {
    if (parseTags(ifNoneMatch, 'If-None-Match') !== '*') {
      throw AppError.badRequest('If-None-Match on a write: only * (create only if absent)', 'INVALID_PRECONDITION');
    }
    return { kind: 'absent' };
  }
  return undefined;
}

/** True when a read's If-None-Match names the version the client already has (answer 304). */
export function notModified(req: Request, version: number): boolean {
  const header = req.get('if-none-match');
  if (header === undefined) return false;
  const tags = parseTags(header, 'If-None-Match');
  return tags === '*' || tags.includes(version);
}

/** 412: nothing was written; the body says what each failed key's version is now (null: absent). */
export function preconditionFailed(failed: FailedPrecondition[], single: boolean): AppError {
  const details = single
    ? { current_version: failed[0].currentVersion }
    : { failed: failed.map((f) => ({ key: f.key, current_version: f.currentVersion })) };
  return new AppError('PRECONDITION_FAILED', single ? 'precondition failed' : 'a precondition of the batch failed', {
    details,
  });
}

export function setEtag(res: Response, version: number): void {
  res.set('ETag', etag(version));
}
