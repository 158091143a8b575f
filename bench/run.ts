/**
 * `make bench`: starts the built service against a fresh database, provisions tenants through the API, runs the
 * service scenarios for each worker count, measures the baselines that bound them, and reports.
 * QUICK=1: one second a scenario, no targets, nothing written. PROFILE=1: WEB_CONCURRENCY=1 under --cpu-prof.
 * Exits non-zero only when something is broken, never for a missed target; always cleans up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { runBaselines } from './baselines';
import {
  benchDatabase,
  createOwnedDatabase,
  databaseUrl,
  loadSettings,
  log,
  mysqlOptions,
  projectRoot,
  randomHex,
  type BenchDatabase,
  type Settings,
} from './common';
import { closeIdleSockets } from './http';
import { completelyFailed, setQuietWait, type Measurement } from './load';
import {
  childPids,
  killAllChildren,
  MemorySampler,
  startService,
  type MemoryReport,
  type ServiceProcess,
} from './processes';
import { formatFrames, topFrames } from './profile';
import {
  buildReport,
  describeCommit,
  describeMachine,
  formatMachine,
  formatMarkdown,
  formatMemory,
  formatStaleness,
  formatTable,
  formatTargets,
  renderMarkdown,
  writeResults,
  type ServiceRun,
} from './report';
import { provision, serviceScenarios, smokeCheck, type ServiceScenario } from './scenarios';
import { measureStaleness, type StalenessResult } from './staleness';
import type { Fixture } from './workload';

/** Things to undo, last first; each runs once, whatever path the bench leaves by. */
class Cleanup {
  private readonly steps: { name: string; run: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  add(name: string, run: () => Promise<void>): () => void {
    const step = { name, run };
    this.steps.push(step);
    return () => {
      const i = this.steps.indexOf(step);
      if (i >= 0) this.steps.splice(i, 1);
    };
  }

  run(): Promise<void> {
    return (this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop() as { name: string; run: () => Promise<void> };
        try {
          await step.run();
        } catch (err) {
          process.stderr.write(`cleanup: ${step.name} failed: ${String(err)}\n`);
        }
      }
    })());
  }
}

interface Context {
  settings: Settings;
  root: string;
  database: BenchDatabase;
  jwtSecret: string;
  logDir: string;
  profileDir: string;
  stamp: string;
  cleanup: Cleanup;
}

async function withService<T>(
  ctx: Context,
  workers: number,
  profileId: string | undefined,
  work: (service: ServiceProcess) => Promise<T>,
  name = 'service',
): Promise<T> {
  const service = await startService({
    root: ctx.root,
    databaseUrl: databaseUrl(ctx.database),
    jwtSecret: ctx.jwtSecret,
    workers,
    logFile: path.join(ctx.logDir, `${name}-${workers}-${profileId ?? 'run'}.log`),
    cpuProfileDir: profileId ? path.join(ctx.profileDir, `${ctx.stamp}-${profileId}`) : undefined,
  });
  const forget = ctx.cleanup.add(`stop the service (pid ${service.pid})`, service.stop);
  log(`service up: pid ${service.pid}, WEB_CONCURRENCY=${workers}, ${service.url}`);
  try {
    return await work(service);
  } finally {
    forget();
    await service.stop();
  }
}

/** Runs one scenario; an exception becomes a failure entry instead of ending the whole bench. */
async function runScenario(
  scenario: ServiceScenario,
  service: ServiceProcess,
  failures: ServiceRun['failures'],
): Promise<Measurement | undefined> {
  log(`scenario: ${scenario.label}`);
  try {
    const m = await scenario.run({ url: service.url, pids: () => [service.pid, ...childPids(service.pid)] });
    if (completelyFailed(m))
      failures.push({
        id: scenario.id,
        error: `no expected response: ${JSON.stringify(m.statusCodes)}, ${m.errors} errors`,
      });
    return m;
  } catch (err) {
    failures.push({ id: scenario.id, error: String(err) });
    process.stderr.write(`scenario ${scenario.id} failed: ${String(err)}\n`);
    return undefined;
  }
}

function mergeMemory(reports: MemoryReport[]): MemoryReport {
  const byScenario: Record<string, number> = {};
  for (const r of reports)
    for (const [id, mb] of Object.entries(r.byScenario)) byScenario[id] = Math.max(byScenario[id] ?? 0, mb);
  return {
    processes: reports.flatMap((r) => r.processes),
    byScenario,
    workerPeakMb: Math.max(0, ...reports.map((r) => r.workerPeakMb)),
  };
}

