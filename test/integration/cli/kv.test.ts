import fs from 'node:fs';
import path from 'node:path';
import { uniqueName } from '../../support/harness';
import type { ServiceProcess } from '../../support/service-process';
import { targets } from '../../support/targets';
import { ADMIN_KEY, freePort, serviceEnv, startService } from '../../support/tenantkv-service';
import { buildCli, Cli, LineReader } from './cli';

/**
 * `tenantkv kv …` and `tenantkv login` as a user runs them: the built bin as a real process, against the real
 * forked service on each database, checked by what it prints and its exit code.
 */
const PASSWORD = 'cli test password';

beforeAll(buildCli);

describe.each(targets())('tenantkv kv against the service on %s', (target) => {
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

  /** A tenant made with the admin command, and a CLI of its own that has logged in as it. */
  async function newTenant(...createArgs: string[]): Promise<{ cli: Cli; name: string; id: number }> {
    const name = uniqueName('cli');
    const [tenant] = await admin.json<{ id: number }>(
      ['admin', 'tenants', 'create', name, '--quota', '1MiB', '--password-stdin', '--json', ...createArgs],
      { input: `${PASSWORD}\n` },
    );
    const cli = new Cli({ TENANTKV_URL: url });
    clis.push(cli);
    await cli.ok(['login', name, '--password-stdin'], { input: `${PASSWORD}\n` });
    return { cli, name, id: tenant.id };
  }

  it('logs in with the password on stdin, keeping the token in a config file only its user may read', async () => {
    const { cli, name } = await newTenant();
    expect(fs.statSync(cli.configFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(cli.configFile)).mode & 0o777).toBe(0o700);
    const config = JSON.parse(fs.readFileSync(cli.configFile, 'utf8'));
    expect(config).toEqual({
      url,
      logins: { [url]: { user_name: name, token: expect.any(String), expires_at: expect.any(String) } },
    });
    // The kept token is what the kv commands use: no TENANTKV_TOKEN is set.
    expect(JSON.parse(await cli.ok(['kv', 'quota', '--json']))).toMatchObject({ provisioned: 1024 * 1024, objects: 0 });

    const wrong = await cli.run(['login', name, '--password-stdin'], { input: 'not the password\n' });
    expect([wrong.code, wrong.stderr]).toEqual([5, 'error: invalid username/password (INVALID_CREDENTIALS)\n']);
    // On a terminal the password is asked for, and what is typed is not echoed.
    const prompted = await cli.onTerminal(['login', name], { reply: { after: 'Password: ', send: `${PASSWORD}\r` } });
    expect(prompted.code).toBe(0);
    expect(prompted.output).toContain(`logged in to ${url} as ${name} until `);
    expect(prompted.output).not.toContain(PASSWORD);
    const noTerminal = await cli.run(['login', name]);
    expect(noTerminal.code).toBe(1);
    expect(noTerminal.stderr).toMatch(/--password-stdin/);

    expect(await cli.ok(['logout'])).toBe(`logged out of ${url}\n`);
    expect(JSON.parse(fs.readFileSync(cli.configFile, 'utf8')).logins).toEqual({});
    const loggedOut = await cli.run(['kv', 'quota']);
    expect([loggedOut.code, loggedOut.stderr]).toEqual([5, expect.stringMatching(/^error: not logged in to /)]);
    // A token in the environment needs no login.
    const token = config.logins[url].token as string;
    expect(await cli.ok(['kv', 'put', 'k', '1'], { env: { TENANTKV_TOKEN: token } })).toMatch(/^\d+\n$/);
  });

  it('puts values from arguments (JSON when valid JSON, --string to keep a string), files and stdin, and gets them', async () => {
    const { cli } = await newTenant();
    const file = path.join(cli.home, 'value.json');
    fs.writeFileSync(file, '{"from": "file"}\n');
    const textFile = path.join(cli.home, 'value.txt');
    fs.writeFileSync(textFile, 'line one\nline two\n');
    await cli.ok(['kv', 'put', 'json', '{"a":[1,2,{"b":null}]}']);
    await cli.ok(['kv', 'put', 'number', '42']);
    await cli.ok(['kv', 'put', 'forced', '42', '--string']);
    await cli.ok(['kv', 'put', 'text', 'hello world']);
    await cli.ok(['kv', 'put', 'from-file', '--file', file]);
    await cli.ok(['kv', 'put', 'text-file', '-f', textFile]);
    await cli.ok(['kv', 'put', 'stdin', '-'], { input: '[true, "x"]' });
    await cli.ok(['kv', 'put', 'stdin-text', '-', '--string'], { input: '{"kept":"as text"}' });

    const value = async (key: string) => JSON.parse(await cli.ok(['kv', 'get', key]));
    expect(await value('json')).toEqual({ a: [1, 2, { b: null }] });
    expect(await value('number')).toBe(42);
    expect(await value('forced')).toBe('42');
    expect(await value('text')).toBe('hello world');
    expect(await value('from-file')).toEqual({ from: 'file' });
    expect(await value('text-file')).toBe('line one\nline two\n');
    expect(await value('stdin')).toEqual([true, 'x']);
    expect(await value('stdin-text')).toBe('{"kept":"as text"}');
    // Pretty JSON for people, the string as it is with --raw, the whole object with --json.
    expect(await cli.ok(['kv', 'get', 'json'])).toBe(
      '{\n  "a": [\n    1,\n    2,\n    {\n      "b": null\n    }\n  ]\n}\n',
    );
    expect(await cli.ok(['kv', 'get', 'text-file', '--raw'])).toBe('line one\nline two\n');
    const [whole] = await cli.json(['kv', 'get', 'number', '--json']);
    expect(whole).toEqual({ key: 'number', value: 42, ttl: 0, expires_in: 0, version: expect.any(Number) });

    const both = await cli.run(['kv', 'put', 'k', 'v', '--file', file]);
    expect([both.code, both.stderr]).toEqual([1, 'error: give the value as an argument or with --file, not both\n']);
  });

  it('puts with --ttl, --expires-in, --metadata, --if-version and --if-absent, printing the new version', async () => {
    const { cli } = await newTenant();
    const at = Math.floor(Date.now() / 1000) + 3600;
    const v1 = Number(await cli.ok(['kv', 'put', 'k', '"one"', '--ttl', String(at), '--metadata', '{"owner":"ada"}']));
    const [first] = await cli.json(['kv', 'get', 'k', '--json']);
    expect(first).toMatchObject({ value: 'one', ttl: at, metadata: { owner: 'ada' }, version: v1 });

    const v2 = Number(await cli.ok(['kv', 'put', 'k', '"two"', '--expires-in', '2h', '--if-version', String(v1)]));
    expect(v2).toBeGreaterThan(v1);
    const [second] = await cli.json<{ expires_in: number }>(['kv', 'get', 'k', '--json']);
    expect(second.expires_in).toBeGreaterThan(7100);
    expect(second.expires_in).toBeLessThanOrEqual(7200);

    const stale = await cli.run(['kv', 'put', 'k', '"three"', '--if-version', String(v1)]);
    expect([stale.code, stale.stderr]).toEqual([
      3,
      `error: precondition failed (PRECONDITION_FAILED; the current version is ${v2})\n`,
    ]);
    const taken = await cli.run(['kv', 'put', 'k', '"three"', '--if-absent']);
    expect(taken.code).toBe(3);
    expect(Number(await cli.ok(['kv', 'put', 'new', '1', '--if-absent']))).toBeGreaterThan(v2);
    expect(JSON.parse(await cli.ok(['kv', 'get', 'k']))).toBe('two');

    for (const bad of [
      ['--ttl', '5', '--expires-in', '5'],
      ['--if-version', '1', '--if-absent'],
      ['--expires-in', 'soon'],
      ['--metadata', '[1]'],
    ]) {
      const refused = await cli.run(['kv', 'put', 'k', '1', ...bad]);
      expect([bad, refused.code]).toEqual([bad, 1]);
      expect(refused.stderr).toMatch(/^error: /);
    }
  });

  it('deletes one key (with --if-version), several, or a prefix', async () => {
    const { cli } = await newTenant();
    for (const key of ['a', 'b', 'c', 'p/1', 'p/2', 'p/3', 'q']) await cli.ok(['kv', 'put', key, '1']);
    const [{ version }] = await cli.json<{ version: number }>(['kv', 'get', 'q', '--json']);
    expect((await cli.run(['kv', 'rm', 'q', '--if-version', String(version - 1)])).code).toBe(3);
    expect(await cli.ok(['kv', 'rm', 'q', '--if-version', String(version)])).toBe('');
    expect(await cli.ok(['kv', 'rm', 'a'])).toBe('');
    expect(await cli.ok(['kv', 'rm', 'a'])).toBe('');
    expect(await cli.ok(['kv', 'rm', 'b', 'c', 'absent'])).toBe('deleted 2\n');
    expect(await cli.ok(['kv', 'rm', '--prefix', 'p/'])).toBe('deleted 3\n');
    expect(await cli.json(['kv', 'ls', '--json'])).toEqual([]);
    expect((await cli.run(['kv', 'rm'])).code).toBe(1);
    expect((await cli.run(['kv', 'rm', 'x', '--prefix', 'p/'])).code).toBe(1);
    const guarded = await cli.run(['kv', 'rm', '--prefix', 'p/', '--if-version', '1']);
    expect([guarded.code, guarded.stderr]).toEqual([1, 'error: --if-version applies to one key, not a prefix\n']);
  });

  it('lists keys as a table, or as NDJSON with --json (values with --values), every page of them', async () => {
    const { cli } = await newTenant();
    const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    const batch = keys.map((key, i) => JSON.stringify({ key, value: i })).join('\n');
    await cli.ok(['kv', 'import', '-'], { input: batch });
    await cli.ok(['kv', 'put', 'users/1', '{"name":"ada"}', '--metadata', '{"m":1}', '--expires-in', '1h']);
    await cli.ok(['kv', 'put', 'users/2', '"bob"']);

    const lines = (await cli.ok(['kv', 'ls', 'users/'])).split('\n');
    expect(lines[0]).toMatch(/^KEY\s+SIZE\s+VERSION\s+EXPIRES$/);
    expect(lines[1]).toMatch(/^users\/1\s+21\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(in (59m\d+s|1h)\)$/);
    expect(lines[2]).toMatch(/^users\/2\s+5\s+\d+\s+-$/);
    expect(lines.slice(3)).toEqual(['']);

    const listed = await cli.json<{ key: string; value?: unknown }>(['kv', 'ls', 'many/', '--json']);
    expect(listed.map((i) => i.key)).toEqual(keys);
    expect(listed[0]).toEqual({ key: 'many/0000', size: 1, ttl: 0, expires_in: 0, version: expect.any(Number) });
    const withValues = await cli.json<{ key: string; value: number }>(['kv', 'ls', 'many/100', '--json', '--values']);
    expect(withValues.map((i) => [i.key, i.value])).toEqual(keys.slice(1000).map((k, i) => [k, 1000 + i]));
    expect((await cli.run(['kv', 'ls', '--values'])).code).toBe(1);
  });

  it('lists the versions of a key, newest first, and reads a kept one', async () => {
    const { cli } = await newTenant('--history-depth', '5');
    const versions: number[] = [];
    for (const value of ['"one"', '"two"', '{"three":3}'])
      versions.push(Number(await cli.ok(['kv', 'put', 'doc', value])));
    await cli.ok(['kv', 'rm', 'doc']);

    const history = await cli.json<{ version: number; value: unknown; deleted: boolean }>([
      'kv',
      'history',
      'doc',
      '--json',
    ]);
    expect(history.map((h) => [h.value, h.deleted])).toEqual([
      [null, true],
      [{ three: 3 }, false],
      ['two', false],
      ['one', false],
    ]);
    expect(history.slice(1).map((h) => h.version)).toEqual([...versions].reverse());
    const table = (await cli.ok(['kv', 'history', 'doc'])).trimEnd().split('\n');
    expect(table[0]).toMatch(/^VERSION\s+WRITTEN AT\s+STATE\s+VALUE$/);
    expect(table[1]).toMatch(/^\s*\d+\s+\S+Z\s+deleted$/);
    expect(table[2]).toMatch(new RegExp(`^\\s*${versions[2]}\\s+\\S+Z\\s+put\\s+\\{"three":3\\}$`));
    expect(table).toHaveLength(5);
    expect(JSON.parse(await cli.ok(['kv', 'get', 'doc', '--version', String(versions[0])]))).toBe('one');
    expect((await cli.run(['kv', 'history', 'never'])).code).toBe(2);
  });

  it('watches the changes under a prefix, one line per event, resuming with --since', async () => {
    const { cli } = await newTenant();
    const [{ revision }] = await cli.json<{ revision: number }>(['kv', 'quota', '--json']);
    const text = new LineReader(cli.spawn(['kv', 'watch', 'w/', '--since', String(revision), '--values']));
    const json = new LineReader(cli.spawn(['kv', 'watch', 'w/', '--since', String(revision), '--json']));
    try {
      const v1 = Number(await cli.ok(['kv', 'put', 'w/a', '{"n":1}']));
      await cli.ok(['kv', 'put', 'elsewhere', '1']);
      await cli.ok(['kv', 'rm', 'w/a']);
      const v2 = v1 + 2;
      expect(await text.waitFor(2)).toEqual([`${v1} put w/a 7 B {"n":1}`, `${v2} delete w/a 7 B`]);
      expect((await json.waitFor(2)).map((line) => JSON.parse(line))).toEqual([
        { type: 'put', key: 'w/a', version: v1, ttl: 0, size: 7 },
        { type: 'delete', key: 'w/a', version: v2, ttl: 0, size: 7 },
      ]);
      // From the same revision again, a new watch gives the same changes.
      const again = new LineReader(cli.spawn(['kv', 'watch', 'w/', '--since', String(revision)]));
      try {
        expect(await again.waitFor(2)).toEqual([`${v1} put w/a 7 B`, `${v2} delete w/a 7 B`]);
      } finally {
        again.child.kill();
      }
    } finally {
      text.child.kill();
      json.child.kill();
    }
  });

  it("prints the tenant's quota and usage", async () => {
    const { cli } = await newTenant();
    await cli.ok(['kv', 'put', 'k', '"12345678"']);
    expect(await cli.ok(['kv', 'quota'])).toMatch(
      /^provisioned {2}1 MiB \(1048576 bytes\)\nutilised {5}10 B \(10 bytes, 0\.0%\)\nhistory {6}0 B .*\nobjects {6}1\nrevision {5}\d+\n$/,
    );
    const [quota] = await cli.json(['kv', 'quota', '--json']);
    expect(quota).toEqual({
      provisioned: 1048576,
      utilised: 10,
      objects: 1,
      revision: expect.any(Number),
      history_bytes: 0,
    });
  });

  it('exits 0 ok, 1 usage, 2 not found, 3 precondition failed, 4 quota exceeded, 5 auth, 6 unavailable', async () => {
    const { cli } = await newTenant('--quota', '100B');
    const token = JSON.parse(fs.readFileSync(cli.configFile, 'utf8')).logins[url].token as string;
    const run = async (args: string[], env?: Record<string, string>) => {
      const { code, stdout, stderr } = await cli.run(args, { env });
      return { code, stdout, stderr };
    };
    expect(await run(['kv', 'put', 'k', '1'])).toMatchObject({ code: 0 });
    expect(await run(['kv', 'get', 'k'])).toEqual({ code: 0, stdout: '1\n', stderr: '' });

    const usage = await run(['kv', 'get']);
    expect(usage).toMatchObject({ code: 1, stdout: '' });
    expect(usage.stderr).toMatch(/^error: missing required argument 'key'/);
    expect(await run(['kv', 'get', 'k', '--bogus'])).toMatchObject({ code: 1 });
    expect(await run(['kv', 'nope'])).toMatchObject({ code: 1 });
    expect(await run(['kv'])).toMatchObject({ code: 1 });

    expect(await run(['kv', 'get', 'missing'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: object not found (OBJECT_NOT_FOUND)\n',
    });
    const cas = await run(['kv', 'put', 'k', '2', '--if-version', '999999']);
    expect(cas).toMatchObject({
      code: 3,
      stderr: expect.stringMatching(/\(PRECONDITION_FAILED; the current version is \d+\)/),
    });
    expect(await run(['kv', 'put', 'big', JSON.stringify('x'.repeat(200))])).toEqual({
      code: 4,
      stdout: '',
      stderr: 'error: quota exceeded (QUOTA_EXCEEDED)\n',
    });
    expect(await run(['kv', 'get', 'k'], { TENANTKV_TOKEN: `${token}x` })).toEqual({
      code: 5,
      stdout: '',
      stderr: 'error: missing, invalid or expired token (UNAUTHORIZED)\n',
    });

    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await run(['kv', 'get', 'k'], { TENANTKV_URL: closed, TENANTKV_TOKEN: token });
    expect(down.code).toBe(6);
    expect(down.stderr).toMatch(
      /^error: the service cannot be reached: GET \/api\/object\/k: fetch failed \(ECONNREFUSED\)\n$/,
    );
  });
});

describe('tenantkv --help', () => {
  const cli = new Cli({});
  afterAll(() => cli.cleanup());

  const LEAVES = [
    'login',
    'logout',
    'kv get',
    'kv put',
    'kv rm',
    'kv ls',
    'kv watch',
    'kv history',
    'kv import',
    'kv export',
    'kv quota',
    'admin tenants ls',
    'admin tenants create',
    'admin tenants get',
    'admin tenants set',
    'admin tenants suspend',
    'admin tenants resume',
    'admin tenants rm',
    'admin tenants export',
    'admin tokens create',
    'admin tokens ls',
    'admin tokens revoke',
    'admin audit ls',
    'admin audit verify',
  ];

  it('describes the commands, the environment and the exit codes', async () => {
    const help = await cli.ok(['--help']);
    for (const part of [
      'login',
      'logout',
      'kv',
      'admin',
      'TENANTKV_TOKEN',
      'TENANTKV_ADMIN_KEY',
      'Exit codes:',
      'Examples:',
    ]) {
      expect(help).toContain(part);
    }
    for (const code of [0, 1, 2, 3, 4, 5, 6]) expect(help).toMatch(new RegExp(`^  ${code}  \\S`, 'm'));
    expect(await cli.ok(['--version'])).toBe(
      `${JSON.parse(fs.readFileSync(path.join(__dirname, '../../../packages/cli/package.json'), 'utf8')).version}\n`,
    );
  });

  it.each(['kv', 'admin', 'admin tenants', 'admin tokens', 'admin audit'])(
    'lists the commands of %s',
    async (group) => {
      const help = await cli.ok([...group.split(' '), '--help']);
      const subcommands = LEAVES.filter((l) => l.startsWith(`${group} `)).map(
        (l) => l.slice(group.length + 1).split(' ')[0],
      );
      expect(subcommands.length).toBeGreaterThan(0);
      for (const sub of new Set(subcommands)) expect(help).toMatch(new RegExp(`^  ${sub}\\b.*\\S`, 'm'));
    },
  );

  it.each(LEAVES)('describes `%s` with its options and examples', async (leaf) => {
    const help = await cli.ok([...leaf.split(' '), '--help']);
    expect(help).toMatch(new RegExp(`^Usage: tenantkv ${leaf} `, 'm'));
    expect(help).toMatch(/\nExamples?:\n {2}\$ tenantkv /);
    // Every option has a description.
    const options = help.slice(help.indexOf('Options:'), help.indexOf('\n\n', help.indexOf('Options:')));
    for (const line of options.split('\n').slice(1)) {
      if (/^ {2}-/.test(line)) expect(line).toMatch(/^ {2}-\S.*\s{2,}\S/);
    }
  });
});
