import cluster from 'node:cluster';
import type { Request, Response } from 'express';
import client from 'prom-client';
import type { PoolStats } from './db/database';
import { busy } from './errors';

/** What the gauges read when scraped: the serving process's requests in flight and its database pool. */
let inFlight: { readonly size: number } | undefined;
let pool: (() => PoolStats) | undefined;

/** The route label of a request no route answered (404, the docs pages, the admin prefix's refusals). */
const UNMATCHED = 'unmatched';

/**
 * The service's own metrics, on prom-client's default registry: node:cluster's AggregatorRegistry in the primary
 * collects that registry from every worker, so that /metrics reports the whole instance. Each metric is declared
 * once here and counted where its event happens; the gauges are read when scraped, never kept up per request.
 */
export const metrics = {
  httpRequests: new client.Counter({
    name: 'http_requests_total',
    help: 'Requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
  }),
  httpDuration: new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from the request reaching the app to its response sent, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    // A read from a warm database answers in about a millisecond: the buckets start below it.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
  httpInFlight: new client.Gauge({
    name: 'http_requests_in_flight',
    help: 'Requests accepted and not yet answered',
    collect() {
      if (inFlight) this.set(inFlight.size);
    },
  }),
  dbPool: new client.Gauge({
    name: 'tenantkv_db_pool_connections',
    help: 'Database connections of the pool: used (lent out), free (open, idle), pending (requests waiting for one)',
    labelNames: ['state'] as const,
    collect() {
      if (!pool) return;
      const stats = pool();
      this.set({ state: 'used' }, stats.used);
      this.set({ state: 'free' }, stats.free);
      this.set({ state: 'pending' }, stats.pending);
    },
  }),
  quotaRefusals: new client.Counter({
    name: 'tenantkv_quota_refusals_total',
    help: 'Writes refused because they would exceed the tenant quota',
  }),
  purgeRuns: new client.Counter({ name: 'tenantkv_purge_runs_total', help: 'Purge passes run by this service' }),
  purgeRows: new client.Counter({ name: 'tenantkv_purge_rows_total', help: 'Expired objects purged' }),
  purgeBytes: new client.Counter({
    name: 'tenantkv_purge_bytes_total',
    help: 'Bytes of expired objects purged and returned to quotas',
  }),
  retries: new client.Counter({
    name: 'tenantkv_retries_total',
    help: 'Database transactions retried, by cause',
    labelNames: ['cause'] as const,
  }),
  rateLimited: new client.Counter({
    name: 'tenantkv_rate_limited_total',
    help: 'Requests refused with 429 RATE_LIMITED',
  }),
  rateLimitStoreFailures: new client.Counter({
    name: 'tenantkv_rate_limit_store_failures_total',
    help: 'Rate-limit decisions that could not reach the store and let the request through (fail open)',
  }),
};

/** The per-tenant figures (METRICS_TENANT_LABELS): a series per tenant, so only where an operator asks for them. */
let perTenant: { requests: client.Counter<'tenant'>; quotaRefusals: client.Counter<'tenant'> } | undefined;

const TENANT_METRICS = ['tenantkv_tenant_requests_total', 'tenantkv_tenant_quota_refusals_total'] as const;

function setTenantLabels(on: boolean): void {
  if (on && !perTenant) {
    perTenant = {
      requests: new client.Counter({
        name: TENANT_METRICS[0],
        help: 'Requests answered for each tenant (METRICS_TENANT_LABELS)',
        labelNames: ['tenant'] as const,
      }),
      quotaRefusals: new client.Counter({
        name: TENANT_METRICS[1],
        help: 'Writes refused for quota, for each tenant (METRICS_TENANT_LABELS)',
        labelNames: ['tenant'] as const,
      }),
    };
  } else if (!on && perTenant) {
    for (const name of TENANT_METRICS) client.register.removeSingleMetric(name);
    perTenant = undefined;
  }
}

let instrumented = false;

/**
 * Every container sets up its process's metrics: once per process, the default process metrics and, in a
 * worker, prom-client's answer to the primary's gathering (it listens once an AggregatorRegistry exists); and
 * which pool the gauge reads and whether tenants get series of their own, as the latest container says (a
 * process serves one; tests build several).
 */
export function instrumentProcess(options: { tenantLabels: boolean; pool: () => PoolStats }): void {
  if (!instrumented) {
    instrumented = true;
    client.collectDefaultMetrics();
    if (cluster.isWorker) new client.AggregatorRegistry();
  }
  pool = options.pool;
  setTenantLabels(options.tenantLabels);
}

