/**
 * Installing Istio on a cluster the harness owns (kind only): `istioctl install -y -f`
 * with the overlay from `overlay.ts`, then a wait until istiod and the egress gateway are
 * ready, then detection of what is actually running, checked against what was asked.
 */
import { runTool } from '../binaries.ts';
import { EnvironmentError } from '../errors.ts';
import type { Kube } from '../k8s/client.ts';
import { waitForDeploymentReady } from '../k8s/workloads.ts';
import type { IstioInstallation } from '../providers/types.ts';
import { detectIstio } from './detect.ts';
import { EGRESS_GATEWAY_NAME, type OverlayOptions, writeOverlay } from './overlay.ts';

/** Options of {@link installIstio}. */
export interface InstallIstioOptions {
  kube: Kube;
  istioctlPath: string;
  kubeconfigPath: string;
  /** Where the overlay is written. */
  runDir: string;
  overlay: OverlayOptions;
  /** The `istioInstall` budget: istioctl plus the readiness wait. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cancelSignal?: AbortSignal;
  log?: (message: string) => void;
}

/** What was installed, as detected afterwards. */
export interface InstalledIstio {
  installation: IstioInstallation;
  /** `istioctl version` against the cluster: client, control plane and data plane versions. */
  istioctlVersionOutput: string;
  overlayPath: string;
}

/** The namespace `istioctl install` uses by default. */
export const ISTIO_NAMESPACE = 'istio-system';

/** Runs `istioctl install`, waits for istiod and the egress gateway, and returns the detected installation. */
export async function installIstio({
  kube,
  istioctlPath,
  kubeconfigPath,
  runDir,
  overlay,
  timeoutMs,
  env = process.env,
  cancelSignal,
  log = () => {},
}: InstallIstioOptions): Promise<InstalledIstio> {
  const started = Date.now();
  const remaining = (): number => Math.max(1_000, timeoutMs - (Date.now() - started));
  const overlayPath = await writeOverlay(runDir, overlay);
  await runTool({
    path: istioctlPath,
    args: [
      'install',
      '-y',
      '-f',
      overlayPath,
      '--kubeconfig',
      kubeconfigPath,
      '--readiness-timeout',
      `${Math.ceil(timeoutMs / 1000)}s`,
    ],
    what: 'istioctl install',
    fix: `check that the cluster's nodes can pull images from registry.istio.io (mirror it where the network is closed) and read the istioctl output in the run log; the overlay is ${overlayPath}`,
    // istioctl bounds its own readiness wait; the margin lets it report that itself.
    timeoutMs: timeoutMs + 30_000,
    env,
    ...(cancelSignal ? { cancelSignal } : {}),
    onLine: (line) => log(`istioctl: ${line}`),
  });

  for (const name of ['istiod', EGRESS_GATEWAY_NAME]) {
    try {
      await waitForDeploymentReady(kube, {
        namespace: ISTIO_NAMESPACE,
        name,
        timeoutMs: remaining(),
      });
    } catch (error) {
      throw new EnvironmentError(
        `istioctl install finished but ${ISTIO_NAMESPACE}/${name} is not ready (${error instanceof Error ? error.message : String(error)}); look at the pods' events in ${ISTIO_NAMESPACE}.`,
        { cause: error },
      );
    }
  }

  const installation = await detectIstio(kube, { log });
  const expected = {
    'access logging': [installation.accessLog.enabled, true],
    'access log encoding': [installation.accessLog.encoding, overlay.accessLogEncoding ?? 'JSON'],
    'cluster.outbound stats': [installation.outboundStatsIncluded, true],
    'outbound traffic policy': [installation.outboundTrafficPolicy, overlay.outboundTrafficPolicy],
  } as const;
  const differences = Object.entries(expected)
    .filter(([, [seen, wanted]]) => seen !== wanted)
    .map(([what, [seen, wanted]]) => `${what} is ${String(seen)}, expected ${String(wanted)}`);
  if (differences.length > 0) {
    throw new EnvironmentError(
      `Istio was installed from ${overlayPath} but its mesh config does not say what the overlay asked (${differences.join('; ')}); check that the istioctl version accepts this overlay.`,
    );
  }

  const { stdout } = await runTool({
    path: istioctlPath,
    args: ['version', '--kubeconfig', kubeconfigPath],
    what: 'istioctl version',
    fix: 'check that istiod is reachable',
    timeoutMs: 60_000,
    env,
    ...(cancelSignal ? { cancelSignal } : {}),
  });
  return { installation, istioctlVersionOutput: stdout.trim(), overlayPath };
}
