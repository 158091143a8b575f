import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ServiceProcess, send, type LogLine } from '../../support/service-process';
import { SseStream } from '../../support/sse-client';
import { TEST_MYSQL_URL, targets, type TargetName } from '../../support/targets';
import { uniqueName } from '../../support/harness';
import { serverConnection } from '../../support/mysql-admin';

/**
 * SIGTERM under keep-alive load, on the real forked service: every request it accepted is answered; from the
 * signal on no connection takes another request after the one it is serving (each response says
 * Connection: close); and only what still runs at the deadline is cut, and counted in the log.
 */
const ADMIN_KEY = 'shutdown-test-admin-key-0123456789';

function envFor(target: TargetName, extra: Record<string, string> = {}): Record<string, string> {
  const common = { ADMIN_API_KEYS: ADMIN_KEY, JWT_SECRET_KEY: 'shutdown-test-jwt-secret-0123456789abcdef' };
  return target === 'mysql'
    ? { ...common, DATABASE_URL: TEST_MYSQL_URL, WEB_CONCURRENCY: '2', MIGRATE_ON_START: 'false', ...extra }
    : { ...common, DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-shutdown-')), ...extra };
}

async function tenantToken(url: string): Promise<{ id: number; token: string }> {
  const name = uniqueName('shutdown');
  const created = await send(`${url}/api/admin/tenants`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN_KEY}` },
    body: { user_name: name, password: 'shutdown-password', provisioned_capacity: 100_000_000 },
  });
  expect(created.status).toBe(201);
  const login = await send(`${url}/api/auth/login`, {
    method: 'POST',
    body: { user_name: name, password: 'shutdown-password' },
  });
  expect(login.status).toBe(200);
  return { id: (created.body as { id: number }).id, token: (login.body as { token: string }).token };
}

type Outcome =
  | { n: number; ok: true; status: number; connection: string | undefined; at: number }
  | { n: number; ok: false; code: string; reusedSocket: boolean; at: number };

/** One request on `agent`, numbered `n` in its URL so that the access log names it; never rejects. */
function attempt(
  agent: http.Agent,
  url: string,
  n: number,
  token: string,
  write: boolean,
  timeoutMs = 30_000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = write ? JSON.stringify({ key: `k${n % 50}`, value: 'x'.repeat(200) }) : undefined;
    const req = http.request(
      write ? `${url}/api/object?n=${n}` : `${url}/api/quota?n=${n}`,
      {
        method: write ? 'POST' : 'GET',
        agent,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ n, ok: true, status: res.statusCode ?? 0, connection: res.headers.connection, at: Date.now() }),
        );
        res.on('error', (err: NodeJS.ErrnoException) =>
          resolve({ n, ok: false, code: err.code ?? err.message, reusedSocket: req.reusedSocket, at: Date.now() }),
        );
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ n, ok: false, code: err.code ?? err.message, reusedSocket: req.reusedSocket, at: Date.now() }),
    );
    req.end(body);
  });
}

const accessLines = (service: ServiceProcess): LogLine[] =>
  service.lines.filter((l) => typeof l.url === 'string' && /[?&]n=\d+/.test(String(l.url)) && l.method);
const numberOf = (line: LogLine): number => Number(/[?&]n=(\d+)/.exec(String(line.url))?.[1]);

describe.each(targets())('shutdown on %s', (target) => {
  it('under keep-alive load: every accepted request answered, Connection: close from the signal on, none cut', async () => {
    const service = new ServiceProcess(envFor(target));
    try {
      const url = await service.ready();
      const { token } = await tenantToken(url);
      const stream = await SseStream.open(url, '/api/watch', { Authorization: `Bearer ${token}` });
      expect(stream.status).toBe(200);
      const clients = 16;
      const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
      const outcomes: Outcome[] = [];
      let next = 0;
      let exited = false;
      void service.exited.then(() => (exited = true));
      let signalledAt = 0;
      const loops = agents.map(async (agent, i) => {
        while (!exited) {
          const outcome = await attempt(agent, url, next++, token, i % 2 === 0);
          outcomes.push(outcome);
          // Refused: the service no longer listens. Anything else: keep going, as a client under load would.
          if (!outcome.ok && outcome.code === 'ECONNREFUSED') break;
        }
      });
      // Load first, on every connection, then the signal in the middle of it.
      while (outcomes.filter((o) => o.ok).length < 400) await new Promise((resolve) => setTimeout(resolve, 10));
      signalledAt = Date.now();
      service.kill('SIGTERM');
      await Promise.all(loops);
      await service.exited;
      for (const agent of agents) agent.destroy();

      const accepted = new Map(accessLines(service).map((l) => [numberOf(l), l]));
      const byNumber = new Map(outcomes.map((o) => [o.n, o]));
      // Every request the service accepted got its whole response: no accepted request was reset.
      const resetAfterAccept = [...accepted.keys()].filter((n) => byNumber.get(n)?.ok !== true);
      expect(resetAfterAccept).toEqual([]);
      // What failed was never accepted: refused, or sent on a connection the service had closed as idle.
      const failed = outcomes.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
      expect(failed.filter((o) => accepted.has(o.n))).toEqual([]);
      for (const f of failed) expect(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']).toContain(f.code);
      // Nothing was a server error.
      expect(outcomes.filter((o) => o.ok && o.status >= 500)).toEqual([]);

      // From the signal on, each worker answered at most one more request per connection, each with close.
      const stops = service.lines.filter((l) => l.msg === 'shutting down: finishing in-flight requests');
      expect(stops.length).toBe(target === 'mysql' ? 2 : 1);
      const signalAt = new Map(stops.map((l) => [l.pid, Date.parse(String(l.time))]));
      const afterSignal = accessLines(service).filter(
        (l) => Date.parse(String(l.time)) - Number(l.ms) > (signalAt.get(l.pid) ?? Infinity) + 2,
      );
      expect(afterSignal.length).toBeLessThanOrEqual(clients);
      for (const line of afterSignal) {
        const outcome = byNumber.get(numberOf(line));
        expect(outcome).toMatchObject({ ok: true, connection: 'close' });
      }
      // No response after the signal kept its connection open.
      const late = outcomes.filter((o) => o.ok && o.at > signalledAt + 1000);
      expect(late.filter((o) => o.ok && o.connection !== 'close')).toEqual([]);

      // The log says how many requests were in flight at the signal and that none was cut.
      const stopped = service.lines.filter((l) => String(l.msg).startsWith('stopped serving'));
      expect(stopped).toHaveLength(stops.length);
      for (const line of stopped) expect(line).toMatchObject({ cut: 0 });
      const inFlight = stopped.reduce((sum, l) => sum + Number(l.inFlightAtSignal), 0);
      // The open change stream is one of the requests in flight at the signal.
      expect(outcomes.filter((o) => o.ok && o.connection === 'close').length).toBeGreaterThanOrEqual(inFlight - 1);
      expect((await service.exited).code).toBe(0);
    } finally {
      await service.stop();
    }
  });

  if (target !== 'mysql') return;

  it('at the deadline only a request still running is cut, and the log counts it', async () => {
    const service = new ServiceProcess(
      envFor(target, {
        WEB_CONCURRENCY: '1',
        SHUTDOWN_TIMEOUT_SECONDS: '1',
        DB_LOCK_WAIT_TIMEOUT_SECONDS: '20',
        REQUEST_TIMEOUT_MS: '30000',
      }),
    );
    const admin = await serverConnection(TEST_MYSQL_URL, true);
    try {
      const url = await service.ready();
      const { id, token } = await tenantToken(url);
      // The tenant's row held from outside: a write waits for it past the deadline.
      await admin.query('START TRANSACTION');
      await admin.query('SELECT id FROM tenants WHERE id = ? FOR UPDATE', [id]);
      const agent = new http.Agent({ keepAlive: true });
      const quick = await attempt(agent, url, 1, token, false);
      expect(quick).toMatchObject({ ok: true, status: 200 });
      const stuck = attempt(new http.Agent({ keepAlive: true }), url, 2, token, true);
      await service.waitForLine(() => false, 300).catch(() => undefined);
      service.kill('SIGTERM');
      const outcome = await stuck;
      expect(outcome).toMatchObject({ ok: false });
      const cut = await service.waitForLine((l) => String(l.msg).startsWith('shutdown deadline'));
      expect(cut).toMatchObject({ cut: 1 });
      const stopped = await service.waitForLine((l) => String(l.msg).startsWith('stopped serving'));
      expect(stopped).toMatchObject({ cut: 1 });
      agent.destroy();
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined);
      await admin.end();
      await service.stop();
    }
  });
});
