/**
 * The fixture a suite works through: its namespaces, clients, applied manifests, the
 * gateway's evidence, and cleanup (B6). A suite declares behaviour; every mechanism is
 * one call away here. harness/executor.ts runs a suite through it; suites import as plain
 * values.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { connect, type Kube } from './k8s/client.ts';
import { applyObjects, deleteAndWait } from './k8s/objects.ts';
import {
  createNamespace,
  deleteNamespaceAndWait,
  setNamespaceLabels,
  type PreviousLabels,
} from './k8s/namespaces.ts';
import { LabelLocks, describeHolder, lockRecordOf } from './label-lock.ts';
import { execInPod } from './k8s/exec.ts';
import { isNotFound } from './k8s/client.ts';
import { RUN_LABEL } from './k8s/namespaces.ts';
import { ConformanceFailure } from './errors.ts';
import { readContainerLog } from './k8s/logs.ts';
import { listPods, waitForDeploymentReady, isPodReady } from './k8s/workloads.ts';
import { loadManifests } from './manifests.ts';
import { hasProxy, PROXY_CONTAINER } from './facts.ts';
import { injectionLabels } from './facts/injection.ts';
import { curlCommand, parseCurlOutput, type CurlResult } from './curl.ts';
import { parseAccessLog, type AccessLogEntry } from './envoy/access-log.ts';
import { parseEnvoyStats, parsePrometheus, type PrometheusSample } from './envoy/stats.ts';
import type { RunContext } from './run-context.ts';
import { apiVariant } from './api/index.ts';
import {
  variantLabel,
  type ApiVariant,
  type GatewayUnderTest,
  type Variant,
  type VariantContext,
} from './variants.ts';
import type { ExternalHost } from './providers/types.ts';

export { SHARED_LOCK_ANNOTATION } from './run-labels.ts';
import { pilotAgentRequest } from './facts/envoy.ts';
import { gatewayApiStatusMustHold, isGatewayApiGateway } from './gateway-api-status.ts';

/** A client workload the suite runs requests from. */
export interface Client {
  namespace: string;
  pod: string;
  podIp: string;
  /** Whether Istio injected a sidecar, classic (`spec.containers`) or native (restartable init container). */
  hasSidecar: boolean;
}

/** What the gateway logged, and from which pods. */
export interface GatewayLog {
  entries: AccessLogEntry[];
  pods: string[];
}

/** Per-suite, per-variant fixture; the suite runner creates one for each variant. */
export class SuiteEnvironment {
  readonly run: RunContext;
  readonly suite: string;
  /** The value of each axis this environment runs with. */
  readonly variant: Variant;
  /** The variant as a short name, for diagnostics paths: `mtls-disabled-istio-api`. */
  readonly variantName: string;
  /** The configuration API of the variant: its manifests, gateway and hints. */
  readonly api: ApiVariant;
  readonly variantContext: VariantContext;
  readonly host: ExternalHost;
  /** Convergence figures of the checks of the current case, read by the suite runner. */
  readonly convergence: {
    behaviour: string;
    observations: number;
    flips: number;
    elapsedMs: number;
  }[] = [];
  /** Label values before this run changed them, kept for the B6 check. */
  readonly labelHistory: { namespace: string; previous: PreviousLabels }[] = [];
  /** Why cleanup failed, if it did (B6 reports it). */
  cleanupError: string | undefined;
  readonly kube: Kube;
  /** Objects applied, in order, as the server returned them (for diagnostics). */
  readonly applied: KubernetesObject[] = [];
  private readonly namespaces: string[] = [];
  /** The locks on shared namespaces whose labels this environment borrowed (harness/label-lock.ts). */
  readonly labelLocks: LabelLocks;
  private readonly keep = new Set<string>();
  private sequence = 0;

  /** The behaviour the variant's cases certify (`B1`): what a failed status wait names. */
  readonly behaviour: string | undefined;

