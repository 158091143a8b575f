import fs from 'node:fs';
import path from 'node:path';
import { AppError, objectNotFound, quotaExceeded, tenantSuspended, toAppError } from '../../../src/platform/errors';
import { ERROR_STATUS, type ErrorCode } from '../../../src/platform/error-codes';

describe('AppError', () => {
  it('serialises as {message, status_code, code} only', () => {
    const err = AppError.badRequest('nope', 'INVALID_KEY');
    expect(JSON.parse(JSON.stringify(err))).toEqual({ message: 'nope', status_code: 400, code: 'INVALID_KEY' });
  });

  it('has the documented helpers', () => {
    expect(quotaExceeded().toJSON()).toEqual({ message: 'quota exceeded', status_code: 403, code: 'QUOTA_EXCEEDED' });
    expect(objectNotFound().toJSON()).toEqual({
      message: 'object not found',
      status_code: 404,
      code: 'OBJECT_NOT_FOUND',
    });
    expect(tenantSuspended().status).toBe(403);
    expect(AppError.unauthorized().toJSON()).toEqual({
      message: 'unauthorized',
      status_code: 401,
      code: 'UNAUTHORIZED',
    });
    expect(AppError.badRequest('bad').code).toBe('BAD_REQUEST');
  });

  it('has every code of the catalogue listed in docs/API.md, under its status', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../../docs/API.md'), 'utf8');
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const line = readme.split('\n').find((l) => l.startsWith(`- **${status}**`)) ?? '';
      const section = readme.slice(readme.indexOf(line), readme.indexOf('\n- **', readme.indexOf(line) + 1));
      expect({ code, listed: section.includes(`\`${code}\``) }).toEqual({ code, listed: true });
    }
  });

  it('takes its status from the catalogue, where every code has one', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      expect(new AppError(code as ErrorCode, 'x').status).toBe(status);
      expect(status >= 400 && status < 600).toBe(true);
    }
    // A route that keeps another status for compatibility says so.
    expect(new AppError('USER_EXISTS', 'user already exists', { status: 400 }).toJSON()).toEqual({
      message: 'user already exists',
      status_code: 400,
      code: 'USER_EXISTS',
    });
  });
});

describe('toAppError', () => {
  it('passes an AppError through; it is an answer the service chose, never a fault, even a 503', () => {
    const client = AppError.badRequest('bad');
    expect(toAppError(client)).toEqual({ error: client, fault: false });
    const server = new AppError('ADMIN_DISABLED', 'set ADMIN_API_KEYS');
    expect(toAppError(server)).toEqual({ error: server, fault: false });
  });

  it.each([
    ['entity.parse.failed', 400, 'MALFORMED_JSON'],
    ['entity.too.large', 413, 'PAYLOAD_TOO_LARGE'],
    ['entity.verify.failed', 400, 'BAD_REQUEST'],
    ['encoding.unsupported', 415, 'UNSUPPORTED_ENCODING'],
    ['charset.unsupported', 415, 'UNSUPPORTED_CHARSET'],
    ['request.aborted', 400, 'REQUEST_ABORTED'],
    ['request.size.invalid', 400, 'BAD_REQUEST'],
  ])('maps the body-parser error %s to %i %s', (type, status, code) => {
    // body-parser's own messages can echo the body: the mapped message is ours.
    const raw = Object.assign(new Error('Unexpected token } in JSON at position 7: {"secret":'), {
      type,
      status: 400,
      expose: true,
    });
    const { error, fault } = toAppError(raw);
    expect(error.toJSON()).toMatchObject({ status_code: status, code });
    expect(error.message).not.toContain('secret');
    expect(fault).toBe(false);
  });

  it('maps the body-parser stream.encoding.set error to a 500 fault', () => {
    const { error, fault } = toAppError({ type: 'stream.encoding.set', status: 500 });
    expect(error.status).toBe(500);
    expect(fault).toBe(true);
  });

  it('keeps a 4xx http error, and its message only when it is exposed', () => {
    expect(toAppError({ status: 404, expose: true, message: 'Not here' }).error.toJSON()).toEqual({
      message: 'Not here',
      status_code: 404,
      code: 'NOT_FOUND',
    });
    const hidden = toAppError({ statusCode: 400, expose: false, message: 'Failed to decode param' });
    expect(hidden.error.toJSON()).toEqual({ message: 'bad request', status_code: 400, code: 'BAD_REQUEST' });
    expect(hidden.fault).toBe(false);
  });

  it.each([
    ['an Error', new Error('ECONNREFUSED 10.0.0.3:3306 password=hunter2')],
    ['a driver error', Object.assign(new Error('ER_LOCK_DEADLOCK'), { code: 'ER_LOCK_DEADLOCK', errno: 1213 })],
    ['a 5xx http error', { status: 503, expose: false, message: 'upstream down' }],
    ['a string', 'boom'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a status that is not a number', { status: '400', message: 'x' }],
    ['an unknown error type', { type: 'something.else' }],
    ['a type named like an Object.prototype member', { type: 'toString' }],
    ['a type named constructor', { type: 'constructor' }],
    ['a type named __proto__', { type: '__proto__' }],
  ])('turns %s into a 500 fault that leaks nothing', (_name, err) => {
    const { error, fault } = toAppError(err);
    expect(fault).toBe(true);
    expect(error.toJSON()).toEqual({ message: 'internal server error', status_code: 500, code: 'INTERNAL' });
  });
});