/**
 * Provisioning runs on a service of its own, stopped before the measured ones start: registration hashes with
 * scrypt (32 MiB a hash, several at once), which would otherwise own the measured processes' peak RSS.
 */
async function setUp(ctx: Context): Promise<Fixture> {
  return withService(ctx, ctx.settings.defaultWorkers, undefined, async (service) => {
    const fixture = await provision(service.url, ctx.settings);
    await smokeCheck(service.url, fixture);
    return fixture;
  });
}

/** All scenarios on one fresh service per worker count; with PROFILE=1, one service (and profile) per scenario. */
async function runService(ctx: Context, workers: number, fixture: Fixture): Promise<ServiceRun> {
  const tag = `${randomHex(2)}w${workers}`;
  const failures: ServiceRun['failures'] = [];
  const measurements: Measurement[] = [];
  const memory: MemoryReport[] = [];
  const scenarios = serviceScenarios(fixture, ctx.settings, tag);
  const measure = (service: ServiceProcess, batch: ServiceScenario[]) => async (): Promise<void> => {
    const sampler = new MemorySampler(service.pid);
    try {
      await smokeCheck(service.url, fixture);
      for (const scenario of batch) {
        sampler.setScenario(scenario.id);
        const m = await runScenario(scenario, service, failures);
        if (m) measurements.push(m);
      }
      sampler.setScenario(undefined);
    } finally {
      memory.push(sampler.stop());
    }
  };
  if (ctx.settings.profile) {
    for (const scenario of scenarios) {
      await withService(ctx, workers, scenario.id, (service) => measure(service, [scenario])());
    }
  } else {
    await withService(ctx, workers, undefined, (service) => measure(service, scenarios)());
  }
  return { workers, scenarios: measurements, memory: mergeMemory(memory), failures };
}

/** The CACHE_MAX_STALENESS_MS the services run with (the default). */
const STALENESS_BOUND_MS = 1000;

/** Two instances on the one database: writes through A, eventual reads through B (bench/staleness.ts). */
async function runStaleness(ctx: Context): Promise<StalenessResult> {
  const workers = ctx.settings.defaultWorkers;
  return withService(
    ctx,
    workers,
    undefined,
    (a) =>
      withService(
        ctx,
        workers,
        undefined,
        (b) => {
          log(
            `staleness: ${ctx.settings.stalenessRate} writes/s through A for ${ctx.settings.stalenessS} s, eventual reads through B`,
          );
          return measureStaleness(a.url, b.url, {
            rate: ctx.settings.stalenessRate,
            seconds: ctx.settings.stalenessS,
            boundMs: STALENESS_BOUND_MS,
          });
        },
        'instance-b',
      ),
    'instance-a',
  );
}

