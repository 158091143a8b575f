import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  describeTargets,
  expectError,
  harness,
  makeTenant,
  request,
  testConfig,
  uniqueName,
  type Harness,
  type TestTenant,
} from '../../support/harness';
import { metrics } from '../../../src/platform/metrics';
import { LimiterStore } from '../../../src/features/rate-limit';

/**
 * Per-tenant request rates, in-process and through Redis. Each test builds the harnesses with the limits it needs,
 * so that no count carries over from another test. The boundaries are exact: every sequence runs in far less than
 * the one-second window, and each burst's reserve window is longer still, so no window ends mid-test.
 */
const ADMIN_KEY = 'rate-limit-admin-key-0123456789';
const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };
const REDIS_URL = 'redis://127.0.0.1:6379';

async function counter(name: 'rateLimited' | 'rateLimitStoreFailures'): Promise<number> {
  return (await metrics[name].get()).values.reduce((sum, v) => sum + v.value, 0);
}

const quota = (app: Harness['app'], t: TestTenant) => request(app).get('/api/quota').set(t.auth);

describeTargets('tenant rate limits', (_h, target) => {
  const limited = (env: Record<string, string>) => harness(target, { env: { ADMIN_API_KEYS: ADMIN_KEY, ...env } });

  it('with no limit set sends no RateLimit fields and never answers 429', async () => {
    const h = await limited({});
    const t = await makeTenant(h);
    for (let i = 0; i < 30; i++) {
      const res = i % 2 ? await quota(h.app, t) : await request(h.app).get('/api/object/absent').set(t.auth);
      expect(res.status).toBe(i % 2 ? 200 : 404);
      expect(res.headers['ratelimit-policy']).toBeUndefined();
      expect(res.headers['ratelimit']).toBeUndefined();
    }
  });

  it('lets exactly the burst through at once, then answers 429 RATE_LIMITED with Retry-After and the fields', async () => {
    const h = await limited({ RATE_LIMIT_RPS: '2', RATE_LIMIT_BURST: '6' });
    const t = await makeTenant(h);
    const refusedBefore = await counter('rateLimited');
    const policy = '"default";q=2;w=1, "burst";q=4;w=3';
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      // Every tenant route counts, whatever it answers.
      const res = i === 2 ? await request(h.app).get('/api/object/absent').set(t.auth) : await quota(h.app, t);
      expect(res.status).toBe(i === 2 ? 404 : 200);
      expect(res.headers['ratelimit-policy']).toBe(policy);
      seen.push(res.headers['ratelimit']);
    }
    expect(seen).toEqual([
      '"default";r=1;t=1',
      '"default";r=0;t=1',
      '"default";r=0;t=1, "burst";r=3;t=3',
      '"default";r=0;t=1, "burst";r=2;t=3',
      '"default";r=0;t=1, "burst";r=1;t=3',
      '"default";r=0;t=1, "burst";r=0;t=3',
    ]);
    const refused = await request(h.app).post('/api/object').set(t.auth).send({ key: 'k', value: 1 });
    expectError(refused, 429, 'RATE_LIMITED', 'this tenant may make 2 requests per second with bursts of up to 6');
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['ratelimit-policy']).toBe(policy);
    expect(refused.headers['ratelimit']).toBe('"default";r=0;t=1');
    expect(await counter('rateLimited')).toBe(refusedBefore + 1);
  });

  it('with no burst above the rate has one policy: the rate in each second', async () => {
    const h = await limited({ RATE_LIMIT_RPS: '3', RATE_LIMIT_BURST: '1' });
    const t = await makeTenant(h);
    for (let i = 0; i < 3; i++) {
      const res = await quota(h.app, t).expect(200);
      expect(res.headers['ratelimit-policy']).toBe('"default";q=3;w=1');
      expect(res.headers['ratelimit']).toBe(`"default";r=${2 - i};t=1`);
    }
    expectError(await quota(h.app, t), 429, 'RATE_LIMITED', 'this tenant may make 3 requests per second');
  });

  it('gives every tenant its own budget', async () => {
    const h = await limited({ RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '3' });
    const [a, b] = [await makeTenant(h), await makeTenant(h)];
    for (let i = 0; i < 3; i++) await quota(h.app, a).expect(200);
    await quota(h.app, a).expect(429);
    for (let i = 0; i < 3; i++) await quota(h.app, b).expect(200);
    await quota(h.app, b).expect(429);
  });

  it('applies an operator’s limit for one tenant at once, 0 as unlimited, and null as the default again', async () => {
    const h = await limited({ RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '2' });
    const t = await makeTenant(h);
    const other = await makeTenant(h);
    const patch = (body: object) =>
      request(h.app).patch(`/api/admin/tenants/${t.id}`).set(asAdmin).send(body).expect(200);

    const own = await patch({ rate_limit_rps: 4, rate_limit_burst: 0 });
    expect(own.body).toMatchObject({ rate_limit_rps: 4, rate_limit_burst: 0 });
    for (let i = 0; i < 4; i++) {
      const res = await quota(h.app, t).expect(200);
      expect(res.headers['ratelimit-policy']).toBe('"default";q=4;w=1');
    }
    expectError(await quota(h.app, t), 429, 'RATE_LIMITED', '4 requests per second');

    await patch({ rate_limit_rps: 0 });
    for (let i = 0; i < 10; i++) {
      const res = await quota(h.app, t).expect(200);
      expect(res.headers['ratelimit-policy']).toBeUndefined();
    }

    const back = await patch({ rate_limit_rps: null, rate_limit_burst: null });
    expect(back.body).toMatchObject({ rate_limit_rps: null, rate_limit_burst: null });
    for (let i = 0; i < 2; i++) {
      const res = await quota(h.app, t).expect(200);
      expect(res.headers['ratelimit-policy']).toBe('"default";q=1;w=1, "burst";q=1;w=2');
    }
    await quota(h.app, t).expect(429);
    // The other tenant kept the default throughout, untouched by these changes.
    for (let i = 0; i < 2; i++) await quota(h.app, other).expect(200);
    await quota(h.app, other).expect(429);
  });

  it('shares one budget between instances through Redis', async () => {
    const env = {
      RATE_LIMIT_RPS: '1',
      RATE_LIMIT_BURST: '6',
      RATE_LIMIT_REDIS_URL: REDIS_URL,
      RATE_LIMIT_REDIS_PREFIX: `tenantkv-test-${crypto.randomBytes(6).toString('hex')}`,
    };
    const [one, two] = [await limited(env), await limited(env)];
    await Promise.all([one.container.rateLimitStore.ready(), two.container.rateLimitStore.ready()]);
    const t = await makeTenant(one);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await quota(i % 2 ? two.app : one.app, t)).status);
    // Each instance alone would have let all ten through.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
  });

  it('lets requests through when Redis cannot be reached, and counts each such decision', async () => {
    const h = await limited({
      RATE_LIMIT_RPS: '1',
      RATE_LIMIT_BURST: '1',
      RATE_LIMIT_REDIS_URL: 'redis://127.0.0.1:1',
    });
    const t = await makeTenant(h);
    const failuresBefore = await counter('rateLimitStoreFailures');
    for (let i = 0; i < 5; i++) {
      const res = await quota(h.app, t).expect(200);
      expect(res.headers['ratelimit-policy']).toBe('"default";q=1;w=1');
      // Nothing is known of what is left.
      expect(res.headers['ratelimit']).toBeUndefined();
    }
    expect(await counter('rateLimitStoreFailures')).toBe(failuresBefore + 5);
  });

  it('logs an unreachable store once, not once per decision', async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')));
        done();
      },
    });
    const store = new LimiterStore(
      testConfig(target, { RATE_LIMIT_REDIS_URL: 'redis://127.0.0.1:1' }),
      pino({ level: 'warn' }, sink),
    );
    try {
      const limiter = store.limiter('log-test', 1, 1);
      for (let i = 0; i < 20; i++) await limiter.consume('k').catch((err: unknown) => store.failed(err));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, store: 'redis' });
      expect(lines[0].msg).toMatch(/rate-limit store \(redis\) unreachable/);
    } finally {
      store.close();
    }
  });
});

