import type { RequestHandler } from 'express';
import type { Config } from './platform/config';
import type { Logger } from './platform/logger';
import { systemClock, type Clock } from './platform/clock';
import { createDb, type Db } from './platform/db/database';
import { unitOfWork } from './platform/db/unit-of-work';
import { checkServer } from './platform/db/server-check';
import type { Scope } from './platform/principal';
import type { RouteSpec } from './platform/http/routes';
import { workerBus, type WorkerBus } from './platform/worker-bus';
import { instanceMetrics, instrumentProcess } from './platform/metrics';
import { cursorCodec } from './platform/cursor';
import { LedgerRepository, QuotaController } from './features/quota';
import {
  ChangesController,
  ChangesRepository,
  ChangesService,
  FeedHub,
  RetentionService,
  WatchersRepository,
} from './features/changes';
import { HistoryRepository } from './features/history';
import {
  HistoryService,
  KeySpaceService,
  ObjectController,
  ObjectService,
  ObjectsRepository,
  ALONE_IN_FLIGHT,
  PointReads,
  ReadCache,
  WritePipeline,
  chooseWriteStrategy,
  procedureStrategy,
  transactionStrategy,
  WriteQueue,
  type WriteStrategy,
} from './features/objects';
import { ApiTokenRepository, TenantRepository } from './features/tenants';
import {
  AuthController,
  AuthService,
  TenantAccess,
  TokenService,
  createAdminAuth,
  createTenantAuth,
  resolveJwtSecret,
} from './features/auth';
import { AdminController, AdminService } from './features/admin';
import { AuditController, AuditRepository, AuditService, AuthFailureLog } from './features/audit';
import { PurgeRepository, PurgeService } from './features/purge';
import { LimiterStore, LoginThrottle, TenantRateLimits } from './features/rate-limit';
import { HealthController } from './features/health';
import { MetricsController } from './features/metrics';
import { TransferController, TransferService } from './features/transfer';
import { compileSchema, loadOpenApi } from './platform/http/openapi';
import { routeTable } from './routes';

/** Everything one serving process is made of, built in one place. */
export interface Container {
  config: Config;
  logger: Logger;
  clock: Clock;
  db: Db;
  tokens: TokenService;
  access: TenantAccess;
  purge: PurgeService;
  pipeline: WritePipeline;
  writeStrategy: WriteStrategy;
  /** Every client write, in one line per tenant (group commit). */
  writes: WriteQueue;
  /** Strong point reads, coalesced while others are at the database (READ_COALESCING). */
  reads: PointReads;
  /** The objects eventual reads may be answered from; undefined with READ_CACHE_MB=0. */
  readCache: ReadCache | undefined;
  /** Every route, in one table: a test checks it against swagger.yaml. */
  routes: RouteSpec[];
  /** Tenant authentication, then the tenant's rate limit. */
  authenticate: (scope: Scope) => RequestHandler[];
  /** Where rate limits and login throttling count: this process, the primary, or Redis. */
  rateLimitStore: LimiterStore;
  adminAuth: RequestHandler;
  feed: FeedHub;
  retention: RetentionService;
  /**
   * Starts the background work: the purge (or keeping its EVENT in step), retention, the access-cache poll; then
   * waits for the rate-limit store to connect.
   */
  start(): Promise<void>;
  /** Ends every open change stream: at shutdown, before waiting for in-flight requests. */
  endStreams(): void;
  /** Stops the background work and closes the database. */
  close(): Promise<void>;
}

export interface ContainerOptions {
  clock?: Clock;
  /** Forces a write strategy instead of the best one the database has (the contract tests run each). */
  writeStrategy?: WriteStrategy['name'];
  /** The channel to this instance's other workers; by default node:cluster's, when this is a worker. */
  bus?: WorkerBus;
}

