import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../harness/errors.ts';
import { type Kube, connect } from '../../harness/k8s/client.ts';
import {
  type SimulatedCluster,
  readSimOptions,
  startSimulatedCluster,
} from '../../simulator/cluster.ts';
import { installIstio } from '../../harness/istio/install.ts';
import { buildIstioOperator } from '../../harness/istio/overlay.ts';

const STANDIN_ISTIOCTL = fileURLToPath(new URL('../../simulator/bin/istioctl', import.meta.url));
const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };

describe('installIstio with the stand-in istioctl', () => {
  let cluster: SimulatedCluster;
  let dir: string;
  let kube: Kube;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'egc-install-'));
    cluster = await startSimulatedCluster({
      options: readSimOptions({}),
      dir,
      createExecHandler: () => ({
        exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 126 }),
      }),
    });
    kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
  });

  afterEach(async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('installs from the overlay, waits for istiod and the gateway, and detects what runs', async () => {
    const lines: string[] = [];
    const installed = await installIstio({
      kube,
      istioctlPath: STANDIN_ISTIOCTL,
      kubeconfigPath: cluster.kubeconfigPath,
      runDir: dir,
      overlay: { outboundTrafficPolicy: 'REGISTRY_ONLY' },
      timeoutMs: 30_000,
      env,
      log: (line) => lines.push(line),
    });
    expect(installed.overlayPath).toBe(join(dir, 'istio-overlay.yaml'));
    expect(installed.installation).toMatchObject({
      version: '1.31.1',
      gateway: { namespace: 'istio-system', serviceName: 'istio-egressgateway' },
      accessLog: { enabled: true, encoding: 'JSON' },
      outboundStatsIncluded: true,
      outboundTrafficPolicy: 'REGISTRY_ONLY',
    });
    expect(installed.istioctlVersionOutput).toMatch(
      /^client version: 1\.31\.1\ncontrol plane version: 1\.31\.1\n/,
    );
    expect(lines).toContain('istioctl: ✔ Installation complete');
  });

  it('turns a failing istioctl into an environment error with its output and the fix', async () => {
    const failing = join(dir, 'istioctl');
    await writeFile(
      failing,
      '#!/bin/sh\necho "Error: failed to install manifests: pull access denied" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const failure = await installIstio({
      kube,
      istioctlPath: failing,
      kubeconfigPath: cluster.kubeconfigPath,
      runDir: dir,
      overlay: { outboundTrafficPolicy: 'ALLOW_ANY' },
      timeoutMs: 10_000,
      env,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^istioctl install failed: `.*istioctl install -y -f .*istio-overlay\.yaml --kubeconfig .* --readiness-timeout 10s` exited 1 after [\d.]+ s \(Error: failed to install manifests: pull access denied\); check that the cluster's nodes can pull images from registry\.istio\.io/,
    );
  });

  it('refuses an installation whose mesh config is not what the overlay asked for', async () => {
    // An istioctl that ignores the overlay it is given and installs TEXT logs without outbound stats.
    const textOverlay = join(dir, 'text-overlay.yaml');
    const operator = buildIstioOperator({
      outboundTrafficPolicy: 'ALLOW_ANY',
      accessLogEncoding: 'TEXT',
    }) as {
      spec: { meshConfig: { defaultConfig: unknown } };
    };
    operator.spec.meshConfig.defaultConfig = {};
    await writeFile(textOverlay, stringify(operator));
    const wrong = join(dir, 'istioctl');
    await writeFile(
      wrong,
      `#!/bin/sh\nif [ "$1" = install ]; then exec "${STANDIN_ISTIOCTL}" install -y -f "${textOverlay}" --kubeconfig "$6"; fi\nexec "${STANDIN_ISTIOCTL}" "$@"\n`,
      { mode: 0o755 },
    );
    await expect(
      installIstio({
        kube,
        istioctlPath: wrong,
        kubeconfigPath: cluster.kubeconfigPath,
        runDir: dir,
        overlay: { outboundTrafficPolicy: 'ALLOW_ANY' },
        timeoutMs: 30_000,
        env,
      }),
    ).rejects.toThrow(
      /its mesh config does not say what the overlay asked \(access log encoding is TEXT, expected JSON; cluster\.outbound stats is false, expected true\)/,
    );
  });
});