describeTargets('login and registration throttling', (_h, target) => {
  const throttled = (max: number) => harness(target, { env: { LOGIN_MAX_FAILURES: String(max) } });

  async function register(h: Harness, name = uniqueName('login'), password = 'right-password') {
    await request(h.app).post('/api/auth/register').send({ user_name: name, password }).expect(201);
    return name;
  }
  const login = (h: Harness, body: object) => request(h.app).post('/api/auth/login').send(body);

  it('refuses a user name after LOGIN_MAX_FAILURES failures, even with the right password', async () => {
    const h = await throttled(3);
    const name = await register(h);
    // Successful logins are not failures.
    for (let i = 0; i < 4; i++) await login(h, { user_name: name, password: 'right-password' }).expect(200);
    for (let i = 0; i < 3; i++) {
      expectError(await login(h, { user_name: name, password: 'wrong' }), 400, 'INVALID_CREDENTIALS');
    }
    const refusedBefore = await counter('rateLimited');
    // The Go clients' field name counts as the same user.
    const refused = await login(h, { name, password: 'right-password' });
    expectError(refused, 429, 'RATE_LIMITED', 'too many failed logins for this user name');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(890);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(await counter('rateLimited')).toBe(refusedBefore + 1);
    // Another user at the same address is not held back, and neither is a name that does not exist yet.
    await login(h, { user_name: await register(h), password: 'right-password' }).expect(200);
    expectError(await login(h, { user_name: uniqueName('nobody'), password: 'x' }), 400, 'INVALID_CREDENTIALS');
  });

  it('refuses a client address after ten times LOGIN_MAX_FAILURES failures, whatever the user name', async () => {
    const h = await throttled(2);
    const victim = await register(h);
    for (let n = 0; n < 10; n++) {
      const name = uniqueName('guess');
      for (let i = 0; i < 2; i++) {
        expectError(await login(h, { user_name: name, password: 'guess' }), 400, 'INVALID_CREDENTIALS');
      }
    }
    const refused = await login(h, { user_name: victim, password: 'right-password' });
    expectError(refused, 429, 'RATE_LIMITED', 'too many failed logins from this address');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(890);
  });

  it('does not count a login the database could not check as a failure', async () => {
    const h = await harness(target, {
      env: { LOGIN_MAX_FAILURES: '1', DB_ACQUIRE_TIMEOUT_MS: '100' },
      config: { dbPoolMax: 2 },
    });
    const name = await register(h);
    // Every connection of the pool held by a transaction (SQLite has one, MySQL the two it may have at least): a
    // login cannot read its user, and is answered 503.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const entered: Promise<void>[] = [];
    const holding: Promise<void>[] = [];
    for (let i = 0; i < (target === 'sqlite' ? 1 : 2); i++) {
      entered.push(
        new Promise<void>((inside) => {
          holding.push(
            h.db.transaction(async () => {
              inside();
              await held;
            }),
          );
        }),
      );
    }
    await Promise.all(entered);
    try {
      for (let i = 0; i < 2; i++) {
        expect((await login(h, { user_name: name, password: 'right-password' })).status).toBe(503);
      }
    } finally {
      release();
      await Promise.all(holding);
    }
    await login(h, { user_name: name, password: 'right-password' }).expect(200);
  });

  it('counts guesses sent at once before checking any of them', async () => {
    const h = await throttled(3);
    const name = await register(h);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => login(h, { user_name: name, password: 'wrong' })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(3).fill(400), ...Array(9).fill(429)]);
  });

  it('refuses registrations from a client address past ten times LOGIN_MAX_FAILURES failures in 15 minutes', async () => {
    const h = await throttled(1);
    // Successful registrations are not failures: any number of them.
    for (let i = 0; i < 12; i++) await register(h);
    for (let i = 0; i < 10; i++) {
      const res = await request(h.app)
        .post('/api/auth/register')
        .send({ user_name: uniqueName('reg'), password: 'p', provisioned_capacity: 2 ** 50 });
      expectError(res, 400, 'INVALID_CAPACITY');
    }
    const refused = await request(h.app)
      .post('/api/auth/register')
      .send({ user_name: uniqueName('reg'), password: 'p' });
    expectError(refused, 429, 'RATE_LIMITED', 'too many failed registrations from this address');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(890);
    // Logins are counted apart.
    await login(h, { user_name: uniqueName('nobody'), password: 'x' }).expect(400);
  });
});
