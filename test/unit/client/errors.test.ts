import {
  BadRequestError,
  ConflictError,
  ERROR_CLASSES,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  PreconditionFailedError,
  QuotaExceededError,
  RateLimitedError,
  ReadOnlyError,
  RevisionCompactedError,
  TenantKvError,
  UnauthorizedError,
  UnavailableError,
} from '../../../packages/client/src';
import { errorFromResponse } from '../../../packages/client/src/errors';
import { ERROR_STATUS } from '../../../src/platform/error-codes';

/** The client's error classes follow the service's codes: every code it can send, none it cannot. */
describe('the client error classes', () => {
  it('name every code of src/platform/error-codes.ts, and only those', () => {
    expect(Object.keys(ERROR_CLASSES).sort()).toEqual(Object.keys(ERROR_STATUS).sort());
  });

  const familyOfStatus: Record<number, typeof TenantKvError> = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: RevisionCompactedError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
    503: UnavailableError,
  };

  it.each(Object.entries(ERROR_STATUS))('%s (%i) is an error of its status family', (code, status) => {
    const error = errorFromResponse(status, new Headers(), JSON.stringify({ message: 'm', status_code: status, code }));
    expect(error).toBeInstanceOf(familyOfStatus[status] ?? TenantKvError);
    expect([error.status, error.code, error.message]).toEqual([status, code, 'm']);
  });

  it('gives the special codes their own classes and fields', () => {
    const json = (status: number, body: object) => JSON.stringify({ message: 'm', status_code: status, ...body });
    expect(errorFromResponse(403, new Headers(), json(403, { code: 'QUOTA_EXCEEDED' }))).toBeInstanceOf(
      QuotaExceededError,
    );
    expect(errorFromResponse(403, new Headers(), json(403, { code: 'READ_ONLY' }))).toBeInstanceOf(ReadOnlyError);
    const cas = errorFromResponse(412, new Headers(), json(412, { code: 'PRECONDITION_FAILED', current_version: 9 }));
    expect(cas).toMatchObject({ currentVersion: 9, failed: [] });
    const batch = errorFromResponse(
      412,
      new Headers(),
      json(412, { code: 'PRECONDITION_FAILED', failed: [{ key: 'a', current_version: null }] }),
    );
    expect(batch).toMatchObject({ currentVersion: null, failed: [{ key: 'a', current_version: null }] });
    const gone = errorFromResponse(410, new Headers(), json(410, { code: 'REVISION_COMPACTED', oldest_revision: 4 }));
    expect(gone).toMatchObject({ oldestRevision: 4 });
    const limited = errorFromResponse(429, new Headers({ 'Retry-After': '3' }), json(429, { code: 'RATE_LIMITED' }));
    expect(limited).toMatchObject({ retryAfter: 3 });
  });

  it('falls back to the status for a code it does not know, and for an answer that is not the service JSON', () => {
    const newer = errorFromResponse(
      403,
      new Headers(),
      JSON.stringify({ message: 'm', status_code: 403, code: 'NEW' }),
    );
    expect([newer.constructor, newer.code]).toEqual([ForbiddenError, 'NEW']);
    const proxy = errorFromResponse(503, new Headers(), '<html>bad gateway</html>');
    expect([proxy.constructor, proxy.code, proxy.status]).toEqual([UnavailableError, 'HTTP_503', 503]);
    const head = errorFromResponse(418, new Headers(), '');
    expect([head.constructor, head.code, head.message]).toEqual([TenantKvError, 'HTTP_418', 'HTTP 418']);
  });
});
