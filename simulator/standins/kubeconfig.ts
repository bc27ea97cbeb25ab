/**
 * The kubeconfig as the stand-in istioctl's Kubernetes client (kube-lite.ts) reads it: one
 * context's server, CA, token or client certificate, and namespace. It supports what the
 * simulated cluster and the stand-in kind write (simulator/cluster.ts `kubeconfigYaml`,
 * kind-world.ts `asKindKubeconfig`) and what costs a few lines more (CA and certificate
 * files, token files, `insecure-skip-tls-verify`, `tls-server-name`). Whatever else can
 * authenticate or route a request (exec plugins, auth providers, basic auth, impersonation,
 * proxies) is refused with an error naming the field: sending the request without it would
 * fail later with a misleading 401, or reach the wrong place.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import { EnvironmentError } from '../../harness/errors.ts';
import { failureText } from '../../harness/k8s/retry.ts';

/** Where and how to reach one cluster, as a kubeconfig context says. */
export interface KubeTarget {
  server: string;
  /** The context's namespace, else `default`: where a namespaced object without one goes. */
  namespace: string;
  tls: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    rejectUnauthorized: boolean;
    servername?: string;
  };
  /** Headers every request carries (the bearer token). */
  headers: Record<string, string>;
}

/** A YAML mapping of the kubeconfig, read field by field. */
type Section = Record<string, unknown>;

/** What a kubeconfig may say that this client does not implement, and what it is. */
const UNSUPPORTED_USER_FIELDS: Readonly<Record<string, string>> = {
  exec: 'an exec credential plugin',
  'auth-provider': 'an auth provider',
  username: 'basic authentication',
  password: 'basic authentication',
  as: 'impersonation',
  'as-uid': 'impersonation',
  'as-groups': 'impersonation',
  'as-user-extra': 'impersonation',
};
const UNSUPPORTED_CLUSTER_FIELDS: Readonly<Record<string, string>> = {
  'proxy-url': 'a proxy',
};

/**
 * Reads a kubeconfig and resolves one context (the given one, else `current-context`) into a
 * {@link KubeTarget}. Errors are EnvironmentErrors naming the file and the fix, worded as
 * harness/k8s/client.ts's `connect` words them.
 */
export async function loadKubeconfig({
  kubeconfigPath,
  context,
}: {
  kubeconfigPath: string;
  context?: string | undefined;
}): Promise<KubeTarget> {
  let config: Section;
  try {
    const parsed: unknown = YAML.parse(await readFile(kubeconfigPath, 'utf8'));
    if (!isSection(parsed)) throw new Error('not a YAML mapping');
    config = parsed;
  } catch (error) {
    throw new EnvironmentError(
      `Cannot read the kubeconfig ${kubeconfigPath} (${failureText(error)}); pass --kubeconfig with a readable file.`,
      { cause: error },
    );
  }
  const entries = (key: 'clusters' | 'users' | 'contexts'): Section[] =>
    Array.isArray(config[key]) ? (config[key] as unknown[]).filter(isSection) : [];
  const contexts = entries('contexts');
  const wanted = context ?? stringField(config, 'current-context');
  const chosen = contexts.find((entry) => entry.name === wanted);
  const contextSection = chosen?.context;
  if (!chosen || !isSection(contextSection)) {
    const names = contexts.map((entry) => String(entry.name)).join(', ');
    throw new EnvironmentError(
      context
        ? `The kubeconfig ${kubeconfigPath} has no context "${context}"; pass --context with one of: ${names}.`
        : `The kubeconfig ${kubeconfigPath} has no current cluster; pass --context to pick one.`,
    );
  }
  const pick = (key: 'clusters' | 'users', inner: 'cluster' | 'user'): Section | undefined => {
    const name = stringField(contextSection, inner);
    const entry = entries(key).find((candidate) => candidate.name === name);
    return entry && isSection(entry[inner]) ? entry[inner] : undefined;
  };
  const cluster = pick('clusters', 'cluster');
  const server = cluster ? stringField(cluster, 'server') : undefined;
  if (!cluster || !server) {
    throw new EnvironmentError(
      `The kubeconfig ${kubeconfigPath} names no cluster with a server for context "${String(chosen.name)}"; pass --context to pick one.`,
    );
  }
  // A user entry may be absent or empty: the requests then go unauthenticated, as kubectl's do.
  const user = pick('users', 'user') ?? {};
  refuseUnsupported(kubeconfigPath, 'user', user, UNSUPPORTED_USER_FIELDS);
  refuseUnsupported(kubeconfigPath, 'cluster', cluster, UNSUPPORTED_CLUSTER_FIELDS);
  // client-go resolves relative file references against the kubeconfig's own directory.
  const base = dirname(resolve(kubeconfigPath));
  const referenced = async (
    section: Section,
    field: string,
    inline = `${field}-data`,
  ): Promise<Buffer | undefined> => {
    const file = stringField(section, field);
    if (!file) return undefined;
    try {
      return await readFile(resolve(base, file));
    } catch (error) {
      throw new EnvironmentError(
        `Cannot read ${file}, the ${field} the kubeconfig ${kubeconfigPath} names (${failureText(error)}); fix the path or inline it as ${inline}.`,
        { cause: error },
      );
    }
  };
  // Inline data wins over a file, as in client-go.
  const bytes = async (section: Section, field: string): Promise<Buffer | undefined> => {
    const data = stringField(section, `${field}-data`);
    return data ? Buffer.from(data, 'base64') : referenced(section, field);
  };
  const token =
    stringField(user, 'token') ??
    (await referenced(user, 'tokenFile', 'token'))?.toString('utf8').trim();
  const ca = await bytes(cluster, 'certificate-authority');
  const cert = await bytes(user, 'client-certificate');
  const key = await bytes(user, 'client-key');
  if (Boolean(cert) !== Boolean(key)) {
    throw new EnvironmentError(
      `The kubeconfig ${kubeconfigPath} gives its user a client ${cert ? 'certificate without a key' : 'key without a certificate'}; give both (client-certificate-data and client-key-data).`,
    );
  }
  const servername = stringField(cluster, 'tls-server-name');
  return {
    server,
    namespace: stringField(contextSection, 'namespace') ?? 'default',
    tls: {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
      ...(servername ? { servername } : {}),
    },
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  };
}

function refuseUnsupported(
  path: string,
  what: 'user' | 'cluster',
  section: Section,
  unsupported: Readonly<Record<string, string>>,
): void {
  const field = Object.keys(section).find(
    (key) => Object.hasOwn(unsupported, key) && section[key] !== undefined && section[key] !== null,
  );
  if (field === undefined) return;
  throw new EnvironmentError(
    `The kubeconfig ${path} gives its ${what} ${unsupported[field]} (${field}), which the stand-in istioctl's Kubernetes client (simulator/standins/kube-lite.ts) does not support; use a kubeconfig with a token or a client certificate, such as the simulated cluster and the stand-in kind write.`,
  );
}

function isSection(value: unknown): value is Section {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(section: Section, key: string): string | undefined {
  const value = section[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