/** The composition root: config in, the object graph out. Nothing else constructs services or repositories. */
export async function createContainer(
  config: Config,
  logger: Logger,
  options: ContainerOptions = {},
): Promise<Container> {
  const clock = options.clock ?? systemClock;
  const db = createDb(config);
  instrumentProcess({ tenantLabels: config.metricsTenantLabels, pool: () => db.poolStats() });
  try {
    const secret = resolveJwtSecret(config);
    const tokens = new TokenService(secret, config.jwtLifetimeSeconds);
    const tenants = new TenantRepository(db.sql);
    const apiTokens = new ApiTokenRepository(db.sql);
    const bus = options.bus ?? workerBus();
    const access = new TenantAccess(config, tenants, apiTokens, clock, bus);
    const feed = new FeedHub(
      config,
      new ChangesRepository(db.sql),
      new WatchersRepository(db.sql),
      access,
      clock,
      logger,
      bus,
    );
    const objects = new ObjectsRepository(db.sql);
    const reads = new PointReads(objects, config.readCoalescing ? ALONE_IN_FLIGHT : Number.POSITIVE_INFINITY);
    const readCache =
      config.readCacheMb > 0
        ? new ReadCache(config.readCacheMb, config.cacheMaxStalenessMs, objects, bus, config.webConcurrency > 1, () =>
            feed.resume(),
          )
        : undefined;
    if (readCache) feed.follow(readCache);
    const committed = (tenantId: number, keys: readonly string[]): void => {
      feed.nudge(tenantId);
      readCache?.written(tenantId, keys);
    };
    const pipeline = new WritePipeline(
      unitOfWork(db, (sql) => ({
        ledger: new LedgerRepository(sql),
        objects: new ObjectsRepository(sql),
        history: new HistoryRepository(sql),
        changes: new ChangesRepository(sql),
      })),
      committed,
    );
    const writeStrategy =
      options.writeStrategy === 'transaction'
        ? transactionStrategy(pipeline)
        : options.writeStrategy === 'procedure'
          ? procedureStrategy(db, pipeline, committed)
          : await chooseWriteStrategy(db, pipeline, committed, logger);
    // Half the request budget: a write that waited longer would risk being answered 503 after it committed.
    const writes = new WriteQueue(writeStrategy, pipeline, { maxWaitMs: config.requestTimeoutMs / 2 });
    const cursors = cursorCodec(secret);
    const retention = new RetentionService(
      config,
      db,
      unitOfWork(db, (sql) => ({ changes: new ChangesRepository(sql) })),
      clock,
      logger,
    );
    const purge = new PurgeService(config, db, pipeline, new PurgeRepository(db), logger, clock);
    const audit = new AuditService(
      new AuditRepository(db.sql),
      unitOfWork(db, (sql) => ({ audit: new AuditRepository(sql) })),
      clock,
    );
    const authFailures = new AuthFailureLog(audit, logger);
    const admin = new AdminService(
      config,
      tenants,
      unitOfWork(db, (sql) => ({
        tenants: new TenantRepository(sql),
        apiTokens: new ApiTokenRepository(sql),
        audit: new AuditRepository(sql),
      })),
      audit,
      pipeline,
      new ChangesRepository(db.sql),
      apiTokens,
      tokens,
      access,
      clock,
    );
    const objectService = new ObjectService(config, reads, readCache, writes, clock);
    const { document } = loadOpenApi({ maxKeyChars: config.maxKeyChars });
    const transfer = new TransferService(
      config,
      objects,
      objectService,
      writes,
      access,
      compileSchema(document, 'BatchItem'),
      clock,
    );
    // Past the last step that can fail: a Redis client keeps the process alive until it is closed.
    const limiterStore = new LimiterStore(config, logger);
    const rateLimits = new TenantRateLimits(config, access, limiterStore);
    const tenantAuth = createTenantAuth(tokens, access);
    const routes = routeTable({
      auth: new AuthController(
        new AuthService(config, tenants, tokens, clock, new LoginThrottle(limiterStore, config)),
      ),
      objects: new ObjectController(
        objectService,
        new KeySpaceService(config, objects, pipeline, writes, cursors, clock, readCache),
        new HistoryService(new ObjectsRepository(db.sql), new HistoryRepository(db.sql), pipeline, cursors, clock),
      ),
      changes: new ChangesController(
        new ChangesService(new ChangesRepository(db.sql)),
        feed,
        config.maxWatchersPerTenant,
      ),
      quota: new QuotaController(new LedgerRepository(db.sql)),
      health: new HealthController(db),
      admin: new AdminController(admin),
      audit: new AuditController(audit),
      metrics: new MetricsController(instanceMetrics),
      transfer: new TransferController(transfer, admin, config.maxBodyBytes),
    });
    return {
      config,
      logger,
      clock,
      db,
      tokens,
      access,
      purge,
      pipeline,
      writeStrategy,
      writes,
      reads,
      readCache,
      routes,
      authenticate: (scope) => [tenantAuth(scope), rateLimits.handler],
      rateLimitStore: limiterStore,
      adminAuth: createAdminAuth(config.adminApiKeys, tokens, (failure) => authFailures.record(failure)),
      feed,
      retention,
      async start() {
        await checkServer(config, db, logger);
        // Maintenance: nothing of this instance's writes to the database, the purge's neither.
        if (config.readOnly) logger.warn('READ_ONLY: tenant writes are refused and this instance does not purge');
        else await purge.start();
        retention.start();
        access.startPolling(logger);
        await limiterStore.ready();
      },
      endStreams() {
        feed.close();
      },
      async close() {
        feed.close();
        access.stopPolling();
        await purge.stop();
        await retention.stop();
        await feed.idle();
        limiterStore.close();
        await authFailures.flush();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
