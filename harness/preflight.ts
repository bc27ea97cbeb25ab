/**
 * Checks made before a run creates anything. Each problem becomes one EnvironmentError
 * (exit 2): one sentence saying what is missing and how to fix it. They are fast on
 * purpose: a machine without a container engine must hear about it within seconds,
 * not after a download or a cluster creation times out.
 */
import { readFile } from 'node:fs/promises';
import { AuthorizationV1Api, type V1ResourceAttributes } from '@kubernetes/client-node';
import { compareVersions, loadExeca } from './binaries.ts';
import { EnvironmentError } from './errors.ts';
import { ISTIO_ACCESS_LOGGING } from './facts.ts';
import { type Kube, errorText } from './k8s/client.ts';

/** Budget for `docker info`: a stale socket can make it hang. */
export const CONTAINER_ENGINE_TIMEOUT_MS = 15_000;

/**
 * Node this harness needs: `engines` in package.json. Below 22.18 type stripping is
 * behind `--experimental-strip-types`, which `npm run conformance` passes.
 */
export const MINIMUM_NODE_VERSION = '22.12.0';

/** kind's documented inotify settings ("Pod errors due to too many open files"). */
export const RECOMMENDED_INOTIFY = Object.freeze({
  maxUserWatches: 524_288,
  maxUserInstances: 512,
});

const ENGINE_FIX = 'start Docker (or Podman with DOCKER_HOST) and retry';

/**
 * Checks that the container engine kind and testcontainers use answers: `docker info`
 * (or `podman info` when `KIND_EXPERIMENTAL_PROVIDER=podman`). Returns the server version.
 */
export async function checkContainerEngine({
  env = process.env,
  timeoutMs = CONTAINER_ENGINE_TIMEOUT_MS,
}: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const podman = env.KIND_EXPERIMENTAL_PROVIDER === 'podman';
  const command = podman ? 'podman' : 'docker';
  const subject = podman ? 'Podman engine not reachable' : 'Docker engine not reachable';
  const fix = podman ? 'start the Podman machine or service and retry' : ENGINE_FIX;
  const { execa } = await loadExeca();
  const result = await execa(
    command,
    ['info', '--format', podman ? '{{.Version.Version}}' : '{{.ServerVersion}}'],
    {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
    },
  );
  if (
    (result as { code?: string }).code === 'ENOENT' ||
    (result.failed && result.exitCode === undefined && !result.timedOut)
  ) {
    throw new EnvironmentError(`${subject}: there is no \`${command}\` command on PATH; ${fix}.`);
  }
  if (result.timedOut) {
    throw new EnvironmentError(
      `${subject}: \`${command} info\` did not answer within ${timeoutMs} ms; ${fix}.`,
    );
  }
  const version = String(result.stdout).trim();
  if (result.exitCode !== 0 || !version || version.includes('<no value>')) {
    const said =
      firstLine(String(result.stderr)) ||
      firstLine(String(result.stdout)) ||
      `exit code ${result.exitCode}`;
    throw new EnvironmentError(`${subject}: \`${command} info\` says "${said}"; ${fix}.`);
  }
  return version;
}

/** Checks the running Node against {@link MINIMUM_NODE_VERSION}. */
export function checkNodeVersion(version: string = process.versions.node): void {
  if (compareVersions(version, MINIMUM_NODE_VERSION) < 0) {
    throw new EnvironmentError(
      `Node ${version} is too old for this harness; install Node ${MINIMUM_NODE_VERSION} or newer (24 recommended) and retry.`,
    );
  }
}

/** The inotify limits of this Linux host, or undefined elsewhere or when unreadable. */
export async function readInotifyLimits(
  procRoot = '/proc',
): Promise<{ maxUserWatches: number; maxUserInstances: number } | undefined> {
  try {
    const read = async (name: string): Promise<number> =>
      Number.parseInt(await readFile(`${procRoot}/sys/fs/inotify/${name}`, 'utf8'), 10);
    const [maxUserWatches, maxUserInstances] = await Promise.all([
      read('max_user_watches'),
      read('max_user_instances'),
    ]);
    if (Number.isNaN(maxUserWatches) || Number.isNaN(maxUserInstances)) return undefined;
    return { maxUserWatches, maxUserInstances };
  } catch {
    return undefined;
  }
}

/** A warning (not an error) when inotify limits are below kind's recommendation, else undefined. */
export function inotifyWarning(
  limits: { maxUserWatches: number; maxUserInstances: number } | undefined,
): string | undefined {
  if (!limits) return undefined;
  const { maxUserWatches, maxUserInstances } = RECOMMENDED_INOTIFY;
  if (limits.maxUserWatches >= maxUserWatches && limits.maxUserInstances >= maxUserInstances)
    return undefined;
  return (
    `inotify limits are low (fs.inotify.max_user_watches=${limits.maxUserWatches}, max_user_instances=${limits.maxUserInstances}); ` +
    `if kind pods fail with "too many open files", run: sudo sysctl fs.inotify.max_user_watches=${maxUserWatches} fs.inotify.max_user_instances=${maxUserInstances}`
  );
}

