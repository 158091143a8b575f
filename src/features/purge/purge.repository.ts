import type { Db } from '../../platform/db/database';
import { PURGE_EVENT, PURGE_PROCEDURE, PURGE_PROCEDURE_NAME, purgeEventBody } from './purge-procedure';

export interface EventState {
  /** The scheduler runs events at all (@@event_scheduler = ON). */
  schedulerOn: boolean;
  /** Our purge event exists and is enabled in this database. */
  eventEnabled: boolean;
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
    return { schedulerOn: info.schedulerOn, eventEnabled: info.event?.enabled === true };
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
