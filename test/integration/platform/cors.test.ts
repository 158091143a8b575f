import { ConfigError, loadConfig } from '../../../src/platform/config';
import {
  describeTargets,
  expectError,
  harness,
  makeTenant,
  objectPath,
  request,
  type TestTenant,
} from '../../support/harness';

/**
 * CORS for browser applications: the origins of CORS_ORIGINS get preflights answered (before authentication and
 * before the 405 every route gives OPTIONS) and may read the headers the client needs; other origins, and every
 * origin while CORS_ORIGINS is empty, get no CORS header at all, so that browsers refuse them.
 */
const APP = 'https://app.example.com';
const DEV = 'http://localhost:5173';
const ADMIN_KEY = 'cors-admin-key-0123456789abcdef';

const preflight = (app: unknown, path: string, origin: string, method = 'POST') =>
  request(app as never)
    .options(path)
    .set({
      Origin: origin,
      'Access-Control-Request-Method': method,
      'Access-Control-Request-Headers': 'authorization,content-type,if-match',
    });

function expectNoCors(res: { headers: Record<string, string> }): void {
  for (const name of Object.keys(res.headers)) expect(name).not.toMatch(/^access-control-/);
}

describeTargets(
  'CORS',
  (h, target) => {
    let tenant: TestTenant;
    beforeAll(async () => {
      tenant = await makeTenant(h);
    });

    it.each(['/api/object', '/api/object/a%2Fb', '/api/watch', '/api/admin/tenants/1', '/api/import'])(
      'answers a preflight for %s from an allowed origin: 204, the methods and headers the API reads, Max-Age',
      async (path) => {
        for (const origin of [APP, DEV]) {
          const res = await preflight(h.app, path, origin).expect(204);
          expect(res.headers['access-control-allow-origin']).toBe(origin);
          expect(res.headers['access-control-allow-methods']).toBe('GET, HEAD, POST, PATCH, DELETE');
          expect(res.headers['access-control-allow-headers']).toBe(
            'Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID',
          );
          expect(res.headers['access-control-max-age']).toBe('600');
          expect(res.headers.vary).toMatch(/\bOrigin\b/);
          expect(res.text).toBe('');
        }
      },
    );

    it('lets an allowed origin read the answer and the headers a client needs, errors included', async () => {
      const put = await request(h.app)
        .post('/api/object')
        .set({ ...tenant.auth, Origin: APP })
        .send({ key: 'k', value: 1 })
        .expect(201);
      expect(put.headers['access-control-allow-origin']).toBe(APP);
      expect(put.headers['access-control-expose-headers']).toBe(
        'ETag, Retry-After, RateLimit, RateLimit-Policy, Location, X-Consistency, Age',
      );
      expect(put.headers.vary).toMatch(/\bOrigin\b/);
      expect(put.headers.etag).toMatch(/^"\d+"$/);

      const missing = await request(h.app)
        .get(objectPath('absent'))
        .set({ ...tenant.auth, Origin: DEV });
      expectError(missing, 404, 'OBJECT_NOT_FOUND');
      expect(missing.headers['access-control-allow-origin']).toBe(DEV);

      const unauthorized = await request(h.app).get('/api/quota').set({ Origin: APP });
      expectError(unauthorized, 401, 'UNAUTHORIZED');
      expect(unauthorized.headers['access-control-allow-origin']).toBe(APP);
    });

    it('gives other origins, and requests without one, no CORS header (an OPTIONS is then the route 405)', async () => {
      for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.net', 'null']) {
        const res = await preflight(h.app, '/api/object', origin);
        expectError(res, 405, 'METHOD_NOT_ALLOWED');
        expectNoCors(res);
        expect(res.headers.vary).toMatch(/\bOrigin\b/);
        expectNoCors(
          await request(h.app)
            .get('/api/quota')
            .set({ ...tenant.auth, Origin: origin })
            .expect(200),
        );
      }
      expectNoCors(await request(h.app).get('/api/quota').set(tenant.auth).expect(200));
      // An OPTIONS that is not a preflight (no Access-Control-Request-Method) is left to the routes too.
      const plain = await request(h.app).options('/api/object').set({ Origin: APP });
      expectError(plain, 405, 'METHOD_NOT_ALLOWED');
    });

    it('is off by default: no CORS header for any origin, and a preflight is the route 405', async () => {
      const off = await harness(target, { env: { ADMIN_API_KEYS: ADMIN_KEY } });
      const res = await preflight(off.app, '/api/object', APP);
      expectError(res, 405, 'METHOD_NOT_ALLOWED');
      expectNoCors(res);
      expectNoCors(
        await request(off.app)
          .get('/api/quota')
          .set({ ...tenant.auth, Origin: APP })
          .expect(200),
      );
    });

    it('with `*` allows any origin, as `*` (tokens travel in Authorization, not cookies)', async () => {
      const any = await harness(target, { env: { CORS_ORIGINS: '*', ADMIN_API_KEYS: ADMIN_KEY } });
      const res = await preflight(any.app, '/api/admin/tenants', 'https://anywhere.example.org', 'GET').expect(204);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      const read = await request(any.app)
        .get('/api/admin/tenants')
        .set({ Authorization: `Bearer ${ADMIN_KEY}`, Origin: 'https://anywhere.example.org' })
        .expect(200);
      expect(read.headers['access-control-allow-origin']).toBe('*');
    });
  },
  { env: { CORS_ORIGINS: ` ${APP}, ${DEV} `, ADMIN_API_KEYS: ADMIN_KEY } },
);

describe('CORS_ORIGINS', () => {
  it.each(['https://app.example.com/', 'https://app.example.com/path', 'app.example.com', 'https://*.example.com'])(
    'refuses %s at start: a browser sends its origin exactly, so it would never match',
    (value) => {
      expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(ConfigError);
      expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(`CORS_ORIGINS: "${value}" is not an origin`);
    },
  );

  it('reads a comma-separated list, `*` included, and is empty by default', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: `${APP},http://127.0.0.1:8080, *` }).corsOrigins).toEqual([
      APP,
      'http://127.0.0.1:8080',
      '*',
    ]);
  });
});
