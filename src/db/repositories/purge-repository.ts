import type { Db } from '../knex';
import { PURGE_EVENT } from '../../../db/migrations/20261122000001_purge_procedure_and_event';

export interface EventState {
  /** The scheduler runs events at all (@@event_scheduler = ON). */
  schedulerOn: boolean;
  /** Our purge event exists and is enabled in this database. */
  eventEnabled: boolean;
  intervalSeconds: number | null;
}

/** SQL about the MySQL purge EVENT and procedure; only called where the dialect has events. */
export class PurgeRepository {
  constructor(private readonly db: Db) {}

  async eventState(): Promise<EventState> {
    const [scheduler] = this.db.dialect.rowsOf(await this.db.knex.raw('SELECT @@event_scheduler AS state'));
    const [event] = this.db.dialect.rowsOf(
      await this.db.knex.raw(
        `SELECT STATUS AS status, INTERVAL_VALUE AS every, INTERVAL_FIELD AS unit FROM information_schema.EVENTS
         WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = ?`,
        [PURGE_EVENT],
      ),
    );
    return {
      schedulerOn: String(scheduler?.state).toUpperCase() === 'ON' || String(scheduler?.state) === '1',
      eventEnabled: event !== undefined && String(event.status) === 'ENABLED',
      intervalSeconds: event && String(event.unit) === 'SECOND' ? Number(event.every) : null,
    };
  }

  async setEventInterval(seconds: number, chunkRows: number): Promise<void> {
    await this.db.knex.raw(
      `ALTER EVENT ${PURGE_EVENT} ON SCHEDULE EVERY ${Math.trunc(seconds)} SECOND
       DO CALL tenantkv_purge_expired(${Math.trunc(chunkRows)}, 1000)`,
    );
  }

  /** Runs the purge the event runs, now: used by tests and by operators (`CALL tenantkv_purge_expired`). */
  async callPurgeProcedure(chunkRows: number): Promise<void> {
    await this.db.knex.raw('CALL tenantkv_purge_expired(?, ?)', [chunkRows, 1000]);
  }
}
