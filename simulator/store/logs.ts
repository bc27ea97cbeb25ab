/** Container logs kept apart from objects: the mesh model writes them, `pods/log` reads them. */
import type { LogSink } from '../types.ts';

/** One line of a container's log with the time the runtime stamped on it. */
export interface LogEntry {
  /** Milliseconds since the epoch. */
  time: number;
  /** Sub-millisecond part in nanoseconds, so that lines within one ms stay ordered. */
  nanos: number;
  text: string;
}

/** Per-container log buffers: the mesh model appends to them, `pods/log` reads them. */
export class ContainerLogs implements LogSink {
  readonly #buffers = new Map<string, LogEntry[]>();
  readonly #now: () => number;
  #lastTime = 0;
  #lastNanos = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  append(namespace: string, pod: string, container: string, line: string, at?: Date): void {
    const time = at?.getTime() ?? this.#now();
    // Lines appended within one millisecond get increasing nanoseconds, as a runtime's would.
    const nanos = time === this.#lastTime ? this.#lastNanos + 1 : 0;
    this.#lastTime = time;
    this.#lastNanos = nanos;
    const key = logKey(namespace, pod, container);
    let buffer = this.#buffers.get(key);
    if (buffer === undefined) {
      buffer = [];
      this.#buffers.set(key, buffer);
    }
    const entry = { time, nanos, text: line.replace(/\n$/, '') };
    // Lines stamped in the past (tests, replays) are kept in time order.
    let index = buffer.length;
    while (index > 0 && compareEntries(buffer[index - 1] as LogEntry, entry) > 0) index -= 1;
    buffer.splice(index, 0, entry);
  }

  /** The lines of one container, oldest first. */
  read(namespace: string, pod: string, container: string): readonly LogEntry[] {
    return this.#buffers.get(logKey(namespace, pod, container)) ?? [];
  }

  /** Forgets a pod's logs, as the kubelet does when the pod is deleted. */
  removePod(namespace: string, pod: string): void {
    const prefix = `${namespace}/${pod}/`;
    for (const key of [...this.#buffers.keys()])
      if (key.startsWith(prefix)) this.#buffers.delete(key);
  }
}

function logKey(namespace: string, pod: string, container: string): string {
  return `${namespace}/${pod}/${container}`;
}

function compareEntries(a: LogEntry, b: LogEntry): number {
  return a.time - b.time || a.nanos - b.nanos;
}

/**
 * Go's RFC3339Nano, as the kubelet stamps lines for `timestamps=true`: trailing zeros of
 * the fraction are dropped, so the fraction has 0 to 9 digits.
 */
export function formatLogTimestamp(entry: LogEntry): string {
  const iso = new Date(entry.time).toISOString(); // 2026-01-02T03:04:05.678Z
  const fraction = String((entry.time % 1000) * 1_000_000 + entry.nanos)
    .padStart(9, '0')
    .replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}
