// What a person following Istio's task pages does with kubectl must work against `npm run sim`
// as on a real API server: apply (client-side validation left to the server, strategic merge
// on re-apply), create namespace (protobuf), tables, logs, exec, label, patch, wait, delete
// --wait, describe, watch, and a PodDisruptionBudget holding back an eviction. Runs the real
// kubectl; skipped where it is not installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simMain } from '../../simulator/sim-main.ts';

const hasKubectl = spawnSync('kubectl', ['version', '--client']).status === 0;

let dir: string;
let kubeconfig: string;
let stop: (signal: string) => void = () => undefined;
let finished: Promise<number> = Promise.resolve(0);

/** Runs kubectl against the simulated cluster; never throws. */
async function kubectl(
  ...args: string[]
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const result = await execa(
    'kubectl',
    ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args],
    { reject: false, timeout: 30_000 },
  );
  return {
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    exitCode: result.exitCode ?? -1,
  };
}

/** Writes a manifest to the test's folder and returns its path. */
async function manifest(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** The header line of a table, its columns split on runs of spaces. */
function header(table: string): string[] {
  return (table.split('\n')[0] ?? '').trim().split(/\s{2,}/);
}

const DEPLOYMENT = (image: string, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ${image}
          command: ['/bin/sleep', 'infinity']
          ports: [{containerPort: 80}]
${extra}`;

const SIDE_CAR = `        - name: helper
          image: busybox:1.36
          command: ['/bin/sleep', 'infinity']
`;

beforeAll(async () => {
  if (!hasKubectl) return;
  dir = await mkdtemp(path.join(tmpdir(), 'egc-kubectl-'));
  kubeconfig = path.join(dir, 'kubeconfig');
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  finished = simMain(['--kubeconfig', kubeconfig], {
    env: { EGRESS_SIM_POD_START_MS: '0' },
    out: () => undefined,
    stopped,
  });
  const deadline = Date.now() + 30_000;
  while (!existsSync(kubeconfig)) {
    if (Date.now() > deadline) throw new Error('no kubeconfig after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

afterAll(async () => {
  if (!hasKubectl) return;
  stop('SIGTERM');
  await finished;
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasKubectl)(
  'kubectl against npm run sim (skipped where kubectl is not installed)',
  () => {
    it('creates a namespace (kubectl sends it as protobuf) and labels it', async () => {
      expect(await kubectl('create', 'namespace', 'demo')).toMatchObject({
        stdout: 'namespace/demo created',
        exitCode: 0,
      });
      expect((await kubectl('create', 'namespace', 'demo')).stderr).toBe(
        'Error from server (AlreadyExists): namespaces "demo" already exists',
      );
      expect((await kubectl('label', 'namespace', 'demo', 'team=egress')).stdout).toBe(
        'namespace/demo labeled',
      );
      expect((await kubectl('label', 'namespace', 'demo', 'team=egress')).stdout).toBe(
        'namespace/demo not labeled',
      );
      const shown = await kubectl('get', 'namespace', 'demo', '--show-labels');
      expect(header(shown.stdout)).toEqual(['NAME', 'STATUS', 'AGE', 'LABELS']);
      expect(shown.stdout).toMatch(
        /demo\s+Active\s+\d+s\s+kubernetes\.io\/metadata\.name=demo,team=egress/,
      );
      expect((await kubectl('label', 'namespace', 'demo', 'team-')).stdout).toBe(
        'namespace/demo unlabeled',
      );
    });

    it('creates a deployment, a secret and a service account, which kubectl also sends as protobuf', async () => {
      expect(
        (
          await kubectl(
            'create',
            'deployment',
            'made',
            '-n',
            'demo',
            '--image=nginx:1.27',
            '--port=80',
            '--replicas=2',
          )
        ).stdout,
      ).toBe('deployment.apps/made created');
      const spec = JSON.parse(
        (await kubectl('get', 'deploy', 'made', '-n', 'demo', '-o', 'jsonpath={.spec}')).stdout,
      ) as {
        replicas: number;
        selector: unknown;
        template: { spec: { containers: unknown[] } };
      };
      expect(spec.replicas).toBe(2);
      expect(spec.selector).toEqual({ matchLabels: { app: 'made' } });
      expect(spec.template.spec.containers).toEqual([
        expect.objectContaining({
          name: 'nginx',
          image: 'nginx:1.27',
          ports: [expect.objectContaining({ containerPort: 80 })],
        }),
      ]);
      expect(
        (await kubectl('create', 'secret', 'generic', 'token', '-n', 'demo', '--from-literal=k=v'))
          .stdout,
      ).toBe('secret/token created');
      expect(
        (await kubectl('get', 'secret', 'token', '-n', 'demo', '-o', 'jsonpath={.data.k}')).stdout,
      ).toBe('dg==');
      expect((await kubectl('create', 'serviceaccount', 'robot', '-n', 'demo')).stdout).toBe(
        'serviceaccount/robot created',
      );
      expect((await kubectl('delete', 'deploy', 'made', '-n', 'demo')).stdout).toBe(
        'deployment.apps "made" deleted',
      );
    });

    it('applies a Deployment, keeps the resourceVersion on an unchanged re-apply, and merges a changed one', async () => {
      const file = await manifest('web.yaml', DEPLOYMENT('nginx:1.27', SIDE_CAR));
      expect((await kubectl('apply', '-f', file)).stdout).toBe('deployment.apps/web created');
      const rv = async () =>
        (
          await kubectl(
            'get',
            'deploy',
            'web',
            '-n',
            'demo',
            '-o',
            'jsonpath={.metadata.resourceVersion}',
          )
        ).stdout;
      const before = await rv();
      expect((await kubectl('apply', '-f', file)).stdout).toBe('deployment.apps/web unchanged');
      expect(await rv()).toBe(before);

      // Someone else adds an environment variable; a re-apply without it keeps it (three-way
      // strategic merge by container name), changes the image and drops the removed container.
      const env = await kubectl(
        'patch',
        'deploy',
        'web',
        '-n',
        'demo',
        '-p',
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"FROM","value":"patch"}]}]}}}}',
      );
      expect(env.stdout).toBe('deployment.apps/web patched');
      const changed = await manifest('web2.yaml', DEPLOYMENT('nginx:1.28'));
      expect((await kubectl('apply', '-f', changed)).stdout).toBe('deployment.apps/web configured');
      const containers = JSON.parse(
        (
          await kubectl(
            'get',
            'deploy',
            'web',
            '-n',
            'demo',
            '-o',
            'jsonpath={.spec.template.spec.containers}',
          )
        ).stdout,
      ) as { name: string; image: string; env?: unknown; ports?: unknown }[];
      expect(containers).toEqual([
        expect.objectContaining({
          name: 'web',
          image: 'nginx:1.28',
          env: [{ name: 'FROM', value: 'patch' }],
          ports: [expect.objectContaining({ containerPort: 80 })],
        }),
      ]);
    });

    it('leaves validation to the server, which refuses unknown fields with fieldValidation=Strict', async () => {
      const file = await manifest(
        'cm.yaml',
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\ndata:\n  a: b\ndtaa:\n  c: d\n',
      );
      const result = await kubectl('apply', '-f', file);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dtaa"',
      );
      expect((await kubectl('get', '--raw', '/openapi/v3')).stdout).toContain('"api/v1"');
    });

    it("answers Istio's validating webhook for an invalid VirtualService", async () => {
      const file = await manifest(
        'vs.yaml',
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: edition
  namespace: demo
spec:
  hosts: [edition.cnn.com]
  tls:
    - match:
        - port: 443
          sniHosts: []
      route:
        - destination:
            host: edition.cnn.com
`,
      );
      const refused = await kubectl('apply', '-f', file);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toBe(
        `Error from server: error when creating "${file}": admission webhook "validation.istio.io" denied the request: configuration is invalid: TLS match must have at least one SNI host`,
      );
      const fixed = await manifest(
        'vs2.yaml',
        (await readFile(file, 'utf8')).replace('sniHosts: []', 'sniHosts: [edition.cnn.com]'),
      );
      expect((await kubectl('apply', '-f', fixed)).stdout).toBe(
        'virtualservice.networking.istio.io/edition created',
      );
      expect((await kubectl('apply', '-f', fixed)).stdout).toBe(
        'virtualservice.networking.istio.io/edition unchanged',
      );
      const table = await kubectl('get', 'virtualservices', '-n', 'demo');
      expect(header(table.stdout)).toEqual(['NAME', 'GATEWAYS', 'HOSTS', 'AGE']);
      expect(table.stdout).toMatch(/edition\s+\["edition\.cnn\.com"\]\s+\d+s/);
    });

    it("prints the server's tables", async () => {
      const pods = await kubectl('get', 'pods', '-n', 'istio-system');
      expect(header(pods.stdout)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
      expect(pods.stdout).toMatch(/istio-egressgateway-\S+\s+1\/1\s+Running\s+0\s+\d+s/);
      const wide = await kubectl('get', 'pods', '-n', 'istio-system', '-o', 'wide');
      expect(header(wide.stdout)).toEqual([
        'NAME',
        'READY',
        'STATUS',
        'RESTARTS',
        'AGE',
        'IP',
        'NODE',
        'NOMINATED NODE',
        'READINESS GATES',
      ]);
      expect(wide.stdout).toMatch(
        /Running\s+0\s+\d+s\s+\d+\.\d+\.\d+\.\d+\s+\S+\s+<none>\s+<none>/,
      );
      const deployments = await kubectl('get', 'deployments', '-A');
      expect(header(deployments.stdout)).toEqual([
        'NAMESPACE',
        'NAME',
        'READY',
        'UP-TO-DATE',
        'AVAILABLE',
        'AGE',
      ]);
      expect(deployments.stdout).toMatch(/istio-system\s+istiod\s+1\/1\s+1\s+1\s+\d+s/);
      const services = await kubectl('get', 'svc', '-n', 'istio-system');
      expect(header(services.stdout)).toEqual([
        'NAME',
        'TYPE',
        'CLUSTER-IP',
        'EXTERNAL-IP',
        'PORT(S)',
        'AGE',
      ]);
      const gateways = await kubectl('get', 'gateways.networking.istio.io', '-A');
      expect(gateways.stdout + gateways.stderr).toContain('No resources found');
    });

    it('waits for the Deployment, then shows its pod logs by label, container, tail and since', async () => {
      const waited = await kubectl(
        'wait',
        '--for=condition=Available',
        'deploy/web',
        '-n',
        'demo',
        '--timeout=30s',
      );
      expect(waited.stdout).toBe('deployment.apps/web condition met');
      const gateway = await kubectl(
        'logs',
        '-n',
        'istio-system',
        '-l',
        'app=istio-egressgateway',
        '-c',
        'istio-proxy',
        '--tail=1',
      );
      expect(gateway.exitCode).toBe(0);
      expect(gateway.stdout.split('\n')).toHaveLength(1);
      expect(gateway.stdout).toMatch(/\S/);
      const all = await kubectl(
        'logs',
        '-n',
        'istio-system',
        '-l',
        'app=istio-egressgateway',
        '--since=1h',
      );
      expect(all.stdout.split('\n').length).toBeGreaterThanOrEqual(1);
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      const recent = await kubectl(
        'logs',
        '-n',
        'istio-system',
        '-l',
        'app=istio-egressgateway',
        '--since=1s',
      );
      expect(recent).toMatchObject({ stdout: '', exitCode: 0 });
    });

    it('execs into a container and reports its exit code', async () => {
      const echo = await kubectl(
        'exec',
        '-n',
        'demo',
        'deploy/web',
        '-c',
        'web',
        '--',
        'echo',
        'hello',
        'mesh',
      );
      expect(echo).toMatchObject({ stdout: 'hello mesh', exitCode: 0 });
      const failing = await kubectl(
        'exec',
        '-n',
        'demo',
        'deploy/web',
        '-c',
        'web',
        '--',
        'sh',
        '-c',
        'echo out && no-such-command',
      );
      expect(failing.exitCode).toBe(127);
      expect(failing.stdout).toBe('out');
      expect(failing.stderr).toContain('command terminated with exit code 127');
    });

    it('patches with merge, JSON and strategic merge patches', async () => {
      const replicas = async () =>
        (await kubectl('get', 'deploy', 'web', '-n', 'demo', '-o', 'jsonpath={.spec.replicas}'))
          .stdout;
      expect(
        (
          await kubectl(
            'patch',
            'deploy',
            'web',
            '-n',
            'demo',
            '--type',
            'merge',
            '-p',
            '{"spec":{"replicas":2}}',
          )
        ).stdout,
      ).toBe('deployment.apps/web patched');
      expect(await replicas()).toBe('2');
      expect(
        (
          await kubectl(
            'patch',
            'deploy',
            'web',
            '-n',
            'demo',
            '--type',
            'json',
            '-p',
            '[{"op":"replace","path":"/spec/replicas","value":1}]',
          )
        ).stdout,
      ).toBe('deployment.apps/web patched');
      expect(await replicas()).toBe('1');
      expect(
        (await kubectl('patch', 'deploy', 'web', '-n', 'demo', '-p', '{"spec":{"replicas":1}}'))
          .stdout,
      ).toBe('deployment.apps/web patched (no change)');
      const strategic = await kubectl(
        'patch',
        'deploy',
        'web',
        '-n',
        'demo',
        '--type',
        'strategic',
        '-p',
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","$patch":"delete"},{"name":"other","image":"busybox:1.36"}]}}}}',
      );
      expect(strategic.stdout).toBe('deployment.apps/web patched');
      expect(
        (
          await kubectl(
            'get',
            'deploy',
            'web',
            '-n',
            'demo',
            '-o',
            'jsonpath={.spec.template.spec.containers[*].name}',
          )
        ).stdout,
      ).toBe('other');
    });

    it('describes the Deployment with its events', async () => {
      const described = await kubectl('describe', 'deployment', 'web', '-n', 'demo');
      expect(described.exitCode).toBe(0);
      expect(described.stdout).toMatch(/^Name:\s+web$/m);
      expect(described.stdout).toMatch(/^Replicas:\s+1 desired/m);
      expect(described.stdout).toContain('ScalingReplicaSet');
    });

    it('watches from a resourceVersion, replaying what happened since, and prints watch tables', async () => {
      const list = JSON.parse(
        (await kubectl('get', '--raw', '/api/v1/namespaces/demo/configmaps')).stdout,
      ) as {
        metadata: { resourceVersion: string };
      };
      expect(
        (await kubectl('create', 'configmap', 'later', '-n', 'demo', '--from-literal=a=b')).stdout,
      ).toBe('configmap/later created');
      const replayed = await kubectl(
        'get',
        '--raw',
        `/api/v1/namespaces/demo/configmaps?watch=1&timeoutSeconds=1&resourceVersion=${list.metadata.resourceVersion}`,
      );
      const events = replayed.stdout
        .trim()
        .split('\n')
        .map(
          (line) => JSON.parse(line) as { type: string; object: { metadata: { name: string } } },
        );
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED later']);

      const watch = execa(
        'kubectl',
        [
          '--kubeconfig',
          kubeconfig,
          '--cache-dir',
          path.join(dir, 'cache'),
          'get',
          'configmaps',
          '-n',
          'demo',
          '-w',
          '--output-watch-events',
        ],
        { reject: false, timeout: 4_000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await kubectl('label', 'configmap', 'later', '-n', 'demo', 'changed=yes');
      const watched = await watch;
      const lines = String(watched.stdout).split('\n');
      expect(header(watched.stdout)).toEqual(['EVENT', 'NAME', 'DATA', 'AGE']);
      expect(lines.some((line) => /^ADDED\s+later\s+1\s+\d+s$/.test(line))).toBe(true);
      expect(lines.some((line) => /^MODIFIED\s+later\s+1\s+\d+s$/.test(line))).toBe(true);
    });

    it('applies a PodDisruptionBudget, shows its table, and evicts only what it allows', async () => {
      const budget = await manifest(
        'pdb.yaml',
        `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: demo}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
`,
      );
      expect((await kubectl('apply', '-f', budget)).stdout).toBe(
        'poddisruptionbudget.policy/web created',
      );
      // One replica, minAvailable 1: nothing may go (the disruption controller's status).
      const table = await kubectl('get', 'pdb', 'web', '-n', 'demo');
      expect(header(table.stdout)).toEqual([
        'NAME',
        'MIN AVAILABLE',
        'MAX UNAVAILABLE',
        'ALLOWED DISRUPTIONS',
        'AGE',
      ]);
      expect(table.stdout).toMatch(/^web\s+1\s+N\/A\s+0\s+\d+s$/m);
      const pod = (
        await kubectl(
          'get',
          'pods',
          '-n',
          'demo',
          '-l',
          'app=web',
          '-o',
          'jsonpath={.items[0].metadata.name}',
        )
      ).stdout;
      const eviction = await manifest(
        'eviction.json',
        JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod } }),
      );
      const uri = `/api/v1/namespaces/demo/pods/${pod}/eviction`;
      const refused = await kubectl('create', '--raw', uri, '-f', eviction);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toContain(
        "Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget.",
      );
      // The negative control: without the budget the same request evicts the pod.
      expect((await kubectl('delete', 'pdb', 'web', '-n', 'demo')).exitCode).toBe(0);
      const evicted = await kubectl('create', '--raw', uri, '-f', eviction);
      expect(evicted.exitCode, evicted.stderr).toBe(0);
      expect(JSON.parse(evicted.stdout)).toMatchObject({ kind: 'Status', status: 'Success' });
      expect((await kubectl('get', 'pod', pod, '-n', 'demo')).stderr).toContain('NotFound');
    });

    it('deletes and waits until the objects are gone', async () => {
      expect((await kubectl('delete', 'deploy', 'web', '-n', 'demo', '--wait')).stdout).toBe(
        'deployment.apps "web" deleted',
      );
      expect((await kubectl('get', 'deploy', 'web', '-n', 'demo')).stderr).toBe(
        'Error from server (NotFound): deployments.apps "web" not found',
      );
      expect((await kubectl('delete', 'namespace', 'demo', '--wait', '--timeout=30s')).stdout).toBe(
        'namespace "demo" deleted',
      );
      expect((await kubectl('get', 'namespace', 'demo')).stderr).toBe(
        'Error from server (NotFound): namespaces "demo" not found',
      );
    });
  },
);
