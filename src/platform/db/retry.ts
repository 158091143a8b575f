import type { Dialect } from './dialect';

const MAX_ATTEMPTS = 10;

/**
 * Runs `attempt` again when it fails with a deadlock or lock wait timeout: the database has rolled the whole
 * transaction back, so starting over is safe. After MAX_ATTEMPTS the error reaches the caller as a fault.
 */
export async function retried<T>(dialect: Dialect, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= MAX_ATTEMPTS || dialect.classify(err) !== 'retryable') throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * n));
    }
  }
}
