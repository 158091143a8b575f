import cluster from 'node:cluster';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, isEmbedded, loadConfig, type Config } from './platform/config';
import { createLogger, flushLogger, type Logger } from './platform/logger';
import { createDb } from './platform/db/database';
import { migrateLatest } from './platform/db/migrate';
import { refusedTls } from './platform/db/server-check';
import { createContainer, type Container } from './container';
import { buildApp, sendError } from './app';
import { InFlight } from './platform/http/in-flight';
import { resolveJwtSecret } from './features/auth';
import { relayWorkerBus } from './platform/worker-bus';
import { gatherWorkerMetrics, watchInFlight } from './platform/metrics';
import { listenMetrics, METRICS_PATH } from './platform/http/metrics-endpoint';
import { serveLimitsToWorkers } from './features/rate-limit';
import { boundUrl, describeStartFailure, isPermanent, reportToPrimary, superviseWorkers } from './supervisor';

export interface RunningService {
  url: string;
  container: Container;
  stop(): Promise<void>;
}

/** One serving process: its container, its background work, its HTTP server. Listens on config.port (0 picks a free port). */
export async function startService(
  config: Config,
  logger: Logger,
  options: { migrate: boolean },
): Promise<RunningService> {
  if (options.migrate) await migrate(config);
  const container = await createContainer(config, logger);
  await container.start();
  // Requests accepted and not yet answered; once draining, every response says Connection: close.
  const running = new InFlight(config.requestTimeoutMs, sendError);
  watchInFlight(running);
  const app = buildApp(container, running);
  let draining = false;
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (draining) res.setHeader('Connection', 'close');
    app(req, res);
  };
  const server = config.https
    ? https.createServer({ cert: config.https.cert.content, key: config.https.key.content }, handle)
    : http.createServer(handle);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const url = boundUrl(server.address() as AddressInfo, config.https ? 'https' : 'http');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Every request accepted is answered. From now on no connection takes another request: the responses still
      // to come say Connection: close and their connection closes once each is sent; idle connections close at
      // once. Only what is still running at the deadline is cut, and counted.
      draining = true;
      const inFlight = running.size;
      for (const res of running.responses()) if (!res.headersSent) res.setHeader('Connection', 'close');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Change streams never finish on their own: end them, and their clients resume elsewhere.
      container.endStreams();
      // Once nothing runs, every connection left is one that has sent no request (fetch opens one ahead, and Node
      // counts it neither idle nor busy): close them all, rather than wait for the deadline.
      const closeWhenDone = (): void =>
        running.size === 0 ? server.closeAllConnections() : server.closeIdleConnections();
      closeWhenDone();
      // A response whose headers went out before the signal leaves its connection idle when it ends: close it then.
      for (const res of running.responses()) res.once('finish', () => setImmediate(closeWhenDone));
      let cut = 0;
      const deadline = setTimeout(() => {
        cut = running.size;
        if (cut > 0) logger.warn({ cut }, `shutdown deadline: cutting ${cut} request(s) still running`);
        server.closeAllConnections();
      }, config.shutdownTimeoutSeconds * 1000);
      await closed;
      clearTimeout(deadline);
      logger.info({ inFlightAtSignal: inFlight, cut }, `stopped serving: ${cut} request(s) cut at the deadline`);
      await container.close();
    })());
  return { url, container, stop };
}

async function migrate(config: Config, logger?: Logger): Promise<void> {
  const db = createDb(config);
  try {
    await migrateLatest(db, logger);
  } catch (err) {
    throw refusedTls(config, err) ?? err;
  } finally {
    await db.close();
  }
}

function describeStorage(config: Config): string {
  return isEmbedded(config)
    ? `embedded SQLite database in ${config.dataDir} (set DATABASE_URL=mysql://… for MySQL/MariaDB)`
    : `MySQL/MariaDB at ${new URL(config.databaseUrl as string).host}`;
}

/** Exits once the asynchronous logger has written what it holds. */
function exit(logger: Logger, code: number): void {
  void flushLogger(logger).finally(() => process.exit(code));
}

async function runWorker(config: Config, logger: Logger): Promise<void> {
  let service: RunningService;
  try {
    service = await startService(config, logger, { migrate: false });
  } catch (err) {
    const failure = refusedTls(config, err) ?? err;
    // The primary decides what a failed start means; it needs to know why.
    reportToPrimary({
      tenantkvLifecycle: 'failed',
      reason: describeStartFailure(failure, config),
      permanent: isPermanent(failure),
    });
    throw failure;
  }
  reportToPrimary({
    tenantkvLifecycle: 'ready',
    url: service.url,
    purge: service.container.purge.mode,
    writes: service.container.writeStrategy.name,
  });
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    service.stop().then(
      () => exit(logger, 0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(logger, 1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

/**
 * The primary migrates once, then forks WEB_CONCURRENCY workers that share the port and supervises them
 * (supervisor.ts). Each worker's V8 old space is capped at WORKER_HEAP_MB: left alone, V8 lets garbage from
 * bursts of large batches grow a worker past 250 MB before it collects.
 */
async function runPrimary(config: Config, logger: Logger): Promise<void> {
  logger.info(
    { storage: describeStorage(config), workers: config.webConcurrency },
    `storage: ${describeStorage(config)}`,
  );
  resolveJwtSecret(config);
  if (config.migrateOnStart) await migrate(config, logger);
  relayWorkerBus();
  // The primary answers for the whole instance: on METRICS_PORT, and to any worker scraped on the public port.
  const renderMetrics = gatherWorkerMetrics();
  if (config.metricsPort !== undefined) {
    const server = await listenMetrics(config.metricsPort, config.metricsHost, renderMetrics, logger);
    const url = `${boundUrl(server.address() as AddressInfo)}${METRICS_PATH}`;
    logger.info({ metrics: url }, `metrics of the whole instance on ${url}, without credentials`);
  }
  serveLimitsToWorkers(config);
  cluster.setupPrimary({ execArgv: [...process.execArgv, `--max-old-space-size=${config.workerHeapMb}`] });
  const supervisor = superviseWorkers(config.webConcurrency, logger, (message) => {
    logger.fatal(message);
    exit(logger, 1);
  });
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'shutting down workers');
    void supervisor.stop().then(() => exit(logger, 0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tenantkv: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  try {
    if (cluster.isPrimary) await runPrimary(config, logger);
    else await runWorker(config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.fatal(err.message);
      return exit(logger, 2);
    }
    // A worker's failure is the primary's to judge (supervisor.ts); the details are logged here.
    if (cluster.isWorker) logger.error({ err }, 'worker could not start');
    else logger.fatal({ err }, 'tenantkv failed to start');
    exit(logger, 1);
  }
}

if (require.main === module) void main();
