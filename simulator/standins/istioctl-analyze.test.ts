// The stand-in `istioctl analyze -n NS` against a simulated cluster: its messages, the line it
// prints and its exit code follow from the stored objects as real istioctl's do
// (ISTIOCTL_ANALYZE, ISTIOCTL_EXIT, VIRTUAL_SERVICE_GATEWAY_MESSAGES).
import { rm } from 'node:fs/promises';
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISTIOCTL_EXIT } from '../../harness/facts/istioctl.ts';
import type { SimulatedCluster } from '../cluster.ts';
import { startApiOnlyCluster } from '../testing.ts';
import { istioctlMain } from './istioctl.ts';

let dir: string;
let cluster: SimulatedCluster;
let objects: KubernetesObjectApi;

beforeAll(async () => {
  ({ dir, cluster } = await startApiOnlyCluster('egress-sim-analyze-', '1.30.5'));
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  for (const name of ['clean', 'broken', 'gateways']) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  const gateway = (namespace: string, name: string): KubernetesObject =>
    ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name, namespace },
      spec: {
        selector: { istio: 'egressgateway' },
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['a.example'] }],
      },
    }) as KubernetesObject;
  const virtualService = (namespace: string, name: string, gateways: string[]): KubernetesObject =>
    ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name, namespace },
      spec: {
        hosts: ['a.example'],
        gateways,
        http: [{ route: [{ destination: { host: 'a.example' } }] }],
      },
    }) as KubernetesObject;
  for (const object of [
    gateway('clean', 'egress'),
    gateway('gateways', 'shared'),
    // A name in its own namespace, `<ns>/<name>` elsewhere, and `mesh`: all resolve.
    virtualService('clean', 'local', ['egress', 'mesh']),
    virtualService('clean', 'cross', ['gateways/shared']),
    // A gateway that exists, but in another namespace than the short name says.
    virtualService('broken', 'route', ['mesh', 'shared']),
  ]) {
    await objects.create(object);
  }
});

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function analyze(...args: string[]) {
  let out = '';
  let err = '';
  const code = await istioctlMain(
    ['analyze', ...args, '--kubeconfig', cluster.kubeconfigPath],
    { EGRESS_SIM_ISTIOCTL_VERSION: '1.30.5' },
    { out: (text) => void (out += text), err: (text) => void (err += text) },
  );
  return { code, out, err };
}

const IST0101 =
  'Error [IST0101] (VirtualService broken/route) Referenced gateway not found: "shared"';
const IST0132 =
  'Warning [IST0132] (VirtualService broken/route) one or more host [a.example] defined in VirtualService broken/route not found in Gateway broken/shared.';
const FOUND_ISSUES =
  'Error: Analyzers found issues when analyzing namespace: broken.\nSee https://istio.io/v1.30/docs/reference/config/analysis for more information about causes and resolutions.\n';

describe('the stand-in istioctl analyze', () => {
  it('finds nothing where every gateway a VirtualService names exists: exit 0', async () => {
    expect(await analyze('-n', 'clean')).toEqual({
      code: 0,
      out: '\n',
      err: '✔ No validation issues found when analyzing namespace: clean.\n',
    });
  });

  it('reports a missing gateway as IST0101 (Error) and IST0132 (Warning), exit 79 at the default threshold', async () => {
    expect(await analyze('-n', 'broken')).toEqual({
      code: ISTIOCTL_EXIT.analyzerFoundIssues,
      out: `${IST0101}\n${IST0132}\n`,
      err: FOUND_ISSUES,
    });
    // What the upgrade run passes: the same.
    expect((await analyze('-n', 'broken', '--failure-threshold', 'Error')).code).toBe(79);
  });

  it('judges the exit on every message, whatever --output-threshold hides', async () => {
    expect(await analyze('-n', 'broken', '--output-threshold', 'error')).toEqual({
      code: 79,
      out: `${IST0101}\n`,
      err: FOUND_ISSUES,
    });
  });

  it('refuses a level it does not know: exit 64, as a flag error', async () => {
    expect(await analyze('-n', 'broken', '--failure-threshold', 'Fatal')).toEqual({
      code: ISTIOCTL_EXIT.incorrectUsage,
      out: '',
      err: 'Error: invalid argument "Fatal" for "--failure-threshold" flag: invalid level option\n',
    });
  });
});
