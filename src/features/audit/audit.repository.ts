import type { Sql } from '../../platform/db/sql';

/** A row of audit_log as stored: the changed fields as the JSON text that was hashed. */
export interface AuditRow {
  id: number;
  atMs: number;
  actor: string | null;
  action: string;
  target: string;
  clientAddress: string | null;
  beforeJson: string | null;
  afterJson: string | null;
  prevHash: string;
  hash: string;
}

/** The end of the chain: the last row's id and hash (0 and the genesis hash while the log is empty). */
export interface AuditHead {
  lastId: number;
  hash: string;
}

const HEAD_ID = 1;

/** All SQL on audit_log and audit_head. */
export class AuditRepository {
  constructor(private readonly sql: Sql) {}

  /** The head, locked for the caller's transaction; undefined if its row is gone. */
  async lockHead(): Promise<AuditHead | undefined> {
    const [row] = await this.sql.select(
      `SELECT last_id, hash FROM audit_head WHERE id = ?${this.sql.dialect.forUpdate}`,
      [HEAD_ID],
    );
    return row ? toHead(row) : undefined;
  }

  async head(): Promise<AuditHead | undefined> {
    const [row] = await this.sql.select(this.sql.build('audit_head').select('last_id', 'hash').where('id', HEAD_ID));
    return row ? toHead(row) : undefined;
  }

  /** Writes `row` and makes it the head, in the caller's transaction. */
  async append(row: AuditRow): Promise<void> {
    await this.sql.execute(
      this.sql.build('audit_log').insert({
        id: row.id,
        at: row.atMs,
        actor: row.actor,
        action: row.action,
        target: row.target,
        client_address: row.clientAddress,
        before_json: row.beforeJson,
        after_json: row.afterJson,
        prev_hash: row.prevHash,
        hash: row.hash,
      }),
    );
    await this.sql.execute(
      this.sql.build('audit_head').update({ last_id: row.id, hash: row.hash }).where('id', HEAD_ID),
    );
  }

  /** Up to `limit` rows in id order, after `afterId` (from the very first row when undefined). */
  async page(afterId: number | undefined, limit: number): Promise<AuditRow[]> {
    const query = this.sql.build('audit_log').select('*').orderBy('id').limit(limit);
    if (afterId !== undefined) query.where('id', '>', afterId);
    return (await this.sql.select(query)).map(toRow);
  }
}

const nullableText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

function toHead(row: Record<string, unknown>): AuditHead {
  return { lastId: Number(row.last_id), hash: String(row.hash) };
}

function toRow(row: Record<string, unknown>): AuditRow {
  return {
    id: Number(row.id),
    atMs: Number(row.at),
    actor: nullableText(row.actor),
    action: String(row.action),
    target: String(row.target),
    clientAddress: nullableText(row.client_address),
    beforeJson: nullableText(row.before_json),
    afterJson: nullableText(row.after_json),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}
