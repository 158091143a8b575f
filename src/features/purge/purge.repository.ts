import type { Db } from '../../platform/db/database';
import { PURGE_EVENT, PURGE_PROCEDURE, PURGE_PROCEDURE_NAME, purgeEventBody } from './purge-procedure';

export interface EventState {
  /** The scheduler runs events at all (@@event_scheduler = ON). */
  schedulerOn: boolean;
  /** Our purge event exists and is enabled in this database. */
  eventEnabled: boolean;
  /** ENABLED, DISABLED or SLAVESIDE_DISABLED; undefined when there is no event. */
  eventStatus: string | undefined;
}

/** SQL about the MySQL purge EVENT and its procedure; only called where the dialect has events. */
export class PurgeRepository {
  constructor(private readonly db: Db) {}

  /**
   * Makes the procedure and the event exist with this schedule and chunk size, creating what a migration
   * without the privilege could not (once it has been granted) and altering only what differs. Returns
   * false when this database user may not.
   */
  async ensureEvent(intervalSeconds: number, chunkRows: number): Promise<boolean> {
    const body = purgeEventBody(chunkRows);
    try {
      const present = await this.onConnection((conn) => this.db.dialect.existingRoutines(conn, [PURGE_PROCEDURE_NAME]));
      if (!present.has(PURGE_PROCEDURE_NAME)) await this.ignoringRace(PURGE_PROCEDURE);
      const { event } = await this.onConnection((conn) => this.db.dialect.eventInfo(conn, PURGE_EVENT));
      const schedule = `ON SCHEDULE EVERY ${Math.trunc(intervalSeconds)} SECOND`;
      if (!event) {
        await this.ignoringRace(`CREATE EVENT ${PURGE_EVENT} ${schedule} ON COMPLETION PRESERVE ENABLE DO ${body}`);
      } else if (event.intervalSeconds !== intervalSeconds || event.body !== body) {
        await this.db.sql.execute(`ALTER EVENT ${PURGE_EVENT} ${schedule} ENABLE DO ${body}`);
      }
      return true;
    } catch (err) {
      if (this.db.dialect.classify(err) === 'privilege') return false;
      throw err;
    }
  }

  async eventState(): Promise<EventState> {
    const info = await this.onConnection((conn) => this.db.dialect.eventInfo(conn, PURGE_EVENT));
    return {
      schedulerOn: info.schedulerOn,
      eventEnabled: info.event?.enabled === true,
      eventStatus: info.event?.status,
    };
  }

  /**
   * Drops the EVENT where it exists, so that no node's scheduler purges beside the lease. On Galera an EVENT runs
   * on the node that last created or altered it (SLAVESIDE_DISABLED elsewhere): switched off from one node it
   * shows SLAVESIDE_DISABLED on the others, and would go back to its home node if anyone altered it; dropped, it
   * is gone from every node (the single-server modes create it again). Returns false when this user may not.
   */
  async dropEvent(): Promise<boolean> {
    try {
      const { event } = await this.onConnection((conn) => this.db.dialect.eventInfo(conn, PURGE_EVENT));
      if (event) await this.db.sql.execute(`DROP EVENT IF EXISTS ${PURGE_EVENT}`);
      return true;
    } catch (err) {
      if (this.db.dialect.classify(err) === 'privilege') return false;
      throw err;
    }
  }

  /**
   * Takes or renews the lease `name` for `holder` until `expiresAtMs`: one conditional UPDATE, which only matches
   * where the lease is the holder's own or has lapsed at `nowMs`. On a cluster two nodes that both match conflict
   * at commit, and the loser's retry no longer matches. It runs as a transaction, whose start waits until this
   * node has applied what the cluster committed before (wsrep_sync_wait). True when `holder` holds it.
   */
  claimLease(name: string, holder: string, nowMs: number, expiresAtMs: number): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const result = await sql.execute(
        'UPDATE purge_lease SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)',
        [holder, expiresAtMs, name, holder, nowMs],
      );
      return result.affectedRows === 1;
    });
  }

  /** Gives the lease up at once (a holder that stops), so that another instance need not wait for it to lapse. */
  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.sql.execute('UPDATE purge_lease SET holder = ?, expires_at = 0 WHERE name = ? AND holder = ?', [
      '',
      name,
      holder,
    ]);
  }

  /** Who holds the lease, and until when (for the logs and the tests). */
  async lease(name: string): Promise<{ holder: string; expiresAtMs: number } | undefined> {
    const [row] = await this.db.sql.select('SELECT holder, expires_at FROM purge_lease WHERE name = ?', [name]);
    return row && { holder: String(row.holder), expiresAtMs: Number(row.expires_at) };
  }

  /** Runs the purge the event runs, now: used by tests and by operators (`CALL tenantkv_purge_expired_v2`). */
  async callPurgeProcedure(chunkRows: number): Promise<void> {
    await this.db.sql.call(`CALL ${PURGE_PROCEDURE_NAME}(?, ?)`, [chunkRows, 1000]);
  }

  private async onConnection<T>(work: (conn: unknown) => Promise<T>): Promise<T> {
    const conn = await this.db.pool.acquire();
    try {
      return await work(conn);
    } finally {
      this.db.pool.release(conn);
    }
  }

  /** Several instances start at once: one creating what another has just created is not a failure. */
  private async ignoringRace(sql: string): Promise<void> {
    try {
      await this.db.sql.execute(sql);
    } catch (err) {
      if (this.db.dialect.classify(err) !== 'already_exists') throw err;
    }
  }
}
