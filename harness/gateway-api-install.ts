/**
 * The kind path's Gateway API CRDs: the pinned release's `standard-install.yaml`, downloaded
 * once into the per-user cache (as kind and istioctl are), checked, server-side applied before
 * Istio is installed (istiod then finds the kinds it implements), and waited for until every
 * CRD is `Established`. The release publishes no checksum beside the file (RELEASE.md attaches
 * only what `make build-install-yaml` writes), so what is checked is its content: every object
 * carries the pinned bundle version and the standard channel, and every CRD the suites use is
 * there.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_DOWNLOAD_TIMEOUT_MS, defaultCacheDir } from './binaries.ts';
import { EnvironmentError } from './errors.ts';
import { CRD_API_VERSION, CRD_CONDITIONS } from './facts/custom-resources.ts';
import {
  GATEWAY_API_BUNDLE_ANNOTATIONS,
  GATEWAY_API_CRDS,
  GATEWAY_API_RELEASE,
} from './facts/gateway-api.ts';
import { errorText, type Kube } from './k8s/client.ts';
import { applyObjects, readObject } from './k8s/objects.ts';
import type { TimeoutConfig } from './timeouts.ts';
import { pollUntil, WaitTimeoutError } from './wait.ts';

/** GitHub's release downloads of kubernetes-sigs/gateway-api; tests serve a local copy. */
export const GATEWAY_API_RELEASE_BASE_URL =
  'https://github.com/kubernetes-sigs/gateway-api/releases/download';

/**
 * The largest install file read: v1.6.1's is about 1.2 MB; the cap keeps a wrong URL (a proxy's
 * page, a huge file) from being held in memory.
 */
export const MAX_INSTALL_FILE_BYTES = 16 * 1024 * 1024;

/** YAML aliases allowed per document: the release uses none. */
const MAX_ALIAS_COUNT = 100;

