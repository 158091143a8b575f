import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { uniqueName } from '../../support/harness';
import type { ServiceProcess } from '../../support/service-process';
import { targets, type TargetName } from '../../support/targets';
import { ADMIN_KEY, serviceEnv, startService } from '../../support/tenantkv-service';
import { buildCli, Cli } from './cli';

/**
 * `tenantkv kv export` and `kv import` as real processes against the real service: NDJSON files and pipes, the
 * import's summary and exit code, resuming with --skip-existing, the progress bar on a terminal and only there,
 * and a round trip of 100,000 objects.
 */
const PASSWORD = 'cli test password';

/** What a progress bar draws: its blocks, carriage returns and cursor movements. */
const BAR_TRACES = ['\u2588', '\u2591', '\r', '\u001b'];
const hasBarTraces = (text: string): boolean => BAR_TRACES.some((trace) => text.includes(trace));

beforeAll(() => {
  // Checked rather than skipped: without `script` the bar's presence would silently go untested.
  execFileSync('script', ['--version'], { stdio: 'ignore' });
  buildCli();
});

/** `count` objects: values of every JSON kind, some with metadata, some expiring, keys in no particular order. */
function sourceLines(count: number, expiresAt: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const key = `obj/${((i * 7919) % count).toString(36).padStart(4, '0')}/${i}`;
    const kinds = [{ n: i, tags: ['a', 'b'] }, `text ${i}`, i * 1.5, i % 2 === 0, null, [i, { deep: { i } }]];
    return JSON.stringify({
      key,
      value: kinds[i % kinds.length],
      ...(i % 10 === 0 ? { metadata: { owner: `u${i % 97}` } } : {}),
      ...(i % 13 === 0 ? { ttl: expiresAt } : {}),
    });
  });
}

/** An export's lines without their versions, which an import does not keep (it writes new ones). */
function withoutVersions(ndjson: string): string[] {
  return ndjson
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const { version: _version, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    });
}

