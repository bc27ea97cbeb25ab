/** What every control loop shares: the store, its settings, timers that die with it, and Events. */
import { randomBytes } from 'node:crypto';
import { rfc3339 } from '../json.ts';
import { ApiError } from '../store/errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';

/** Knobs of the controllers; defaults in `CONTROLLER_DEFAULTS`. */
export interface ControllerOptions {
  /** Delay before a new pod is Running and Ready. */
  podStartMs?: number;
  /** How long a Terminating namespace lingers after its content is deleted. */
  namespaceDeletionMs?: number;
  nodeName?: string;
  nodeIp?: string;
  /** PEM published in every namespace's `kube-root-ca.crt` ConfigMap. */
  rootCaPem?: string;
  /** The simulated faults the controllers act on (`upgrade-drops-traffic`). */
  faults?: ReadonlySet<string>;
  /** The `gateway-not-programmed` fault: Gateway API Gateways never report Programmed=True. */
  gatewayNeverProgrammed?: boolean;
}

/** Defaults of `ControllerOptions`. */
export const CONTROLLER_DEFAULTS = {
  podStartMs: 0,
  namespaceDeletionMs: 150,
  nodeName: 'egress-conformance-control-plane',
  nodeIp: '172.18.0.2',
  rootCaPem: '',
  faults: new Set<string>() as ReadonlySet<string>,
  gatewayNeverProgrammed: false,
};

/** A running set of controllers; `stop` cancels their timers and unsubscribes them. */
export interface Controllers {
  stop(): void;
}

export function isIgnorable(error: unknown): boolean {
  // Races the real controllers shrug off too: the object went away, the namespace is
  // terminating, someone else created it first.
  return error instanceof ApiError && [403, 404, 409].includes(error.code);
}

/** The shared state of one `startControllers`; stopping it silences every pending timer. */
export class ControllerContext {
  readonly store: ObjectStore;
  readonly settings: Required<ControllerOptions>;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(store: ObjectStore, options: ControllerOptions) {
    this.store = store;
    this.settings = { ...CONTROLLER_DEFAULTS, ...options };
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /** Runs `action` after `ms` unless stopped by then, as a controller's requeue would. */
  later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopped) return;
      try {
        action();
      } catch (error) {
        if (!isIgnorable(error)) console.error('simulated controller failed:', error);
      }
    }, ms);
    this.#timers.add(timer);
  }

  /** Records an Event as the named component would, for `kubectl describe` and diagnostics. */
  emitEvent(
    involved: KubeObject,
    reason: string,
    message: string,
    component: string,
    fieldPath?: string,
  ): void {
    const { store, settings } = this;
    const now = store.now();
    const namespace = involved.metadata.namespace ?? 'default';
    try {
      store.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          name: `${involved.metadata.name}.${randomBytes(8).toString('hex')}`,
          namespace,
        },
        involvedObject: {
          apiVersion: involved.apiVersion,
          kind: involved.kind,
          name: involved.metadata.name,
          namespace,
          uid: involved.metadata.uid,
          resourceVersion: involved.metadata.resourceVersion,
          ...(fieldPath === undefined ? {} : { fieldPath }),
        },
        reason,
        message,
        source: component === 'kubelet' ? { component, host: settings.nodeName } : { component },
        firstTimestamp: rfc3339(now),
        lastTimestamp: rfc3339(now),
        count: 1,
        type: 'Normal',
        eventTime: null,
        reportingComponent: component,
        reportingInstance: component === 'kubelet' ? settings.nodeName : '',
      });
    } catch (error) {
      if (!isIgnorable(error)) throw error;
    }
  }
}
