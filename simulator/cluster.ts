/**
 * Starts the whole simulated cluster in-process: store, controllers, API server and,
 * optionally, an Istio install, and writes the kubeconfig the harness then uses as it
 * would use kind's.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { startApiServer } from './api-server.ts';
import { seedBaseCluster, startControllers } from './controllers.ts';
import { bootstrapIstio, type IstioInstallOptions } from './istio-bootstrap.ts';
import { GATEWAY_API_VERSION } from '../harness/versions.ts';
import { gatewayApiCrds } from './gateway-api-crds.ts';
import { applyProfiles, readProfiles } from './profiles.ts';
import { ObjectStore } from './store.ts';
import { startProcesses } from './processes.ts';
import { GATEWAY_TERMINATION_DRAIN } from '../harness/facts/long-lived-connections.ts';
import { readApiFaultOptions } from './api/fault-options.ts';
import {
  API_FAULT_NAMES,
  type ApiFaultName,
  FAULT_NAMES,
  type ClusterView,
  type ExecHandler,
  type FaultName,
  type LogSink,
  type SimExternalHost,
  type SimOptions,
} from './types.ts';

/** The knobs `EGRESS_SIM_*` set: everything in `SimOptions` but the external hosts. */
export type SimEnvironmentOptions = Omit<SimOptions, 'externalHosts'>;

/** Propagation delay the `slow-propagation` fault forces, in ms. */
export const SLOW_PROPAGATION_MS = 8000;

/** Name of the kubeconfig context (and cluster and user) the simulated cluster writes. */
export const SIMULATED_CONTEXT = 'egress-conformance-simulated';

function nonNegativeInteger(
  env: Record<string, string | undefined>,
  name: string,
): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer number of milliseconds, got "${raw}"`);
  }
  return value;
}

/**
 * Reads `EGRESS_SIM_FAULTS`, `EGRESS_SIM_PROFILE`, `EGRESS_SIM_PROPAGATION_MS`,
 * `EGRESS_SIM_PROPAGATION_JITTER_MS`, `EGRESS_SIM_POD_START_MS` and
 * `EGRESS_SIM_TERMINATION_DRAIN_MS`; throws on an unknown fault or profile or a malformed
 * number.
 */
export function readSimOptions(
  env: Record<string, string | undefined> = process.env,
): SimEnvironmentOptions {
  const faults = new Set<FaultName>();
  const apiFaultNames = new Set<ApiFaultName>();
  for (const entry of (env.EGRESS_SIM_FAULTS ?? '').split(',')) {
    const name = entry.trim();
    if (name === '') continue;
    if ((API_FAULT_NAMES as readonly string[]).includes(name)) {
      apiFaultNames.add(name as ApiFaultName);
      continue;
    }
    if (!(FAULT_NAMES as readonly string[]).includes(name)) {
      throw new Error(
        `EGRESS_SIM_FAULTS: unknown fault "${name}"; valid names: ${[...FAULT_NAMES, ...API_FAULT_NAMES].join(', ')}`,
      );
    }
    faults.add(name as FaultName);
  }
  const apiFaults = readApiFaultOptions(apiFaultNames, env);
  const profiles = readProfiles(env.EGRESS_SIM_PROFILE);
  const slow = faults.has('slow-propagation');
  const propagationMs = slow
    ? SLOW_PROPAGATION_MS
    : (nonNegativeInteger(env, 'EGRESS_SIM_PROPAGATION_MS') ?? 0);
  const propagationJitterMs =
    nonNegativeInteger(env, 'EGRESS_SIM_PROPAGATION_JITTER_MS') ?? Math.round(propagationMs * 0.25);
  const drainMs = nonNegativeInteger(env, 'EGRESS_SIM_TERMINATION_DRAIN_MS');
  return {
    faults,
    propagationMs,
    propagationJitterMs,
    podStartMs: nonNegativeInteger(env, 'EGRESS_SIM_POD_START_MS') ?? 0,
    ...(drainMs === undefined ? {} : { terminationDrainMs: drainMs }),
    ...(profiles.length > 0 ? { profiles } : {}),
    ...(apiFaults ? { apiFaults } : {}),
  };
}

/** What the mesh model gets to build its exec handler from. */
export interface ExecHandlerContext {
  /** The data plane's view of the configuration now (propagation delay applied). */
  view: () => ClusterView;
  logs: LogSink;
  options: SimOptions;
}

/** The Istio install the simulated cluster starts with, or is prepared for. */
export interface SimulatedIstio {
  version: string;
  accessLogEncoding: 'TEXT' | 'JSON';
  /** `meshConfig.accessLogFormat`; absent: Istio's default format. */
  accessLogFormat?: string;
  outboundStatsIncluded: boolean;
  /** `meshConfig.outboundTrafficPolicy.mode` (`--outbound-policy`); absent: ALLOW_ANY. */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** Install at start (simulated provider); false leaves it to the stand-in `istioctl`. */
  install: boolean;
  /** Egress gateway replicas; 1 unless set. */
  gatewayReplicas?: number;
}

/** Options of `startSimulatedCluster`. */
export interface StartSimulatedClusterOptions {
  /** From `readSimOptions`; a full `SimOptions` is accepted too. */
  options: SimEnvironmentOptions & { externalHosts?: SimExternalHost[] };
  /** The external world; wins over `options.externalHosts`. */
  externalHosts?: SimExternalHost[];
  createExecHandler: (context: ExecHandlerContext) => ExecHandler;
  /** Where the kubeconfig is written. */
  dir: string;
  istio?: SimulatedIstio;
  /** How long a deleted namespace stays Terminating; 150 ms unless told. */
  namespaceDeletionMs?: number;
  /** The node's version; a profile of `options.profiles` that sets one wins. */
  kubernetesVersion?: string;
}

/** A running simulated cluster. */
export interface SimulatedCluster {
  kubeconfigPath: string;
  /** `https://127.0.0.1:<port>`. */
  server: string;
  store: ObjectStore;
  options: SimOptions;
  stop(): Promise<void>;
}

