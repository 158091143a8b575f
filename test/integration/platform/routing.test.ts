import { describeTargets, expectError, makeTenant, request, type TestTenant } from '../../support/harness';

const ADMIN_KEY = 'routing-admin-key-0123456789abcdef';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

type Method = (typeof METHODS)[number];
const call = (app: unknown, method: Method, path: string) =>
  (request(app as never) as unknown as Record<Method, (p: string) => request.Test>)[method](path);

describeTargets(
  'routing',
  (h) => {
    let tenant: TestTenant;
    beforeAll(async () => {
      tenant = await makeTenant(h);
    });

    const adminPaths = [
      '/api/admin/tenants',
      '/api/admin/tenants/3',
      '/api/admin/tenants/3/tokens',
      '/api/admin/tenants/3/tokens/tok_000000000000000000000000',
      '/api/admin/unknown',
      '/api/admin/tenants/3/unknown',
      '/api/admin',
    ];

    describe('every path under /api/admin, known or not, any method, is authenticated before routing', () => {
      it.each(adminPaths.flatMap((path) => METHODS.map((method) => [method.toUpperCase(), path, method] as const)))(
        '%s %s: 401 with WWW-Authenticate without a key or with a wrong one, 403 with a tenant token',
        async (_m, path, method) => {
          const none = await call(h.app, method, path);
          expectError(none, 401, 'UNAUTHORIZED');
          expect(none.headers['www-authenticate']).toBe('Bearer');
          const wrong = await call(h.app, method, path).set({ Authorization: 'Bearer not-the-admin-key-at-all' });
          expectError(wrong, 401, 'UNAUTHORIZED');
          expect(wrong.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
          expectError(await call(h.app, method, path).set(tenant.auth), 403, 'ADMIN_KEY_REQUIRED');
        },
      );
    });

    describe('with an admin key', () => {
      const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };
      it.each([
        ['put', '/api/admin/tenants', 'POST, GET, HEAD'],
        ['delete', '/api/admin/tenants', 'POST, GET, HEAD'],
        ['post', '/api/admin/tenants/3', 'GET, PATCH, DELETE, HEAD'],
        ['patch', '/api/admin/tenants/3/tokens', 'POST, GET, HEAD'],
        ['get', '/api/admin/tenants/3/tokens/tok_000000000000000000000000', 'DELETE'],
      ] as const)('%s %s: 405 with Allow: %s', async (method, path, allow) => {
        const res = await call(h.app, method, path).set(asAdmin);
        expectError(res, 405, 'METHOD_NOT_ALLOWED');
        expect(res.headers.allow).toBe(allow);
      });

      it.each(['/api/admin/unknown', '/api/admin/tenants/3/unknown', '/api/admin'])('%s: 404', async (path) => {
        expectError(await call(h.app, 'get', path).set(asAdmin), 404, 'ROUTE_NOT_FOUND');
      });
    });

    describe('tenant and public routes', () => {
      it.each([
        ['put', '/api/object', 'POST'],
        ['get', '/api/object', 'POST'],
        ['patch', '/api/object/k', 'GET, HEAD, DELETE'],
        ['post', '/api/object/k', 'GET, HEAD, DELETE'],
        ['get', '/api/batch/object', 'POST'],
        ['post', '/api/quota', 'GET, HEAD'],
        ['get', '/api/auth/login', 'POST'],
        ['delete', '/api/auth/register', 'POST'],
        ['post', '/healthz', 'GET, HEAD'],
      ] as const)('%s %s: 405 with Allow: %s', async (method, path, allow) => {
        const res = await call(h.app, method, path).set(tenant.auth);
        expectError(res, 405, 'METHOD_NOT_ALLOWED');
        expect(res.headers.allow).toBe(allow);
      });

      it('answers 404 for a path no route has', async () => {
        expectError(await call(h.app, 'get', '/api/nothing-here').set(tenant.auth), 404, 'ROUTE_NOT_FOUND');
      });

      it('sends WWW-Authenticate with every tenant 401', async () => {
        const missing = await request(h.app).get('/api/quota');
        expectError(missing, 401, 'UNAUTHORIZED');
        expect(missing.headers['www-authenticate']).toBe('Bearer');
        const bad = await request(h.app).get('/api/quota').set({ Authorization: 'Bearer x.y.z' });
        expectError(bad, 401, 'UNAUTHORIZED');
        expect(bad.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      });
    });
  },
  { env: { ADMIN_API_KEYS: ADMIN_KEY } },
);