  constructor(run: RunContext, suite: string, variant: Variant, behaviour?: string) {
    this.run = run;
    this.suite = suite;
    this.variant = variant;
    this.behaviour = behaviour;
    this.variantName = variantLabel(variant).replace(/[ ,]+/g, '-');
    const host = run.target.externalHosts[suite];
    if (!host) throw new Error(`The run has no external host for suite ${suite}`);
    this.host = host;
    this.api = apiVariant(variant.api);
    this.variantContext = { target: run.target, suite, host: host.name };
    this.kube = connect({
      kubeconfigPath: run.target.kubeconfigPath,
      ...(run.target.context ? { context: run.target.context } : {}),
      timeouts: run.timeouts,
    });
    this.labelLocks = new LabelLocks({
      kube: this.kube,
      identity: { run: run.runId, owner: `${run.runId}/${suite}/${this.variantName}` },
      timeouts: run.timeouts,
    });
  }

  /** The gateway the variant's configuration routes through (for the Gateway API: once applied). */
  get gateway(): GatewayUnderTest {
    return this.api.gatewayUnderTest(this.variantContext);
  }

  /** The namespaces this suite created so far. */
  get createdNamespaces(): readonly string[] {
    return this.namespaces;
  }

  /** Creates a run-labelled namespace `egc-<run>-<suite>-<suffix>`, with or without injection. */
  async createNamespace(suffix: string, { injection }: { injection: boolean }): Promise<string> {
    const name = `egc-${this.run.runId}-${this.suite}-${suffix}`.slice(0, 63).replace(/-+$/, '');
    await createNamespace(this.kube, {
      name,
      runId: this.run.runId,
      labels: injection ? injectionLabels(this.run.target.istio.revision) : {},
    });
    this.namespaces.push(name);
    return name;
  }

