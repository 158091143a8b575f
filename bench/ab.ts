/**
 * `make bench-ab BASE=<git ref>`: the service built from BASE against the service built from the working tree,
 * both running at once, with the load alternated between them in short slices, so that both see the same machine.
 * They share one fresh database, or get one each (provisioned alike) when their migrations differ, since neither
 * can run on the other's schema, or when AB_WORK_ENV is set. On a shared VM the CPU cost of identical code was
 * measured to swing ±25 % between minutes, which hides any change smaller than that from two separate
 * `make bench` runs; paired slices do not.
 *
 * Env: BASE (default HEAD), AB_SCENARIOS (scenario ids, default get-hit,post-create,post-overwrite),
 * AB_ROUNDS (default 6), AB_WORK_ENV (settings for the working tree's service only, as `HISTORY_DEPTH=10,…`:
 * with BASE=HEAD, what turning a setting on costs), BENCH_DATABASE_URL as for `make bench`; QUICK=1: two rounds
 * of one-second slices (CI runs it so that the tool never rots). Prints medians; writes nothing. Fails only when
 * something is broken.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  benchDatabase,
  createOwnedDatabase,
  databaseUrl,
  loadSettings,
  log,
  median,
  projectRoot,
  randomHex,
} from './common';
import { closeIdleSockets } from './http';
import { completelyFailed } from './load';
import { childPids, runTool, startService, type ServiceProcess } from './processes';
import { provision, serviceScenarios, smokeCheck } from './scenarios';

interface Sample {
  rps: number;
  cpuUsPerOp: number;
  unexpected: number;
}

function git(root: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
}

/** A detached worktree of `ref`, built, sharing the working tree's node_modules. */
function buildBase(root: string, ref: string): { dir: string; commit: string; remove: () => void } {
  const commit = git(root, 'rev-parse', '--short', `${ref}^{commit}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-ab-'));
  git(root, 'worktree', 'add', '--detach', dir, commit);
  const remove = (): void => {
    git(root, 'worktree', 'remove', '--force', dir);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  } catch (err) {
    remove();
    throw err;
  }
  return { dir, commit, remove };
}

function migrationNames(dir: string): string {
  return fs
    .readdirSync(path.join(dir, 'db', 'migrations'))
    .sort()
    .join('\n');
}

function change(base: number, work: number): string {
  const pct = ((work - base) / base) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`;
}

runTool('bench-ab', async (undo) => {
  const root = projectRoot();
  const ref = process.env.BASE?.trim() || 'HEAD';
  const ids = (process.env.AB_SCENARIOS ?? 'get-hit,post-create,post-overwrite').split(',').map((s) => s.trim());
  const loaded = loadSettings(process.env, os.availableParallelism());
  const rounds = loaded.quick ? 2 : Number(process.env.AB_ROUNDS ?? 6);
  // Shorter slices than `make bench`, so that the rounds alternate often; no waiting for quiet in between.
  const settings = { ...loaded, durationS: loaded.quick ? 1 : 5, warmupS: loaded.quick ? 0.3 : 1, quietWaitS: 0 };
  const database = benchDatabase(process.env);
  const base = buildBase(root, ref);
  undo(base.remove);
  const workEnv = Object.fromEntries(
    (process.env.AB_WORK_ENV ?? '')
      .split(',')
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()]),
  );
  // Settings may apply when tenants are created (HISTORY_DEPTH): the working tree then provisions its own.
  const sameSchema = migrationNames(base.dir) === migrationNames(root) && Object.keys(workEnv).length === 0;
  if (!sameSchema && !database.owned)
    throw new Error('two databases are needed: give BENCH_DATABASE_URL without a database, so each gets its own');
  const databases = { base: database, work: sameSchema ? database : { ...database, name: `${database.name}_work` } };
  undo(await createOwnedDatabase(databases.base));
  if (!sameSchema) undo(await createOwnedDatabase(databases.work));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-ab-logs-'));
  undo(() => fs.rmSync(logDir, { recursive: true, force: true }));
  const jwtSecret = randomHex(32);
  const start = async (name: 'base' | 'work', dir: string): Promise<ServiceProcess> => {
    const service = await startService({
      root: dir,
      databaseUrl: databaseUrl(databases[name]),
      jwtSecret,
      workers: 1,
      logFile: path.join(logDir, `${name}.log`),
      env: name === 'work' ? workEnv : undefined,
    });
    undo(service.stop);
    return service;
  };
  // On one database the base migrates first, and the working tree finds nothing to add.
  const services: Record<'base' | 'work', ServiceProcess> = {
    base: await start('base', base.dir),
    work: await start('work', root),
  };
  log(`base ${base.commit} (${ref}) against the working tree, ${rounds} rounds of ${settings.durationS} s slices`);
  const baseFixture = await provision(services.base.url, settings);
  const fixtures = {
    base: baseFixture,
    work: sameSchema ? baseFixture : await provision(services.work.url, settings),
  };
  await smokeCheck(services.base.url, fixtures.base);
  await smokeCheck(services.work.url, fixtures.work);

  const samples = new Map<string, Sample[]>();
  for (let round = 0; round < rounds; round++) {
    const order: ('base' | 'work')[] = round % 2 === 0 ? ['base', 'work'] : ['work', 'base'];
    for (const name of order) {
      const service = services[name];
      const scenarios = serviceScenarios(fixtures[name], settings, `${name[0]}${round}${randomHex(2)}`);
      for (const scenario of scenarios.filter((s) => ids.includes(s.id))) {
        const m = await scenario.run({ url: service.url, pids: () => [service.pid, ...childPids(service.pid)] });
        closeIdleSockets();
        if (completelyFailed(m)) throw new Error(`${name} ${scenario.id}: no expected response`);
        const key = `${scenario.id}\u0000${name}`;
        const list = samples.get(key) ?? [];
        list.push({ rps: m.rps, cpuUsPerOp: m.cpu?.subjectUsPerOp ?? 0, unexpected: m.unexpected });
        samples.set(key, list);
        log(
          `round ${round + 1} ${name} ${scenario.id}: ${m.rps.toFixed(0)} req/s, ${m.cpu?.subjectUsPerOp.toFixed(0)} µs/op`,
        );
      }
    }
  }

  const header = [
    'scenario',
    'req/s base',
    'req/s work',
    'change',
    'CPU µs/op base',
    'CPU µs/op work',
    'change',
    'rounds work cheaper',
  ];
  const rows = ids
    .filter((id) => samples.has(`${id}\u0000base`))
    .map((id) => {
      const b = samples.get(`${id}\u0000base`) as Sample[];
      const w = samples.get(`${id}\u0000work`) as Sample[];
      const [rb, rw] = [median(b.map((s) => s.rps)), median(w.map((s) => s.rps))];
      const [cb, cw] = [median(b.map((s) => s.cpuUsPerOp)), median(w.map((s) => s.cpuUsPerOp))];
      const bad = [...b, ...w].reduce((n, s) => n + s.unexpected, 0);
      // A sign test of the pairs: a real change shows in (nearly) every round, noise in about half.
      const cheaper = `${w.filter((s, i) => s.cpuUsPerOp < b[i].cpuUsPerOp).length} of ${w.length}`;
      return [id + (bad ? ` (${bad} unexpected)` : ''), rb, rw, change(rb, rw), cb, cw, change(cb, cw), cheaper].map(
        (c) => (typeof c === 'number' ? c.toFixed(c < 100 ? 1 : 0) : c),
      );
    });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  process.stdout.write(`\nmedians of ${rounds} paired slices (base ${base.commit}, work: the working tree)\n`);
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
});
