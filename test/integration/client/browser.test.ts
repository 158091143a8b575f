import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TenantKvAdmin } from '../../../packages/client/src';
import { uniqueName } from '../../support/harness';
import type { ServiceProcess } from '../../support/service-process';
import { ADMIN_KEY, PASSWORD, serviceEnv, startService } from '../../support/tenantkv-service';

/**
 * The client's browser build (ES modules, tsc's own output: no bundler) loaded by a page in headless Chromium
 * (Debian's package, driven by playwright-core; no browser download), served from one origin, calling tenantkv
 * on another: the service answers CORS for that origin only, and the page logs in, writes, reads, lists and
 * watches through the client. Against a service without CORS_ORIGINS the same page cannot even log in.
 */
const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '../../..');

if (!fs.existsSync(CHROMIUM) && process.env.CI !== 'true') {
  process.stderr.write(`\n*** ${CHROMIUM} is missing: the browser smoke test of @tenantkv/client did NOT run.\n\n`);
}

(fs.existsSync(CHROMIUM) || process.env.CI === 'true' ? describe : describe.skip)(
  '@tenantkv/client in headless Chromium',
  () => {
    let dir: string;
    let site: http.Server;
    let origin: string;
    let browser: Browser;
    let page: Page;
    const services: ServiceProcess[] = [];

    beforeAll(async () => {
      if (!fs.existsSync(CHROMIUM)) {
        throw new Error(
          `CI=true and ${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)`,
        );
      }
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-browser-'));
      execFileSync(
        process.execPath,
        [require.resolve('typescript/bin/tsc'), '-p', 'packages/client/tsconfig.esm.json', '--outDir', dir],
        { cwd: ROOT, stdio: 'inherit' },
      );
      site = http.createServer((req, res) => {
        const file = req.url === '/' ? null : path.join(dir, path.normalize(req.url ?? '').replace(/^\/+/, ''));
        if (file === null) {
          res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>tenantkv</title>');
        } else if (file.startsWith(dir) && fs.existsSync(file)) {
          res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(fs.readFileSync(file));
        } else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      page = await browser.newPage();
      await page.goto(`${origin}/`);
    });
    afterAll(async () => {
      await browser?.close();
      await Promise.all(services.map((s) => s.stop()));
      site?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    async function tenantOn(env: Record<string, string>): Promise<{ url: string; name: string }> {
      const started = await startService(serviceEnv('sqlite', env));
      services.push(started.service);
      const name = uniqueName('browser');
      await new TenantKvAdmin({ baseUrl: started.url, adminKey: ADMIN_KEY }).tenants.create({
        user_name: name,
        password: PASSWORD,
        provisioned_capacity: 100_000,
      });
      return { url: started.url, name };
    }

    /** What the page does, in the page: nothing here runs in Node. */
    const inPage = ({ baseUrl, name, password }: { baseUrl: string; name: string; password: string }) =>
      page.evaluate(
        async ({ baseUrl, name, password }) => {
          // The browser's own import(): written as text, so that the CommonJS this file compiles to leaves it alone.
          const load = new Function('url', 'return import(url)') as (
            url: string,
          ) => Promise<typeof import('../../../packages/client/src')>;
          const { TenantKv, NotFoundError, PreconditionFailedError } = await load('/index.js');
          const kv = new TenantKv({ baseUrl });
          try {
            await kv.login(name, password);
          } catch (err) {
            return { failed: (err as Error).name, code: (err as { code?: string }).code };
          }
          const put = await kv.put('users/1', { name: 'Ada' }, { ifAbsent: true, metadata: { by: 'browser' } });
          const again = await kv.put('users/1', 'x', { ifAbsent: true }).catch((e: unknown) => e);
          await kv.batchPut([
            { key: 'users/2', value: 2 },
            { key: 'users/3', value: 3 },
          ]);
          const got = await kv.get('users/1');
          const listed: string[] = [];
          for await (const item of kv.list({ prefix: 'users/', limit: 1 })) listed.push(item.key);
          const missing = await kv.get('absent').catch((e: unknown) => e);
          const watch = kv.watch('users/', { since: put.version });
          const event = watch.next();
          await kv.delete('users/3');
          const seen = (await event).value;
          await watch.close();
          return {
            version: put.version,
            conflict: again instanceof PreconditionFailedError ? again.currentVersion : 'not a precondition failure',
            got: { value: got.value, metadata: got.metadata, version: got.version },
            listed,
            missing: missing instanceof NotFoundError ? missing.code : 'not a NotFoundError',
            seen: [seen.type, seen.key],
            quota: await kv.quota(),
          };
        },
        { baseUrl, name, password },
      );

    it('logs in, writes, reads, lists and watches through the client, across origins', async () => {
      const { url, name } = await tenantOn({ CORS_ORIGINS: origin });
      const result = await inPage({ baseUrl: url, name, password: PASSWORD });
      // The version comes from ETag, which a cross-origin script reads only because the service exposes it.
      expect(Number.isInteger((result as { version: number }).version)).toBe(true);
      expect(result).toEqual({
        version: expect.any(Number),
        conflict: (result as { version: number }).version,
        got: { value: { name: 'Ada' }, metadata: { by: 'browser' }, version: (result as { version: number }).version },
        listed: ['users/1', 'users/2', 'users/3'],
        missing: 'OBJECT_NOT_FOUND',
        seen: ['put', 'users/2'],
        quota: expect.objectContaining({ objects: 2 }),
      });
    });

    it('cannot reach a service that does not answer CORS for its origin', async () => {
      const { url, name } = await tenantOn({});
      expect(await inPage({ baseUrl: url, name, password: PASSWORD })).toEqual({
        failed: 'NetworkError',
        code: 'NETWORK_ERROR',
      });
    });
  },
);
