import cluster, { type Worker } from 'node:cluster';

/**
 * Messages between the worker processes of one instance, relayed by the primary over node:cluster's IPC
 * channel: what one worker learns (an operator suspended a tenant through it, say) reaches its siblings at once,
 * without waiting for their next poll of the database. A message goes to every worker but the sender, which has
 * already acted on it; `publish` resolves once every sibling has (or after ACK_TIMEOUT_MS, when a sibling is
 * stuck: it then learns of the change by polling, as other instances do). In a process that is not a cluster
 * worker (tests, a single process) there are no siblings, and publishing resolves at once.
 */
export interface WorkerBus {
  publish(channel: string, payload: unknown): Promise<void>;
  subscribe(channel: string, listener: (payload: unknown) => void): void;
}

const ACK_TIMEOUT_MS = 1000;

type BusMessage =
  { tenantkvBus: 'publish'; id: string; channel: string; payload: unknown } | { tenantkvBus: 'ack'; id: string };

function busMessage(message: unknown): BusMessage | undefined {
  const kind = typeof message === 'object' && message !== null ? (message as BusMessage).tenantkvBus : undefined;
  return kind === 'publish' || kind === 'ack' ? (message as BusMessage) : undefined;
}

/** A worker's end of the bus; in any other process, a bus with nobody else on it. */
export function workerBus(): WorkerBus {
  const listeners = new Map<string, ((payload: unknown) => void)[]>();
  const waiting = new Map<string, () => void>();
  const send = cluster.isWorker && process.send ? process.send.bind(process) : undefined;
  let sequence = 0;
  if (send) {
    process.on('message', (raw: unknown) => {
      const message = busMessage(raw);
      if (message?.tenantkvBus === 'publish') {
        for (const listener of listeners.get(message.channel) ?? []) listener(message.payload);
        send({ tenantkvBus: 'ack', id: message.id } satisfies BusMessage);
      } else if (message?.tenantkvBus === 'ack') {
        waiting.get(message.id)?.();
      }
    });
  }
  return {
    publish(channel, payload) {
      if (!send) return Promise.resolve();
      const id = `${process.pid}:${++sequence}`;
      return new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve();
        };
        const timer = setTimeout(done, ACK_TIMEOUT_MS * 2);
        waiting.set(id, done);
        send({ tenantkvBus: 'publish', id, channel, payload } satisfies BusMessage);
      });
    },
    subscribe(channel, listener) {
      listeners.set(channel, [...(listeners.get(channel) ?? []), listener]);
    },
  };
}

/** The primary's part: a message from one worker goes on to every other; the sender hears when all have it. */
export function relayWorkerBus(): void {
  const pending = new Map<string, { sender: Worker; left: Set<number>; timer: NodeJS.Timeout }>();
  const settle = (id: string): void => {
    const entry = pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    pending.delete(id);
    if (entry.sender.isConnected()) entry.sender.send({ tenantkvBus: 'ack', id } satisfies BusMessage);
  };
  cluster.on('message', (from, raw: unknown) => {
    const message = busMessage(raw);
    if (message?.tenantkvBus === 'ack') {
      const entry = pending.get(message.id);
      entry?.left.delete(from.id);
      if (entry && entry.left.size === 0) settle(message.id);
      return;
    }
    if (message?.tenantkvBus !== 'publish') return;
    const others = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => w !== undefined && w.id !== from.id && w.isConnected(),
    );
    pending.set(message.id, {
      sender: from,
      left: new Set(others.map((w) => w.id)),
      timer: setTimeout(() => settle(message.id), ACK_TIMEOUT_MS),
    });
    for (const worker of others) worker.send(message);
    if (others.length === 0) settle(message.id);
  });
}