function printProfiles(ctx: Context): void {
  const dirs = fs
    .readdirSync(ctx.profileDir)
    .filter((d) => d.startsWith(`${ctx.stamp}-`) && fs.statSync(path.join(ctx.profileDir, d)).isDirectory())
    .sort();
  process.stdout.write(
    `\nCPU profiles of the worker (WEB_CONCURRENCY=1, top 25 self-time frames by function+script), in ${ctx.profileDir}\n`,
  );
  for (const dir of dirs) {
    const title = dir.slice(ctx.stamp.length + 1);
    // One profile per process; the worker is the one that did the work (the primary only supervises).
    const busiest = fs
      .readdirSync(path.join(ctx.profileDir, dir))
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => topFrames(path.join(ctx.profileDir, dir, f), ctx.root))
      .sort((a, b) => b.totalMs - b.idleMs - (a.totalMs - a.idleMs))[0];
    process.stdout.write(busiest ? `\n${formatFrames(title, busiest)}\n` : `\n${title}: no .cpuprofile was written\n`);
  }
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const settings = loadSettings(process.env, os.availableParallelism());
  const root = projectRoot();
  const commit = describeCommit(root);
  const database = benchDatabase(process.env);
  const cleanup = new Cleanup();
  const mode = settings.profile ? 'profile' : settings.quick ? 'quick' : 'full';
  setQuietWait(settings.quietWaitS);
  const ctx: Context = {
    settings,
    root,
    database,
    jwtSecret: randomHex(32),
    logDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-bench-')),
    profileDir: path.join(root, 'bench', 'results', 'profiles'),
    stamp: startedAt.toISOString().replace(/[:.]/g, '-'),
    cleanup,
  };
  let keepLogs = false;
  cleanup.add('remove the service logs', async () => {
    if (keepLogs) process.stderr.write(`service logs kept in ${ctx.logDir}\n`);
    else fs.rmSync(ctx.logDir, { recursive: true, force: true });
  });

  const stopOn = (signal: NodeJS.Signals, code: number): void => {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up\n`);
      void cleanup.run().finally(() => process.exit(code));
    });
  };
  stopOn('SIGINT', 130);
  stopOn('SIGTERM', 143);
  process.once('exit', killAllChildren);
  // A hung scenario must not hang CI: give up, clean up, fail.
  const watchdog = setTimeout(
    () => {
      process.stderr.write('bench: watchdog expired, giving up\n');
      void cleanup.run().finally(() => process.exit(1));
    },
    (settings.quick ? 5 : 30) * 60_000,
  );
  watchdog.unref();

  if (!fs.existsSync(path.join(root, 'dist', 'src', 'server.js'))) {
    process.stderr.write('dist/src/server.js is missing: run `make bench` (it builds first)\n');
    return 1;
  }
  log(
    `mode ${mode}: ${settings.durationS} s per scenario after ${settings.warmupS} s warm-up, WEB_CONCURRENCY ${settings.workerCounts.join(', ')}`,
  );

  try {
    const admin = await mysql.createConnection(mysqlOptions(database.serverUrl, undefined, 1));
    let databaseVersion: string;
    try {
      const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
      const version = String(rows[0].v);
      databaseVersion = `${/mariadb/i.test(version) ? 'MariaDB' : 'MySQL'} ${version}`;
    } finally {
      await admin.end();
    }
    cleanup.add(`drop database ${database.name}`, await createOwnedDatabase(database));
    log(`database ${database.name} on ${new URL(database.serverUrl).host} (${databaseVersion})`);

    const fixture = await setUp(ctx);
    const runs: ServiceRun[] = [];
    for (const workers of settings.workerCounts) runs.push(await runService(ctx, workers, fixture));
    const staleness = settings.profile ? undefined : await runStaleness(ctx);
    log('baselines');
    const baselines = await runBaselines(database, fixture, settings, root);

    const report = buildReport({
      mode,
      startedAt,
      machine: describeMachine(databaseVersion, commit),
      settings,
      baselines,
      runs,
      staleness,
    });
    process.stdout.write(
      `\n${formatMachine(report)}\n\n${formatTable(report)}\n\n${formatMemory(report)}\n${formatStaleness(report)}\n`,
    );
    if (report.targets.length) process.stdout.write(`\nTargets:\n${formatTargets(report)}\n`);
    if (mode === 'full') {
      const written = await writeResults(report, root);
      process.stdout.write(`\nwrote ${written.map((f) => path.relative(root, f)).join(', ')}\n`);
    } else {
      // Render anyway, so that quick runs in CI keep the reporting code honest.
      await formatMarkdown(renderMarkdown(report), path.join(root, 'docs', 'BENCHMARKS.md'));
      if (mode === 'profile') {
        fs.mkdirSync(ctx.profileDir, { recursive: true });
        const file = path.join(ctx.profileDir, `${ctx.stamp}.json`);
        fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
        process.stdout.write(`\nwrote ${path.relative(root, file)}\n`);
      }
    }
    if (mode === 'profile') printProfiles(ctx);

    const broken = [
      ...runs.flatMap((r) => r.failures.map((f) => `WEB_CONCURRENCY=${r.workers} ${f.id}: ${f.error}`)),
      ...(staleness && staleness.reads === 0 ? ['staleness: no eventual read answered'] : []),
      ...baselines.filter(completelyFailed).map((b) => `baseline ${b.id}: no expected result`),
    ];
    if (broken.length > 0) {
      keepLogs = true;
      process.stderr.write(`\nbench: broken scenarios:\n  ${broken.join('\n  ')}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    keepLogs = true;
    process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  } finally {
    await cleanup.run();
    closeIdleSockets();
    clearTimeout(watchdog);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench crashed: ${String(err)}\n`);
    killAllChildren();
    process.exit(1);
  },
);
