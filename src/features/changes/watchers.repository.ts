import type { Sql } from '../../platform/db/sql';

/**
 * SQL on feed_watchers: one row per open change stream, with a lease its process renews, so that the limit of
 * streams per tenant is counted across every worker and instance, and a dead process's rows lapse by themselves.
 */
export class WatchersRepository {
  constructor(private readonly sql: Sql) {}

  /** Takes a slot for a stream; resolves false, taking nothing, when the tenant has `max` open already. */
  async acquire(
    id: string,
    tenantId: number,
    process: string,
    nowMs: number,
    leaseMs: number,
    max: number,
  ): Promise<boolean> {
    await this.sql.execute('INSERT INTO feed_watchers (id, tenant_id, process, expires_at) VALUES (?, ?, ?, ?)', [
      id,
      tenantId,
      process,
      nowMs + leaseMs,
    ]);
    const [row] = await this.sql.select(
      'SELECT COUNT(*) AS n FROM feed_watchers WHERE tenant_id = ? AND expires_at > ?',
      [tenantId, nowMs],
    );
    if (Number(row?.n ?? 0) <= max) return true;
    await this.release(id);
    return false;
  }

  async release(id: string): Promise<void> {
    await this.sql.execute('DELETE FROM feed_watchers WHERE id = ?', [id]);
  }

  /** Renews every lease of a process, and drops leases that have lapsed (processes that died). */
  async renew(process: string, nowMs: number, leaseMs: number): Promise<void> {
    await this.sql.execute('UPDATE feed_watchers SET expires_at = ? WHERE process = ?', [nowMs + leaseMs, process]);
    await this.sql.execute('DELETE FROM feed_watchers WHERE expires_at <= ?', [nowMs]);
  }
}