/** The requests the in-flight gauge counts: the serving process's. */
export function watchInFlight(requests: { readonly size: number }): void {
  inFlight = requests;
}

/** One answered request, when its response has been sent (the access log's listener calls it). */
export function observeRequest(req: Request, res: Response, ms: number): void {
  const labels = { method: req.method, route: req.route?.path ?? UNMATCHED, status: res.statusCode };
  metrics.httpRequests.inc(labels);
  metrics.httpDuration.observe(labels, ms / 1000);
  if (perTenant && req.user) perTenant.requests.inc({ tenant: req.user.tenantId });
}

/** A write refused QUOTA_EXCEEDED, whichever way it was written. */
export function countQuotaRefusal(tenantId: number): void {
  metrics.quotaRefusals.inc();
  perTenant?.quotaRefusals.inc({ tenant: tenantId });
}

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = client.register.contentType;

/** A worker's question to the primary, and the answer: the whole instance's figures, or why there are none. */
type MetricsMessage =
  | { tenantkvMetrics: 'gather'; id: number }
  | { tenantkvMetrics: 'gathered'; id: number; text: string }
  | { tenantkvMetrics: 'failed'; id: number; reason: string };

function metricsMessage(raw: unknown): MetricsMessage | undefined {
  const kind = typeof raw === 'object' && raw !== null ? (raw as MetricsMessage).tenantkvMetrics : undefined;
  return kind === 'gather' || kind === 'gathered' || kind === 'failed' ? (raw as MetricsMessage) : undefined;
}

/** Above prom-client's own bound on one gathering (5 s), so that the primary's answer, or its failure, comes first. */
const GATHER_TIMEOUT_MS = 10_000;

/** The worker's questions still unanswered, each settled by the primary's answer or by its timeout. */
const waiting = new Map<number, (answer: { text: string } | { error: Error }) => void>();
let asked = 0;
let listening = false;

function askPrimary(send: (message: MetricsMessage) => void): Promise<string> {
  if (!listening) {
    listening = true;
    process.on('message', (raw: unknown) => {
      const message = metricsMessage(raw);
      if (message?.tenantkvMetrics === 'gathered') waiting.get(message.id)?.({ text: message.text });
      else if (message?.tenantkvMetrics === 'failed') waiting.get(message.id)?.({ error: new Error(message.reason) });
    });
  }
  const id = ++asked;
  return new Promise<string>((resolve, reject) => {
    const settle = (answer: { text: string } | { error: Error }): void => {
      clearTimeout(timer);
      waiting.delete(id);
      if ('text' in answer) resolve(answer.text);
      else reject(answer.error);
    };
    const timer = setTimeout(() => settle({ error: new Error('the primary did not answer') }), GATHER_TIMEOUT_MS);
    waiting.set(id, settle);
    send({ tenantkvMetrics: 'gather', id });
  });
}

/**
 * The whole instance's metrics in the Prometheus text format, from the process that serves the request: a worker
 * asks the primary, which gathers every worker's registry; a process that is no worker (tests) is the instance.
 * A gathering that fails (a worker did not answer in time) is 503 BUSY: the next scrape may succeed.
 */
export async function instanceMetrics(): Promise<string> {
  if (!cluster.isWorker || !process.send) return client.register.metrics();
  const send = process.send.bind(process);
  try {
    return await askPrimary((message) => send(message));
  } catch (err) {
    const answer = busy('the metrics of every worker could not be gathered; retry shortly');
    answer.cause = err;
    throw answer;
  }
}

/**
 * The primary's part: gathers every worker's registry with prom-client's AggregatorRegistry (counters and
 * histograms summed, each default metric as prom-client aggregates it), for the METRICS_PORT listener that it
 * returns the render function of, and for any worker that asks on behalf of a scrape of the public port.
 */
export function gatherWorkerMetrics(): () => Promise<string> {
  const aggregator = new client.AggregatorRegistry();
  const render = (): Promise<string> => aggregator.clusterMetrics();
  cluster.on('message', (worker, raw: unknown) => {
    const message = metricsMessage(raw);
    if (message?.tenantkvMetrics !== 'gather') return;
    const { id } = message;
    render().then(
      (text) => worker.isConnected() && worker.send({ tenantkvMetrics: 'gathered', id, text } satisfies MetricsMessage),
      (err: unknown) =>
        worker.isConnected() &&
        worker.send({ tenantkvMetrics: 'failed', id, reason: (err as Error).message } satisfies MetricsMessage),
    );
  });
  return render;
}