describe.each(targets())('tenantkv kv import and export against the service on %s', (target: TargetName) => {
  let service: ServiceProcess;
  let url: string;
  let admin: Cli;
  const clis: Cli[] = [];

  beforeAll(async () => {
    ({ service, url } = await startService(serviceEnv(target)));
    admin = new Cli({ TENANTKV_URL: url, TENANTKV_ADMIN_KEY: ADMIN_KEY });
    clis.push(admin);
  });
  afterAll(async () => {
    for (const cli of clis) cli.cleanup();
    await service?.stop();
  });

  async function newTenant(quota = '10MiB'): Promise<{ cli: Cli; name: string }> {
    const name = uniqueName('cli');
    await admin.ok(['admin', 'tenants', 'create', name, '--quota', quota, '--password-stdin'], { input: PASSWORD });
    const cli = new Cli({ TENANTKV_URL: url });
    clis.push(cli);
    await cli.ok(['login', name, '--password-stdin'], { input: PASSWORD });
    return { cli, name };
  }

  it('exports to a file or stdout and imports from a file or stdin, quietly when not on a terminal', async () => {
    const source = await newTenant();
    const lines = sourceLines(50, Math.floor(Date.now() / 1000) + 3600);
    const input = path.join(source.cli.home, 'in.ndjson');
    fs.writeFileSync(input, `${lines.join('\n')}\n`);
    const imported = await source.cli.run(['kv', 'import', input]);
    expect(imported).toEqual({ code: 0, stdout: 'written 50, skipped 0, failed chunks 0\n', stderr: '' });

    const file = path.join(source.cli.home, 'out.ndjson');
    const exported = await source.cli.run(['kv', 'export', file]);
    expect(exported).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.existsSync(`${file}.partial`)).toBe(false);
    const fromFile = fs.readFileSync(file, 'utf8');
    const toStdout = await source.cli.run(['kv', 'export']);
    expect(toStdout).toEqual({ code: 0, stdout: fromFile, stderr: '' });
    expect(withoutVersions(fromFile)).toEqual(
      lines
        .map((l) => JSON.parse(l))
        .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)))
        .map(({ key, value, ttl, metadata }) =>
          JSON.stringify({ key, value, ttl: ttl ?? 0, metadata: metadata ?? null }),
        ),
    );
    const prefixed = await source.cli.json<{ key: string }>(['kv', 'export', '--prefix', 'obj/000']);
    expect(prefixed.length).toBeGreaterThan(0);
    expect(prefixed.every((l) => l.key.startsWith('obj/000'))).toBe(true);

    const copy = await newTenant();
    const piped = await copy.cli.run(['kv', 'import', '-', '--json'], { input: fromFile });
    expect([piped.code, JSON.parse(piped.stdout), piped.stderr]).toEqual([
      0,
      { written: 50, skipped: 0, failed: [] },
      '',
    ]);
    expect(withoutVersions(await copy.cli.ok(['kv', 'export']))).toEqual(withoutVersions(fromFile));
    const again = await copy.cli.run(['kv', 'import', file, '--skip-existing']);
    expect(again).toEqual({ code: 0, stdout: 'written 0, skipped 50, failed chunks 0\n', stderr: '' });
    expect(hasBarTraces(imported.stderr + exported.stderr + piped.stderr + again.stderr)).toBe(false);
  });

  it('draws the progress bar on a terminal: objects, bytes, rate, and the ETA of an import from its file size', async () => {
    const { cli } = await newTenant();
    const file = path.join(cli.home, 'bar.ndjson');
    fs.writeFileSync(file, `${sourceLines(3000, 0).join('\n')}\n`);
    const imported = await cli.onTerminal(['kv', 'import', file]);
    expect(imported.code).toBe(0);
    expect(imported.output).toMatch(/import [\u2588\u2591]{20} 100% \| all sent \| 3,000 objects, [\d.]+ KiB \| /);
    // The ETA's place, from the first frame on (the file's size is the total).
    expect(imported.output).toMatch(/import [\u2588\u2591]{20} \d+% \| ETA (-|\d)/);
    expect(imported.output).toContain('written 3000, skipped 0, failed chunks 0');

    const out = path.join(cli.home, 'bar-out.ndjson');
    const exported = await cli.onTerminal(['kv', 'export', out]);
    expect(exported.code).toBe(0);
    expect(exported.output).toMatch(
      /export [\u2588\u2591]{20} 100% \| done \| 3,000 objects, [\d.]+ KiB \| [\d.]+K? objects\/s/,
    );
    // The bar is on stderr: the export's stdout stays the NDJSON alone, even on a terminal.
    expect(fs.readFileSync(out, 'utf8').split('\n')).toHaveLength(3001);
  });

  it('summarises an import whose chunk failed (exit 1) or that stopped (exit 4), and resumes with --skip-existing', async () => {
    const { cli, name } = await newTenant('30000B');
    const value = JSON.stringify('x'.repeat(18));
    const line = (i: number) => `{"key":"k/${String(i).padStart(5, '0')}","value":${value}}`;
    const withBadLine = Array.from({ length: 1500 }, (_, i) => (i === 1199 ? '{"key":"k/bad"}' : line(i)));
    const badFile = path.join(cli.home, 'bad.ndjson');
    fs.writeFileSync(badFile, withBadLine.join('\n'));
    const failed = await cli.run(['kv', 'import', badFile]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(
      /^written 1000, skipped 0, failed chunks 1\n {2}failed at line 1200: .*\(VALIDATION_FAILED\)\n$/,
    );
    expect(failed.stderr).toBe('error: 1 chunk(s) of lines failed and were not written (lines listed above)\n');
    await cli.ok(['kv', 'rm', '--prefix', 'k/']);

    // 1000 values of 20 bytes fit the 30000-byte quota, 2000 do not: the second chunk is refused.
    const file = path.join(cli.home, 'many.ndjson');
    fs.writeFileSync(file, Array.from({ length: 2000 }, (_, i) => line(i)).join('\n'));
    const stopped = await cli.run(['kv', 'import', file]);
    expect(stopped).toEqual({
      code: 4,
      stdout: 'written 1000, skipped 0, failed chunks 0\nstopped at line 1001 (QUOTA_EXCEEDED)\n',
      stderr:
        'error: the import stopped at line 1001 (QUOTA_EXCEEDED); the lines before it are written. ' +
        'Once the cause is fixed, run it again with --skip-existing to resume\n',
    });
    await admin.ok(['admin', 'tenants', 'set', name, '--quota', '1MiB']);
    const resumed = await cli.run(['kv', 'import', file, '--skip-existing']);
    expect(resumed).toEqual({ code: 0, stdout: 'written 1000, skipped 1000, failed chunks 0\n', stderr: '' });
    expect(JSON.parse(await cli.ok(['kv', 'quota', '--json']))).toMatchObject({ objects: 2000, utilised: 40000 });

    const missing = await cli.run(['kv', 'import', path.join(cli.home, 'absent.ndjson')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: ENOENT: no such file or directory/);
  });

  // 100,000 objects through two imports and two exports (seconds on either database, well under a minute).
  it('round-trips 100,000 objects: the export of a new tenant that imported an export is the same, and so is its ledger', async () => {
    const count = 100_000;
    const first = await newTenant('1GiB');
    const source = path.join(first.cli.home, 'source.ndjson');
    fs.writeFileSync(source, `${sourceLines(count, Math.floor(Date.now() / 1000) + 86_400).join('\n')}\n`);
    expect(await first.cli.ok(['kv', 'import', source])).toBe(`written ${count}, skipped 0, failed chunks 0\n`);
    const exportA = path.join(first.cli.home, 'a.ndjson');
    await first.cli.ok(['kv', 'export', exportA]);

    const second = await newTenant('1GiB');
    expect(await second.cli.ok(['kv', 'import', exportA])).toBe(`written ${count}, skipped 0, failed chunks 0\n`);
    const exportB = path.join(second.cli.home, 'b.ndjson');
    await second.cli.ok(['kv', 'export', exportB]);

    const a = withoutVersions(fs.readFileSync(exportA, 'utf8'));
    const b = withoutVersions(fs.readFileSync(exportB, 'utf8'));
    expect(a).toHaveLength(count);
    // Compared as one string: jest's deep equality on 100,000 lines is slow and its diff unreadable.
    expect(b.join('\n') === a.join('\n')).toBe(true);
    const quotaA = JSON.parse(await first.cli.ok(['kv', 'quota', '--json']));
    const quotaB = JSON.parse(await second.cli.ok(['kv', 'quota', '--json']));
    expect(quotaB).toEqual({ ...quotaA, revision: expect.any(Number) });
    expect(quotaA.objects).toBe(count);
    const bytes = a.reduce((sum, l) => {
      const { value, metadata } = JSON.parse(l);
      return (
        sum + Buffer.byteLength(JSON.stringify(value)) + (metadata ? Buffer.byteLength(JSON.stringify(metadata)) : 0)
      );
    }, 0);
    expect(quotaA.utilised).toBe(bytes);
  }, 60_000);
});