/** Options of {@link installGatewayApiCrds}. */
export interface GatewayApiInstallOptions {
  kube: Kube;
  /** The pinned release (versions.json `gatewayApi.version`). */
  version: string;
  /** Cache root; {@link defaultCacheDir} unless told. */
  cacheDir?: string;
  /** Release download base; {@link GATEWAY_API_RELEASE_BASE_URL} unless told. */
  baseUrl?: string;
  timeouts: Pick<TimeoutConfig, 'crdEstablished' | 'pollInterval'>;
  downloadTimeoutMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** What was installed, for the progress line. */
export interface GatewayApiInstalled {
  source: 'cache' | 'download';
  file: string;
  /** The CRD names applied. */
  crds: string[];
}

/** Where the install file of `version` is cached. */
export function cachedInstallFile(cacheDir: string, version: string): string {
  return join(cacheDir, 'gateway-api', version, GATEWAY_API_RELEASE.installAsset);
}

/**
 * Downloads (or reads from the cache) the release's install file, applies it server-side and
 * waits until its CRDs are Established. Throws {@link EnvironmentError} with the fix.
 */
export async function installGatewayApiCrds({
  kube,
  version,
  cacheDir = defaultCacheDir(),
  baseUrl = GATEWAY_API_RELEASE_BASE_URL,
  timeouts,
  downloadTimeoutMs = DEFAULT_DOWNLOAD_TIMEOUT_MS,
  log = () => {},
  signal,
}: GatewayApiInstallOptions): Promise<GatewayApiInstalled> {
  const file = cachedInstallFile(cacheDir, version);
  const url = `${baseUrl.replace(/\/+$/, '')}/${version}/${GATEWAY_API_RELEASE.installAsset}`;
  let source: GatewayApiInstalled['source'] = 'cache';
  let objects: KubernetesObject[];
  const cached = await readFile(file, 'utf8').catch(() => undefined);
  if (cached !== undefined) {
    // Only checked files are renamed into the cache, but a hand-placed one is checked too.
    objects = checkInstallFile(cached, { version, source: file });
  } else {
    source = 'download';
    log(`downloading the Gateway API ${version} CRDs from ${url}`);
    const text = await download(url, { version, timeoutMs: downloadTimeoutMs, file, signal });
    objects = checkInstallFile(text, { version, source: url });
    await storeInCache(file, text);
  }
  await applyObjects(kube, objects).catch((error: unknown) => {
    throw new EnvironmentError(
      `Installing the Gateway API ${version} CRDs failed (${errorText(error)}); check that the kubeconfig's user may create CustomResourceDefinitions.`,
      { cause: error },
    );
  });
  const crds = objects
    .filter((object) => object.kind === 'CustomResourceDefinition')
    .map((object) => object.metadata?.name ?? '');
  await crdsMustBeEstablished(kube, crds, timeouts);
  return { source, file, crds };
}

/**
 * Parses the install file and checks it is release `version`'s standard channel with every CRD
 * the suites use; returns its objects in file order.
 */
export function checkInstallFile(
  text: string,
  { version, source }: { version: string; source: string },
): KubernetesObject[] {
  const wrong = (problem: string): EnvironmentError =>
    new EnvironmentError(
      `${source} is not the Gateway API ${version} standard install file (${problem}); delete it if it is a cached copy, or check the release and any proxy in between.`,
    );
  if (Buffer.byteLength(text) > MAX_INSTALL_FILE_BYTES)
    throw wrong(`more than ${MAX_INSTALL_FILE_BYTES} bytes`);
  const objects: KubernetesObject[] = [];
  for (const [index, document] of parseAllDocuments(text).entries()) {
    if (document.errors.length > 0)
      throw wrong(
        // The parser's message carries a code frame after its first line.
        `document ${index + 1} is not YAML: ${document.errors[0]?.message.split('\n')[0] ?? ''}`,
      );
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (error) {
      throw wrong(`document ${index + 1}: ${errorText(error)}`);
    }
    if (value === null || value === undefined) continue;
    const object = value as KubernetesObject;
    if (!object.apiVersion || !object.kind || !object.metadata?.name)
      throw wrong(`document ${index + 1} has no apiVersion, kind and metadata.name`);
    const annotations = object.metadata.annotations ?? {};
    const bundle = annotations[GATEWAY_API_BUNDLE_ANNOTATIONS.version];
    const channel = annotations[GATEWAY_API_BUNDLE_ANNOTATIONS.channel];
    if (bundle !== version || channel !== 'standard') {
      throw wrong(
        `${object.kind} ${object.metadata.name} is bundle ${bundle ?? 'unknown'}, channel ${channel ?? 'unknown'}`,
      );
    }
    objects.push(object);
  }
  const names = new Set(
    objects
      .filter((object) => object.apiVersion === CRD_API_VERSION)
      .map((object) => object.metadata?.name),
  );
  const missing = GATEWAY_API_CRDS.filter((name) => !names.has(name));
  if (missing.length > 0) throw wrong(`no CRD ${missing.join(', ')}`);
  return objects;
}

async function download(
  url: string,
  {
    version,
    timeoutMs,
    file,
    signal,
  }: { version: string; timeoutMs: number; file: string; signal: AbortSignal | undefined },
): Promise<string> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const fix = `check the network connection, or place the release's ${GATEWAY_API_RELEASE.installAsset} at ${file}`;
  try {
    const response = await fetch(url, {
      redirect: 'follow',
      signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new EnvironmentError(
        `Downloading the Gateway API ${version} CRDs from ${url} failed with HTTP ${response.status}; check that the release exists (versions.json gatewayApi), or place its ${GATEWAY_API_RELEASE.installAsset} at ${file}.`,
      );
    }
    return await response.text();
  } catch (error) {
    if (error instanceof EnvironmentError) throw error;
    const reason = deadline.aborted ? `no answer within ${timeoutMs} ms` : errorText(error);
    throw new EnvironmentError(
      `Cannot download the Gateway API ${version} CRDs from ${url} (${reason}); ${fix}.`,
      { cause: error },
    );
  }
}

async function storeInCache(file: string, text: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  // A unique temporary name, then an atomic rename: a parallel run never reads half a file.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text);
    await rename(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
}

interface CrdStatus {
  status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

/** Waits until every CRD in `names` reports Established=True (its kinds are served then). */
async function crdsMustBeEstablished(
  kube: Kube,
  names: readonly string[],
  timeouts: Pick<TimeoutConfig, 'crdEstablished' | 'pollInterval'>,
): Promise<void> {
  const established = CRD_CONDITIONS.established.type;
  try {
    await pollUntil({
      what: `the Gateway API CRDs to report ${established}=True`,
      timeoutMs: timeouts.crdEstablished,
      intervalMs: timeouts.pollInterval,
      observe: async () => {
        const pending: string[] = [];
        for (const name of names) {
          const crd = await readObject<KubernetesObject & CrdStatus>(kube, {
            apiVersion: CRD_API_VERSION,
            kind: 'CustomResourceDefinition',
            metadata: { name },
          });
          const condition = crd?.status?.conditions?.find((entry) => entry.type === established);
          if (condition?.status !== 'True') {
            pending.push(
              crd
                ? `${name}: ${established} ${condition?.status ?? 'not reported'}${condition?.message ? ` (${condition.message})` : ''}`
                : `${name}: absent`,
            );
          }
        }
        return pending;
      },
      done: (pending) => pending.length === 0,
      describe: (pending) => pending.join('; '),
    });
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    throw new EnvironmentError(
      `The Gateway API CRDs were applied but are not served: ${error.message}; check the API server's log, or raise --timeout crdEstablished=<ms>.`,
      { cause: error },
    );
  }
}