  /** Template values for manifests applied in `namespace`. */
  values(namespace: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      namespace,
      name: this.suite,
      host: this.host.name,
      subset: 'egress-conformance',
      clientName: 'curl',
      clientImage: this.run.clientImage,
      ...this.api.templateValues(this.variantContext, namespace),
      ...extra,
    };
  }

  /**
   * The path under manifests/ of one file of a suite's configuration in this variant's
   * API: `<suite>/<api>/[mtls/]<file>`. `mtls` picks the mutual-TLS form when the variant
   * has it; `suite` borrows another suite's configuration (B4 and B5 use B3's).
   */
  config(
    file: string,
    { mtls = false, suite = this.suite }: { mtls?: boolean; suite?: string } = {},
  ): string {
    const base = `${suite}/${this.api.manifestDir}/`;
    const mtlsForm = `${base}mtls/${file}`;
    // A file the mutual-TLS form does not change exists only once, outside mtls/.
    return mtls &&
      this.variant.mtls === 'enabled' &&
      existsSync(join(this.run.manifestsDir, mtlsForm))
      ? mtlsForm
      : `${base}${file}`;
  }

  /** Renders, validates and server-side applies `manifests/<path>` into `namespace`. */
  async apply(
    path: string,
    namespace: string,
    extra: Record<string, string> = {},
  ): Promise<KubernetesObject[]> {
    const objects = loadManifests(path, this.values(namespace, extra), {
      root: this.run.manifestsDir,
    });
    const applied = await applyObjects(this.kube, objects as KubernetesObject[]);
    this.applied.push(...applied);
    if (applied.some(isGatewayApiGateway)) this.variantContext.configNamespace = namespace;
    // Gateway API objects report whether they took: wait for that before the first observation.
    await gatewayApiStatusMustHold(this, applied);
    return applied;
  }

  /** Deletes what `manifests/<path>` declares in `namespace`, waiting for each to go. */
  async remove(path: string, namespace: string, extra: Record<string, string> = {}): Promise<void> {
    const objects = loadManifests(path, this.values(namespace, extra), {
      root: this.run.manifestsDir,
    });
    for (const object of objects.reverse()) {
      await deleteAndWait(this.kube, object, {
        timeoutMs: this.run.timeouts.deletion,
      });
    }
  }

  /** Deploys the curl client in `namespace` and waits until it is ready. */
  async deployClient(namespace: string): Promise<Client> {
    await this.apply('base/client.yaml', namespace);
    const pods = await waitForDeploymentReady(this.kube, {
      namespace,
      name: 'curl',
      timeoutMs: this.run.timeouts.podReady,
      intervalMs: this.run.timeouts.pollInterval,
    });
    return clientFromPod(namespace, pods[0]);
  }

  /**
   * Deletes the client's pods and waits for a fresh ready one: injection and
   * NetworkPolicy are decided for new pods, so a changed namespace needs new pods.
   */
  async recreateClient(client: Client): Promise<Client> {
    await deleteAndWait(
      this.kube,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: client.pod, namespace: client.namespace },
      },
      { timeoutMs: this.run.timeouts.deletion, intervalMs: this.run.timeouts.pollInterval },
    );
    const pods = await waitForDeploymentReady(this.kube, {
      namespace: client.namespace,
      name: 'curl',
      timeoutMs: this.run.timeouts.podReady,
      intervalMs: this.run.timeouts.pollInterval,
    });
    return clientFromPod(client.namespace, pods[0]);
  }

  /** A path no other request of any run uses, to find this request in the gateway's log. */
  uniquePath(label: string): string {
    this.sequence += 1;
    return `/egress-conformance/${this.run.runId}/${this.suite}/${label}/${this.sequence}-${randomBytes(3).toString('hex')}`;
  }

  /** Runs curl in the client's `curl` container. */
  async curl(
    client: Client,
    request: {
      url: string;
      headers?: Record<string, string>;
      resolve?: string[];
      connectTo?: string[];
      /** Skip certificate verification for this request (`-k`), whatever the host needs. */
      insecure?: boolean;
    },
  ): Promise<CurlResult> {
    const argv = curlCommand({
      url: request.url,
      maxTimeSeconds: Math.max(1, Math.ceil(this.run.timeouts.request / 1000)),
      insecure: request.insecure ?? this.host.insecure,
      ...(request.headers ? { headers: request.headers } : {}),
      ...(request.resolve ? { resolve: request.resolve } : {}),
      ...(request.connectTo ? { connectTo: request.connectTo } : {}),
    });
    const output = await execInPod(this.kube, {
      namespace: client.namespace,
      pod: client.pod,
      container: 'curl',
      command: argv,
      timeoutMs: this.run.timeouts.exec + this.run.timeouts.request,
    });
    return parseCurlOutput(output.stdout, output.stderr, output.exitCode);
  }

  /** The ready egress gateway pods. */
  async gatewayPods(): Promise<V1Pod[]> {
    const { namespace, selector } = this.gateway;
    const pods = await listPods(this.kube, namespace, `${selector.key}=${selector.value}`);
    return pods.filter(isPodReady);
  }

  /** The gateway's access-log entries since `since` (all gateway pods). */
  async gatewayLog(since: Date): Promise<GatewayLog> {
    const pods = await this.gatewayPods();
    const log: GatewayLog = { entries: [], pods: [] };
    // sinceTime has second resolution on the API: ask a little earlier, filter exactly below.
    const asked = new Date(since.getTime() - 2000);
    for (const pod of pods) {
      const name = pod.metadata?.name ?? '';
      const text = await readContainerLog(this.kube, {
        namespace: this.gateway.namespace,
        pod: name,
        container: PROXY_CONTAINER,
        since: asked,
      });
      const entries = parseAccessLog(text);
      log.pods.push(name);
      log.entries.push(...entries);
    }
    log.entries.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    return log;
  }

  /** Envoy stats of every gateway pod, summed by name (`pilot-agent request GET stats`). */
  async gatewayStats(): Promise<Map<string, number>> {
    const total = new Map<string, number>();
    for (const text of await this.pilotAgentOnGateways('stats')) {
      for (const [name, value] of parseEnvoyStats(text))
        total.set(name, (total.get(name) ?? 0) + value);
    }
    return total;
  }

  /** Istio standard metrics of every gateway pod (`stats/prometheus`). */
  async gatewayMetrics(): Promise<PrometheusSample[]> {
    return (await this.pilotAgentOnGateways('stats/prometheus')).flatMap((text) =>
      parsePrometheus(text),
    );
  }

  private async pilotAgentOnGateways(path: string): Promise<string[]> {
    return (await this.gatewayAdmin(path)).map((output) => output.text);
  }

  /** Envoy's admin `path` in every ready gateway pod (`pilot-agent request GET <path>`). */
  async gatewayAdmin(path: string): Promise<{ pod: string; text: string }[]> {
    const outputs: { pod: string; text: string }[] = [];
    for (const pod of await this.gatewayPods()) {
      const name = pod.metadata?.name ?? '';
      const output = await execInPod(this.kube, {
        namespace: this.gateway.namespace,
        pod: name,
        container: PROXY_CONTAINER,
        command: pilotAgentRequest(path),
        timeoutMs: this.run.timeouts.exec,
      });
      if (output.exitCode !== 0) {
        throw new Error(
          `pilot-agent request GET ${path} in ${name} exited ${output.exitCode}: ${output.stderr.trim()}`,
        );
      }
      outputs.push({ pod: name, text: output.stdout });
    }
    return outputs;
  }

  /** The access-log entries the client's own sidecar wrote since `since` (where it blocks). */
  async clientProxyLog(client: Client, since: Date): Promise<AccessLogEntry[]> {
    const text = await readContainerLog(this.kube, {
      namespace: client.namespace,
      pod: client.pod,
      container: PROXY_CONTAINER,
      // sinceTime has second resolution on the API: ask a little earlier; callers filter.
      since: new Date(since.getTime() - 2000),
    });
    return parseAccessLog(text);
  }

  /**
   * Sets labels on a namespace the run did not create, under the shared-namespace lock
   * (harness/label-lock.ts), remembering the previous values; {@link cleanup} restores them
   * exactly.
   */
  async borrowNamespaceLabels(namespace: string, labels: Record<string, string>): Promise<void> {
    const previous = await this.labelLocks.borrow(namespace, labels);
    this.labelHistory.push({ namespace, previous: { ...previous } });
  }

  /** Turns on sidecar injection for a namespace this suite created (new pods get a sidecar). */
  async enableInjection(namespace: string): Promise<void> {
    if (!this.namespaces.includes(namespace)) {
      throw new Error(`Refusing to label namespace ${namespace}: this suite did not create it`);
    }
    await setNamespaceLabels(this.kube, namespace, injectionLabels(this.run.target.istio.revision));
  }

  /** Fails when a label this suite borrowed does not hold its value from before the run. */
  async labelsMustBeRestored(): Promise<void> {
    const problems = await labelProblems(this);
    if (problems.length > 0) {
      throw new ConformanceFailure({
        behaviour: 'B4.7',
        expected: 'every namespace label the run borrowed to hold its value from before the run',
        reason: `${problems.length} change(s) the run made to shared namespaces remain`,
        observed: `\n- ${problems.join('\n- ')}`,
        hint: 'restore them by hand with the values shown; the run changed only these keys',
        observations: 1,
        elapsedMs: 0,
      });
    }
  }

  /**
   * Restores borrowed labels now (before cleanup), e.g. as a step of the behaviour; fails
   * when a lock was taken over meanwhile (its labels are then not this run's to restore).
   */
  async restoreBorrowedLabels(): Promise<void> {
    const problems = await this.labelLocks.release();
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  /** Marks a namespace to be kept for debugging (failed test and `--keep-on-failure`). */
  keepNamespaces(namespaces: readonly string[]): void {
    if (!this.run.keepOnFailure) return;
    for (const namespace of namespaces) this.keep.add(namespace);
  }

  /** Namespaces kept for debugging. */
  get keptNamespaces(): string[] {
    return [...this.keep];
  }

  /**
   * B6: restores borrowed labels and deletes every namespace this suite created (waiting
   * for each), except those kept for debugging. Returns what it did, for the report.
   */
  async cleanup(): Promise<{ deleted: string[]; kept: string[]; restored: string[] }> {
    const restored = this.labelLocks.namespaces;
    const errors: string[] = [];
    try {
      await this.restoreBorrowedLabels();
    } catch (error) {
      errors.push(`restoring labels: ${error instanceof Error ? error.message : String(error)}`);
    }
    const deleted: string[] = [];
    await Promise.all(
      this.namespaces
        .filter((namespace) => !this.keep.has(namespace))
        .map(async (namespace) => {
          // Namespace deletion is the slowest cleanup step on real clusters: show it progressing.
          const started = Date.now();
          const ticker = setInterval(() => {
            console.log(
              `namespace deletion: ${namespace} still terminating (${Math.round((Date.now() - started) / 1000)}s)`,
            );
          }, 10_000);
          ticker.unref();
          try {
            await deleteNamespaceAndWait(this.kube, {
              name: namespace,
              runId: this.run.runId,
              timeoutMs: this.run.timeouts.deletion,
              intervalMs: this.run.timeouts.pollInterval,
            });
            deleted.push(namespace);
            if (Date.now() - started >= 10_000) {
              console.log(
                `namespace deletion: ${namespace} done in ${Math.round((Date.now() - started) / 1000)}s`,
              );
            }
          } catch (error) {
            errors.push(`${namespace}: ${error instanceof Error ? error.message : String(error)}`);
          } finally {
            clearInterval(ticker);
          }
        }),
    );
    if (errors.length > 0) {
      this.cleanupError = errors.join('; ');
      throw new Error(`Cleanup incomplete: ${this.cleanupError}`);
    }
    return { deleted, kept: this.keptNamespaces, restored };
  }
}