/**
 * Starts store, controllers and API server, installs Istio if asked, and writes the
 * kubeconfig; the profiles of `options.profiles` shape the node version and the install.
 */
export async function startSimulatedCluster(
  settings: StartSimulatedClusterOptions,
): Promise<SimulatedCluster> {
  const options: SimOptions = {
    ...settings.options,
    externalHosts: settings.externalHosts ?? settings.options.externalHosts ?? [],
  };
  const profiled = applyProfiles(options.profiles ?? [], {
    kubernetesVersion: settings.kubernetesVersion,
    install: settings.istio ? installOptions(settings.istio) : {},
  });
  const kubernetesVersion = profiled.kubernetesVersion ?? 'v1.36.1';
  const store = new ObjectStore({
    propagationMs: options.propagationMs,
    propagationJitterMs: options.propagationJitterMs,
  });
  const execHandler = settings.createExecHandler({
    view: () => store.view(),
    logs: store.logs,
    options,
  });
  const server = await startApiServer({
    store,
    execHandler,
    kubernetesVersion,
    ...(options.apiFaults ? { faults: options.apiFaults } : {}),
  });
  const controllers = startControllers(store, {
    podStartMs: options.podStartMs,
    rootCaPem: server.caPem,
    faults: options.faults,
    gatewayNeverProgrammed: options.faults.has('gateway-not-programmed'),
    ...(settings.namespaceDeletionMs === undefined
      ? {}
      : { namespaceDeletionMs: settings.namespaceDeletionMs }),
  });
  const stopProcesses = startProcesses(store, execHandler, {
    terminationDrainMs: options.terminationDrainMs ?? GATEWAY_TERMINATION_DRAIN.terminationDrainMs,
  });
  try {
    seedBaseCluster(store, { kubernetesVersion });
    if (settings.istio?.install === true) {
      // A cluster set up for the suites has the Gateway API CRDs, as the kind path installs them
      // (first); the stand-in kind cluster, like a fresh kind cluster, starts without.
      if (profiled.gatewayApiCrds) {
        for (const crd of gatewayApiCrds(GATEWAY_API_VERSION)) store.create(crd);
      }
      bootstrapIstio(store, profiled.install);
      for (const object of profiled.objects) store.create(object);
    }
    await store.idle();
    const kubeconfigPath = join(settings.dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(server.url, server.caPem, server.token), {
      mode: 0o600,
    });
    return {
      kubeconfigPath,
      server: server.url,
      store,
      options,
      async stop() {
        stopProcesses();
        controllers.stop();
        await server.close();
      },
    };
  } catch (error) {
    stopProcesses();
    controllers.stop();
    await server.close();
    throw error;
  }
}

function installOptions(istio: SimulatedIstio): IstioInstallOptions {
  return {
    version: istio.version,
    accessLogEncoding: istio.accessLogEncoding,
    ...(istio.accessLogFormat ? { accessLogFormat: istio.accessLogFormat } : {}),
    outboundStatsIncluded: istio.outboundStatsIncluded,
    ...(istio.gatewayReplicas === undefined ? {} : { gatewayReplicas: istio.gatewayReplicas }),
    ...(istio.outboundTrafficPolicy ? { outboundTrafficPolicy: istio.outboundTrafficPolicy } : {}),
  };
}

/** A kubeconfig in the shape kind writes: CA data inline, one context, current-context set. */
export function kubeconfigYaml(server: string, caPem: string, token: string): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [
      {
        name: SIMULATED_CONTEXT,
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: SIMULATED_CONTEXT, user: { token } }],
    contexts: [
      { name: SIMULATED_CONTEXT, context: { cluster: SIMULATED_CONTEXT, user: SIMULATED_CONTEXT } },
    ],
    'current-context': SIMULATED_CONTEXT,
  });
}
