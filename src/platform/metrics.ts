import client from 'prom-client';

/**
 * The service's own metrics, on prom-client's default registry: node:cluster's AggregatorRegistry in the primary
 * collects that registry from every worker, so that /metrics reports the whole instance. Each metric is declared
 * once here and counted where its event happens.
 */
export const metrics = {
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
