import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from './platform/config';
import type { Logger } from './platform/logger';

/** What a worker tells the primary about its start. */
export type WorkerReport =
  | { tenantkvLifecycle: 'ready'; url: string; purge: string; writes: string }
  | { tenantkvLifecycle: 'failed'; reason: string; permanent: boolean };

/** A worker that dies this soon after it was forked counts as failing to start, not as crashing. */
const FAST_DEATH_MS = 10_000;
/** This many fast deaths in a row and the primary stops: restarting would only repeat them. */
const MAX_FAST_DEATHS = 5;
const RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 30_000;

export function reportToPrimary(report: WorkerReport): void {
  process.send?.(report);
}

/** The URL of the address a server actually bound (0.0.0.0 or :: when it listens on every interface). */
export function boundUrl(address: AddressInfo, scheme: 'http' | 'https' = 'http'): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

const PERMANENT_CODES = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);

/** A start that no restart will fix: the port is taken or forbidden, or a setting is wrong. */
export function isPermanent(err: unknown): boolean {
  return err instanceof ConfigError || PERMANENT_CODES.has(String((err as { code?: unknown })?.code));
}

export function describeStartFailure(err: unknown, config: Pick<Config, 'host' | 'port'>): string {
  const code = String((err as { code?: unknown })?.code);
  if (code === 'EADDRINUSE') return `${config.host}:${config.port} is already in use (set PORT or HOST)`;
  if (code === 'EACCES')
    return `not allowed to listen on ${config.host}:${config.port} (ports below 1024 need privileges)`;
  if (code === 'EADDRNOTAVAIL') return `${config.host} is not an address of this machine (set HOST)`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Forks `count` workers and keeps them running. The first time all of them listen, says where, once. A worker
 * that cannot start for good (the port is taken), or that dies within seconds of its start MAX_FAST_DEATHS times
 * in a row, stops the whole service through `fatal`; one that dies after serving is replaced, after a delay that
 * doubles with each quick death and is capped.
 */
export function superviseWorkers(
  count: number,
  logger: Logger,
  fatal: (message: string) => void,
): { stop(): Promise<void> } {
  const forkedAt = new Map<number, number>();
  const ready = new Set<number>();
  const failures = new Map<number, Extract<WorkerReport, { tenantkvLifecycle: 'failed' }>>();
  let fastDeaths = 0;
  let announced = false;
  let stopping = false;

  const fork = (): void => {
    const worker = cluster.fork();
    forkedAt.set(worker.id, Date.now());
  };

  cluster.on('message', (worker: Worker, message: unknown) => {
    const report = message as WorkerReport;
    if (report?.tenantkvLifecycle === 'failed') failures.set(worker.id, report);
    if (report?.tenantkvLifecycle !== 'ready') return;
    ready.add(worker.id);
    if (announced) logger.info({ worker: worker.process.pid, url: report.url }, 'a replacement worker is serving');
    else if (ready.size >= count) {
      announced = true;
      logger.info(
        { url: report.url, workers: count, purge: report.purge, writes: report.writes },
        `tenantkv listening on ${report.url} (${count} worker${count === 1 ? '' : 's'})`,
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (forkedAt.get(worker.id) ?? 0);
    const wasReady = ready.delete(worker.id);
    const failure = failures.get(worker.id);
    forkedAt.delete(worker.id);
    failures.delete(worker.id);
    if (stopping) return;
    if (failure?.permanent) {
      stop(`a worker could not start: ${failure.reason}`);
      return;
    }
    fastDeaths = lived < FAST_DEATH_MS ? fastDeaths + 1 : 0;
    if (fastDeaths >= MAX_FAST_DEATHS) {
      const why = failure ? `: ${failure.reason}` : ` (last exit code ${code ?? signal})`;
      stop(`workers died within ${FAST_DEATH_MS / 1000} s of starting ${fastDeaths} times in a row${why}`);
      return;
    }
    const delay = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** Math.max(0, fastDeaths - 1));
    logger.error(
      { worker: worker.process.pid, code, signal, served: wasReady, restartInMs: delay },
      failure ? `worker failed to start (${failure.reason}); starting another` : 'worker died; starting another',
    );
    // Not unref'd: with every worker gone, this timer is what keeps the primary alive to restart them.
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  const stopAll = (): Promise<void> => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    return Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    ).then(() => undefined);
  };
  const stop = (reason: string): void => {
    void stopAll().then(() => fatal(`tenantkv stopped: ${reason}`));
  };

  for (let i = 0; i < count; i++) fork();
  return { stop: stopAll };
}
