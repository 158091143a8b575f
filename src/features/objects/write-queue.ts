import { busy } from '../../platform/errors';
import type { Moment } from '../../platform/clock';
import type { ObjectWrite, Precondition, WriteCommand, WriteOutcome } from './write-model';
import type { WritePipeline } from './write-pipeline';
import type { WriteStrategy } from './write-strategies';

/** A group commits at most this many commands, */
export const MAX_GROUP_COMMANDS = 100;
/** and at most this many bytes of values (a larger command commits alone), so that no group outgrows a packet. */
export const MAX_GROUP_BYTES = 1024 * 1024;
/** Writes a tenant may have waiting in one process; past it a write is answered 503 BUSY at once. */
export const MAX_QUEUED_PER_TENANT = 1000;

export interface WriteQueueOptions {
  /** A write that has not started within this many ms is answered 503 BUSY, with nothing written. */
  maxWaitMs: number;
}

/** Waits are measured in real time, whatever the service's clock says (tests move that one). */
const now = (): number => performance.now();

interface Job {
  command: WriteCommand;
  at: Moment;
  bytes: number;
  /** A single put or delete, which can take the strategy's fast path when it commits alone. */
  single?: () => Promise<WriteOutcome>;
  queuedAt: number;
  resolve: (outcome: WriteOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Every client write of a tenant, in one line per tenant per process: at most one transaction of a tenant holds
 * a database connection at a time (its writers would only queue on the tenant's row lock inside the database,
 * each holding a connection that other tenants need). Writes that arrive while one is in flight are committed
 * together once it is done (group commit): one transaction, each command decided in order under the tenant lock
 * with its own revision and outcome, all acknowledged after the commit, or all failed if it fails (the unit of
 * work retries the group as a whole). A write that commits alone goes the strategy's way (one procedure call).
 */
export class WriteQueue {
  private readonly lines = new Map<number, Job[]>();
  /** Transactions committed or tried, and the commands they carried: how much grouping saves. */
  readonly stats = { groups: 0, commands: 0 };

  constructor(
    private readonly strategy: WriteStrategy,
    private readonly pipeline: WritePipeline,
    private readonly options: WriteQueueOptions,
  ) {}

  putOne(tenantId: number, write: ObjectWrite, at: Moment): Promise<WriteOutcome> {
    return this.submit(tenantId, { kind: 'put', writes: [write] }, at, () => this.strategy.putOne(tenantId, write, at));
  }

  deleteOne(tenantId: number, key: string, at: Moment, precondition?: Precondition): Promise<WriteOutcome> {
    return this.submit(tenantId, { kind: 'delete', keys: [key], precondition }, at, () =>
      this.strategy.deleteOne(tenantId, key, at, precondition),
    );
  }

  /** A batch: one command, all or none. */
  run(tenantId: number, command: WriteCommand, at: Moment): Promise<WriteOutcome> {
    return this.submit(tenantId, command, at);
  }

  /** Writes waiting or in flight, over every tenant (for shutdown and tests). */
  get pending(): number {
    let n = 0;
    for (const line of this.lines.values()) n += line.length;
    return n;
  }

  private submit(
    tenantId: number,
    command: WriteCommand,
    at: Moment,
    single?: () => Promise<WriteOutcome>,
  ): Promise<WriteOutcome> {
    return new Promise<WriteOutcome>((resolve, reject) => {
      const line = this.lines.get(tenantId);
      const job: Job = { command, at, bytes: bytesOf(command), single, queuedAt: now(), resolve, reject };
      if (!line) {
        this.lines.set(tenantId, [job]);
        void this.drain(tenantId, [job]);
        return;
      }
      // The first of the line is in flight; the rest wait for it.
      if (line.length > MAX_QUEUED_PER_TENANT) {
        reject(busy(`over ${MAX_QUEUED_PER_TENANT} writes of this tenant are waiting; retry shortly`));
        return;
      }
      line.push(job);
    });
  }

  /** Commits `group` (the head of the tenant's line), then the next group of what waited meanwhile. */
  private async drain(tenantId: number, group: Job[]): Promise<void> {
    await this.commit(tenantId, group);
    for (;;) {
      const line = this.lines.get(tenantId) as Job[];
      line.splice(0, group.length);
      if (line.length === 0) {
        this.lines.delete(tenantId);
        return;
      }
      group = this.nextGroup(line);
      await this.commit(tenantId, this.notTooLate(group));
    }
  }

  /** Waiting jobs still within their longest wait; the others are answered 503 BUSY, nothing written. */
  private notTooLate(group: Job[]): Job[] {
    const started = now();
    return group.filter((job) => {
      if (started - job.queuedAt <= this.options.maxWaitMs) return true;
      job.reject(busy('the tenant has too many writes in flight; nothing was written, retry shortly'));
      return false;
    });
  }

  private async commit(tenantId: number, live: Job[]): Promise<void> {
    if (live.length === 0) return;
    this.stats.groups++;
    this.stats.commands += live.length;
    try {
      if (live.length === 1 && live[0].single) {
        live[0].resolve(await live[0].single());
        return;
      }
      const latest = live.reduce((a, b) => (b.at.ms > a.at.ms ? b : a)).at;
      const outcomes = await this.pipeline.run(
        tenantId,
        live.map((job) => job.command),
        latest,
      );
      live.forEach((job, i) => job.resolve(outcomes[i]));
    } catch (err) {
      for (const job of live) job.reject(err);
    }
  }

  /** The longest run of waiting jobs, from the front, within the group's bounds; at least one. */
  private nextGroup(line: Job[]): Job[] {
    let bytes = line[0].bytes;
    let n = 1;
    while (n < line.length && n < MAX_GROUP_COMMANDS && bytes + line[n].bytes <= MAX_GROUP_BYTES) {
      bytes += line[n].bytes;
      n++;
    }
    return line.slice(0, n);
  }
}

function bytesOf(command: WriteCommand): number {
  return command.kind === 'put' ? command.writes.reduce((sum, w) => sum + w.size, 0) : 0;
}
