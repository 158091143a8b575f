import { busy } from '../errors';
import { metrics } from '../metrics';
import type { Dialect } from './dialect';

/**
 * How long conflicts are ridden out before the client is told to come back. On a multi-primary cluster (Galera)
 * writers of one hot tenant on several nodes conflict at commit, and the loser is rolled back whole; it tries
 * again after a pause drawn at random below a bound that doubles with each attempt, up to a cap ("full jitter"),
 * so that the writers spread out instead of colliding again in step. The pauses add up to about 2 s in all; the
 * attempts themselves come on top (REQUEST_TIMEOUT_MS bounds the whole request). The cap is low: a transaction
 * of several statements (a batch) racing single-round-trip procedure calls on another node wins only the attempts
 * it gets, so more, shorter pauses ride a hot tenant out where a few long ones did not. Measured in a 15 s
 * two-node storm (test/cluster): with a 250 ms cap and 2 s counted from the first attempt, 2 to 4 batches ran
 * out after 15 to 19 attempts; with a 50 ms cap, 0 or 1 a run, after 30 attempts of about 65 ms each (most of
 * an attempt is waiting: the causality wait at its start, the tenant row's local lock queue); counting only
 * the pauses, none.
 */
export interface RetryPolicy {
  /** The pauses between attempts add up to no more than this. */
  budgetMs: number;
  /** The bound of the first pause; it doubles with each attempt… */
  baseMs: number;
  /** …up to this. */
  capMs: number;
}

export const RETRY_POLICY: RetryPolicy = { budgetMs: 2000, baseMs: 2, capMs: 50 };

/**
 * Runs `attempt` again when it fails with an error the dialect calls retryable (a deadlock, a certification
 * conflict): the database has rolled the whole transaction back, so starting over is safe. Once the budget is
 * spent, the answer is 503 BUSY with Retry-After, never a 500. Nested calls (a retried statement inside a
 * retried unit) are harmless: the inner one's BUSY is not retryable.
 */
export async function retried<T>(
  dialect: Dialect,
  attempt: () => Promise<T>,
  policy: RetryPolicy = RETRY_POLICY,
): Promise<T> {
  let paused = 0;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (dialect.classify(err) !== 'retryable') throw err;
      const pause = Math.random() * Math.min(policy.capMs, policy.baseMs * 2 ** n);
      if (paused + pause > policy.budgetMs) {
        const answer = busy('the database is busy with conflicting writes; retry shortly');
        answer.cause = Object.assign(err as object, { attempts: n + 1 });
        throw answer;
      }
      // A deadlock is the only error a dialect calls retryable; on Galera a conflict at commit reports as one.
      metrics.retries.inc({ cause: 'deadlock' });
      paused += pause;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
