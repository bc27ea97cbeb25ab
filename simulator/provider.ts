/**
 * `--cluster simulated`: starts the simulated cluster in this process (an HTTPS
 * Kubernetes API server on loopback plus the mesh model behind exec) and describes it
 * like any other cluster. Reports made against it say SIMULATED.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterProvider, ClusterTarget, ExternalHost } from '../harness/providers/types.ts';
import type { SimExternalHost } from './types.ts';
import { readSimOptions, startSimulatedCluster } from './cluster.ts';
import { createMeshModel } from './mesh/model.ts';
import {
  certificateSummary,
  createCertificateAuthority,
  issueCertificate,
} from '../harness/certs.ts';
import { EnvironmentError } from '../harness/errors.ts';
import { connect } from '../harness/k8s/client.ts';
import { detectIstio } from '../harness/istio/detect.ts';
import { localHostName } from '../harness/external/local.ts';

/**
 * The API server is in this process and answers in milliseconds: an attempt without an
 * answer for 5 s is a server that stopped answering (`api-down`), and 10 s of failures are
 * far beyond what `api-flaky` produces (a few consecutive failures at its 10 %).
 */
const SIMULATED_API_TIMEOUTS = { apiRequest: 5000, apiUnavailable: 10_000 };

/**
 * Creates the simulated provider; EGRESS_SIM_* variables configure the model, and
 * EGRESS_SIM_PROFILE the shape of the cluster (simulator/profiles.ts). `istioRevision` is
 * `--istio-revision`: which installed revision to test, as on an existing cluster.
 */
export function createSimulatedProvider({
  runDir,
  istioVersion,
  istioRevision,
  gatewayReplicas,
  outboundTrafficPolicy,
  env = process.env,
}: {
  runDir: string;
  istioVersion: string;
  /** Egress gateway replicas (an upgrade run asks for 2). */
  gatewayReplicas?: number | undefined;
  istioRevision?: string | undefined;
  /** `--outbound-policy`: the mesh config's outboundTrafficPolicy.mode at install. */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}): ClusterProvider {
  let stop: (() => Promise<void>) | undefined;
  let options: ReturnType<typeof readSimOptions>;
  try {
    options = readSimOptions(env);
  } catch (error) {
    throw new EnvironmentError(
      `Bad simulated-cluster setting: ${error instanceof Error ? error.message : String(error)}.`,
    );
  }
  const propagationBound = options.propagationMs + options.propagationJitterMs;
  return {
    kind: 'simulated',
    timeoutDefaults: {
      // The model appends log lines synchronously, so a short flush window is exact.
      accessLogFlush: 60,
      // Propagation is bounded by the configured delay plus jitter; the headroom is for
      // a loaded machine (CI runs several simulated runs at once on two cores).
      configPropagation: Math.max(8000, Math.ceil(propagationBound * 1.5) + 4000),
      policyEnforcement: Math.max(8000, Math.ceil(propagationBound * 1.5) + 4000),
      podReady: options.podStartMs + 15_000,
      // A Gateway is Programmed once the pods Istio deploys for it start.
      gatewayProgrammed: options.podStartMs + 15_000,
      crdEstablished: 15_000,
      deletion: 15_000,
      pollInterval: 50,
      ...SIMULATED_API_TIMEOUTS,
    },
    async preflight() {},
    // The stand-in istioctl of simulator/bin, reporting and installing `version`.
    istioctlFor(version: string) {
      return Promise.resolve({
        path: fileURLToPath(new URL('./bin/istioctl', import.meta.url)),
        env: { ...env, EGRESS_SIM_ISTIOCTL_VERSION: version },
      });
    },
    async provision({ suites, progress }): Promise<ClusterTarget> {
      progress('simulated cluster', 'start');
      const ca = createCertificateAuthority({ commonName: 'egress-conformance external hosts CA' });
      const externalHosts: Record<string, ExternalHost> = {};
      const simHosts: SimExternalHost[] = [];
      suites.forEach((suite, index) => {
        const name = localHostName(suite);
        const leaf = issueCertificate(ca, { commonName: name, dnsNames: [name] });
        const summary = certificateSummary(leaf.certPem);
        simHosts.push({
          name,
          mode: 'local',
          certificatePem: leaf.certPem,
          caPem: ca.certPem,
          subjectCN: name,
          issuerCN: 'egress-conformance external hosts CA',
          address: `172.18.0.${10 + index}`,
        });
        externalHosts[suite] = {
          name,
          mode: 'local',
          expect: {
            http: { status: 200, header: { name: 'x-egress-conformance-host', value: name } },
            https: { status: 200, header: { name: 'x-egress-conformance-host', value: name } },
          },
          certificatePem: leaf.certPem,
          certificateSubject: summary.subject,
          insecure: true,
        };
      });
      const cluster = await startSimulatedCluster({
        options: { ...options, externalHosts: simHosts },
        externalHosts: simHosts,
        dir: runDir,
        createExecHandler: ({ view, logs }) =>
          createMeshModel({ view, logs, options: { ...options, externalHosts: simHosts } }),
        istio: {
          version: istioVersion,
          accessLogEncoding: 'TEXT',
          outboundStatsIncluded: true,
          ...(outboundTrafficPolicy ? { outboundTrafficPolicy } : {}),
          install: true,
          ...(gatewayReplicas === undefined ? {} : { gatewayReplicas }),
        },
      });
      stop = () => cluster.stop();
      const kube = connect({
        kubeconfigPath: cluster.kubeconfigPath,
        timeouts: SIMULATED_API_TIMEOUTS,
      });
      const istio = await detectIstio(kube, istioRevision ? { revision: istioRevision } : {});
      const version = await kube
        .api((await import('@kubernetes/client-node')).VersionApi)
        .getCode();
      const profiles = options.profiles ?? [];
      progress(
        'simulated cluster',
        'done',
        profiles.length > 0 ? `${cluster.server}, profile ${profiles.join(',')}` : cluster.server,
      );
      return {
        kind: 'simulated',
        simulated: true,
        kubeconfigPath: path.resolve(cluster.kubeconfigPath),
        kubernetesVersion: version.gitVersion,
        cni: 'simulated',
        istio,
        externalHosts,
      };
    },
    async release() {
      await stop?.();
      stop = undefined;
    },
  };
}