function clientFromPod(namespace: string, pod: V1Pod | undefined): Client {
  if (!pod?.metadata?.name) throw new Error(`No ready client pod in ${namespace}`);
  return {
    namespace,
    pod: pod.metadata.name,
    podIp: pod.status?.podIP ?? '',
    hasSidecar: hasProxy(pod),
  };
}

/** B6: every namespace the suite created is gone and every borrowed label restored. */
export async function verifyCleanup(
  run: RunContext,
  environments: readonly SuiteEnvironment[],
): Promise<{ deleted: string[]; kept: string[]; restoredLabels: string[] }> {
  const problems: string[] = [];
  const deleted: string[] = [];
  const kept: string[] = [];
  const restoredLabels: string[] = [];
  for (const env of environments) {
    if (env.cleanupError)
      problems.push(`cleanup of ${env.suite} [${env.variantName}] failed: ${env.cleanupError}`);
    for (const namespace of env.createdNamespaces) {
      if (env.keptNamespaces.includes(namespace)) {
        kept.push(namespace);
        continue;
      }
      const exists = await env.kube.core.readNamespace({ name: namespace }).then(
        () => true,
        (error: unknown) => {
          if (isNotFound(error)) return false;
          throw error;
        },
      );
      if (exists) problems.push(`namespace ${namespace} still exists`);
      else deleted.push(namespace);
    }
    problems.push(...(await labelProblems(env)));
    restoredLabels.push(...env.labelHistory.map((entry) => entry.namespace));
  }
  if (problems.length > 0) {
    throw new ConformanceFailure({
      behaviour: 'B6',
      expected: `the suite to leave the cluster as it found it (run ${run.runId})`,
      reason: `${problems.length} thing(s) the run created or changed remain`,
      observed: `\n- ${problems.join('\n- ')}`,
      hint: `look for namespaces labelled ${RUN_LABEL}=${run.runId} and delete them; check the run log for cleanup errors`,
      observations: 1,
      elapsedMs: 0,
    });
  }
  return { deleted, kept, restoredLabels };
}