/** One permission a run needs, as a SelfSubjectAccessReview asks about it. */
export interface AccessRequirement {
  verb: string;
  /** API group; '' for the core group. */
  group: string;
  resource: string;
  subresource?: string;
  /** Unset: in every namespace (the run's namespaces have names not known in advance). */
  namespace?: string;
}

const ISTIO_NETWORKING_KINDS = [
  'serviceentries',
  'gateways',
  'virtualservices',
  'destinationrules',
  'sidecars',
];
/** Server-side apply of a new object needs both `patch` and `create`; cleanup deletes and reads back. */
const APPLY_AND_DELETE = ['create', 'patch', 'get', 'delete'];

function grant(group: string, resource: string, verbs: readonly string[]): AccessRequirement[] {
  return verbs.map((verb) => ({ verb, group, resource }));
}

/**
 * Everything a run does through the API on an existing cluster, for the
 * SelfSubjectAccessReview preflight; the ClusterRole in `ci/rbac` should grant exactly
 * these. Listing deployments and pods in all namespaces finds istiod and the gateway;
 * patching namespaces labels istio-system and kube-system for the network-policy suite;
 * listing daemonsets names the CNI; listing Telemetry resources finds access logging that
 * the mesh config does not show (on, off, or in a custom format).
 */
export const RUN_ACCESS_REQUIREMENTS: readonly AccessRequirement[] = Object.freeze([
  ...grant('', 'namespaces', APPLY_AND_DELETE),
  ...grant('', 'pods', ['get', 'list', 'delete']),
  { verb: 'create', group: '', resource: 'pods', subresource: 'exec' },
  { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
  ...grant('', 'serviceaccounts', APPLY_AND_DELETE),
  ...grant('', 'services', ['get', 'list']),
  ...grant('', 'configmaps', ['get']),
  ...grant('apps', 'deployments', [...APPLY_AND_DELETE, 'list']),
  ...grant('apps', 'daemonsets', ['list']),
  ...grant('networking.k8s.io', 'networkpolicies', APPLY_AND_DELETE),
  ...ISTIO_NETWORKING_KINDS.flatMap((kind) =>
    grant('networking.istio.io', kind, [...APPLY_AND_DELETE, 'list']),
  ),
  ...grant(ISTIO_ACCESS_LOGGING.telemetry.group, ISTIO_ACCESS_LOGGING.telemetry.plural, ['list']),
]);

/**
 * Asks the API server, with one SelfSubjectAccessReview per requirement, whether the
 * kubeconfig's user may do each; throws one EnvironmentError listing every denial.
 */
export async function checkAccess(
  kube: Kube,
  requirements: readonly AccessRequirement[] = RUN_ACCESS_REQUIREMENTS,
): Promise<void> {
  const authorization = kube.api(AuthorizationV1Api);
  const verdicts = await Promise.all(
    requirements.map(async (requirement) => {
      const resourceAttributes: V1ResourceAttributes = {
        verb: requirement.verb,
        group: requirement.group,
        resource: requirement.resource,
        ...(requirement.subresource ? { subresource: requirement.subresource } : {}),
        ...(requirement.namespace ? { namespace: requirement.namespace } : {}),
      };
      try {
        const review = await authorization.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes },
          },
        });
        return { requirement, allowed: review.status?.allowed === true };
      } catch (error) {
        throw new EnvironmentError(
          `Cannot ask ${kube.server} whether this user may ${describeAccess(requirement)} (${errorText(error)}); check that the API server serves authorization.k8s.io/v1.`,
          { cause: error },
        );
      }
    }),
  );
  const denied = verdicts
    .filter((verdict) => !verdict.allowed)
    .map((verdict) => describeAccess(verdict.requirement));
  if (denied.length > 0) {
    throw new EnvironmentError(
      `The kubeconfig's user may not ${denied.join(', ')} on ${kube.server}; bind it to the ClusterRole in ci/rbac (or ask a cluster admin to) and retry.`,
    );
  }
}

/** `create pods/exec`, `patch virtualservices.networking.istio.io`. */
export function describeAccess({
  verb,
  group,
  resource,
  subresource,
  namespace,
}: AccessRequirement): string {
  const name = `${resource}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
  return `${verb} ${name}${namespace ? ` in ${namespace}` : ''}`;
}

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .find(Boolean) ?? ''
  );
}
