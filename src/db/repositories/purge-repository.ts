import type { Db } from '../knex';
import { isPrivilegeError } from '../dialect';
import {
  PURGE_EVENT,
  PURGE_PROCEDURE,
  purgeEventBody,
} from '../../../db/migrations/20261122000001_purge_procedure_and_event';

export interface EventState {
  /** The scheduler runs events at all (@@event_scheduler = ON). */
  schedulerOn: boolean;
  /** Our purge event exists and is enabled in this database. */
  eventEnabled: boolean;
}

/** SQL about the MySQL purge EVENT and procedure; only called where the dialect has events. */
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
      const [procedure] = await this.rows(
        `SELECT 1 AS present FROM information_schema.ROUTINES
         WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'tenantkv_purge_expired'`,
      );
      if (!procedure) await this.ignoringRace(PURGE_PROCEDURE);
      const [event] = await this.rows(
        `SELECT INTERVAL_VALUE AS every, INTERVAL_FIELD AS unit, EVENT_DEFINITION AS body
         FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = ?`,
        [PURGE_EVENT],
      );
      const schedule = `ON SCHEDULE EVERY ${Math.trunc(intervalSeconds)} SECOND`;
      if (!event) {
        await this.ignoringRace(`CREATE EVENT ${PURGE_EVENT} ${schedule} ON COMPLETION PRESERVE ENABLE DO ${body}`);
      } else if (
        String(event.unit) !== 'SECOND' ||
        Number(event.every) !== intervalSeconds ||
        String(event.body).trim() !== body
      ) {
        await this.db.knex.raw(`ALTER EVENT ${PURGE_EVENT} ${schedule} ENABLE DO ${body}`);
      }
      return true;
    } catch (err) {
      if (isPrivilegeError(err)) return false;
      throw err;
    }
  }

  async eventState(): Promise<EventState> {
    const [scheduler] = await this.rows('SELECT @@event_scheduler AS state');
    const [event] = await this.rows(
      `SELECT STATUS AS status FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = ?`,
      [PURGE_EVENT],
    );
    const state = String(scheduler?.state).toUpperCase();
    return {
      schedulerOn: state === 'ON' || state === '1',
      eventEnabled: event !== undefined && String(event.status) === 'ENABLED',
    };
  }

  /** Runs the purge the event runs, now: used by tests and by operators (`CALL tenantkv_purge_expired`). */
  async callPurgeProcedure(chunkRows: number): Promise<void> {
    await this.db.knex.raw('CALL tenantkv_purge_expired(?, ?)', [chunkRows, 1000]);
  }

  private async rows(sql: string, bindings: string[] = []): Promise<Record<string, unknown>[]> {
    return this.db.dialect.rowsOf(await this.db.knex.raw(sql, bindings));
  }

  /** Several instances start at once: one creating what another has just created is not a failure. */
  private async ignoringRace(sql: string): Promise<void> {
    try {
      await this.db.knex.raw(sql);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ER_SP_ALREADY_EXISTS' && code !== 'ER_EVENT_ALREADY_EXISTS') throw err;
    }
  }
}