async function labelProblems(env: SuiteEnvironment): Promise<string[]> {
  const problems: string[] = [];
  for (const { namespace, previous } of env.labelHistory) {
    // A namespace the suite created and deleted (the Gateway API's gateway namespace) keeps nothing.
    const found = await env.kube.core.readNamespace({ name: namespace }).catch((error: unknown) => {
      if (isNotFound(error) && env.createdNamespaces.includes(namespace)) return undefined;
      throw error;
    });
    if (!found) continue;
    const metadata = found.metadata;
    const current = metadata?.labels ?? {};
    const holder = lockRecordOf({ metadata: metadata ?? {} });
    if (holder?.run === env.run.runId) {
      problems.push(`namespace ${namespace} is still locked by this run (${holder.owner})`);
    }
    for (const [key, value] of Object.entries(previous)) {
      // Another run may hold the labels now: then what it recorded as "before" must be
      // this run's "before", which it puts back when it is done.
      const recorded = holder && key in holder.previous;
      const now = recorded ? (holder.previous[key] ?? undefined) : current[key];
      if (now !== value) {
        problems.push(
          `label ${key} on namespace ${namespace} is ${now === undefined ? 'absent' : `"${now}"`}${recorded ? ` in the lock record of ${describeHolder(holder)}` : ''}, but was ${value === undefined ? 'absent' : `"${value}"`} before the run`,
        );
      }
    }
  }
  return problems;
}
