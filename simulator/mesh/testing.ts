/**
 * Test fixtures for the mesh model: an in-memory ClusterView holding a kind-like cluster
 * with Istio and the egress gateway installed, the project's manifests rendered with
 * concrete values, client pods with and without sidecar, and external hosts. Used by
 * the `*.test.ts` files of this folder only.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { parseAllDocuments, stringify } from 'yaml';
import type { CurlRequest, CurlResult } from '../../harness/curl.ts';
import { curlCommand, parseCurlOutput } from '../../harness/curl.ts';
import type {
  ClusterView,
  ExecHandler,
  ExecResult,
  FaultName,
  KubeObject,
  LogSink,
  SimExternalHost,
} from '../types.ts';
import { createMeshModel } from './model.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));

/** A ClusterView over a mutable list of objects, with apply/remove like a tiny API server. */
export class MemoryView implements ClusterView {
  private objects: KubeObject[] = [];
  private clock = Date.parse('2026-11-24T10:00:00Z');

  constructor(objects: KubeObject[] = []) {
    for (const obj of objects) this.apply(obj);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    return this.objects.filter(
      (obj) =>
        obj.kind === kind && (namespace === undefined || obj.metadata.namespace === namespace),
    );
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.find(
      (obj) =>
        obj.kind === kind && obj.metadata.name === name && obj.metadata.namespace === namespace,
    );
  }

  /** Creates or replaces an object (keeping its creation time when replacing). */
  apply(obj: KubeObject): KubeObject {
    const existing = this.get(obj.kind, obj.metadata.namespace, obj.metadata.name);
    const copy = structuredClone(obj);
    this.clock += 1000;
    copy.metadata.creationTimestamp =
      existing?.metadata.creationTimestamp ??
      obj.metadata.creationTimestamp ??
      new Date(this.clock).toISOString();
    copy.metadata.uid ??=
      existing?.metadata.uid ??
      `uid-${obj.kind}-${obj.metadata.namespace ?? ''}-${obj.metadata.name}-${this.clock}`;
    this.objects = this.objects.filter((item) => item !== existing);
    this.objects.push(copy);
    return copy;
  }

  remove(kind: string, namespace: string | undefined, name: string): void {
    this.objects = this.objects.filter(
      (obj) =>
        !(obj.kind === kind && obj.metadata.name === name && obj.metadata.namespace === namespace),
    );
  }

  /** Applies a change to a stored object. */
  patch(
    kind: string,
    namespace: string | undefined,
    name: string,
    change: (obj: KubeObject) => void,
  ): void {
    const obj = this.get(kind, namespace, name);
    if (!obj) throw new Error(`no ${kind} ${namespace ?? ''}/${name}`);
    change(obj);
  }
}

/** One appended log line. */
export interface LoggedLine {
  namespace: string;
  pod: string;
  container: string;
  line: string;
  at: Date | undefined;
}

/** A LogSink that keeps every line. */
export class MemoryLogs implements LogSink {
  readonly lines: LoggedLine[] = [];

  append(namespace: string, pod: string, container: string, line: string, at?: Date): void {
    this.lines.push({ namespace, pod, container, line, at });
  }

  of(namespace: string, pod: string, container = 'istio-proxy'): string[] {
    return this.lines
      .filter(
        (entry) =>
          entry.namespace === namespace && entry.pod === pod && entry.container === container,
      )
      .map((entry) => entry.line);
  }
}

/** Replaces `{{name}}` placeholders; an unknown placeholder is a test bug. */
export function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {{${name}}}`);
    return value;
  });
}

/** Renders a manifest file under manifests/ into objects. */
export function manifest(path: string, values: Record<string, string>): KubeObject[] {
  const text = render(readFileSync(`${MANIFESTS}${path}`, 'utf8'), values);
  return parseAllDocuments(text)
    .map((doc) => doc.toJSON() as KubeObject | null)
    .filter((obj): obj is KubeObject => obj !== null);
}

export const GATEWAY_NAMESPACE = 'istio-system';
export const GATEWAY_POD = 'istio-egressgateway-6d8f9c7b5-x7k2p';
export const GATEWAY_IP = '10.244.0.20';
export const GATEWAY_HOST = 'istio-egressgateway.istio-system.svc.cluster.local';

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
  };
}

/** The `istio` ConfigMap with the mesh config the harness installs. */
export function meshConfigMap(mesh: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'istio', namespace: GATEWAY_NAMESPACE },
    data: { mesh: stringify(mesh) },
  };
}

export const DEFAULT_MESH = {
  accessLogFile: '/dev/stdout',
  accessLogEncoding: 'TEXT',
  defaultConfig: { proxyStatsMatcher: { inclusionPrefixes: ['cluster.outbound'] } },
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
  trustDomain: 'cluster.local',
};

/** The egress gateway as `istioctl install` creates it. */
export function gatewayObjects(): KubeObject[] {
  const labels = { app: 'istio-egressgateway', istio: 'egressgateway' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: GATEWAY_POD,
        namespace: GATEWAY_NAMESPACE,
        labels: { ...labels, 'sidecar.istio.io/inject': 'false' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'istio-egressgateway-6d8f9c7b5',
            uid: 'rs-1',
          },
        ],
      },
      spec: {
        serviceAccountName: 'istio-egressgateway-service-account',
        containers: [
          {
            name: 'istio-proxy',
            image: 'docker.io/istio/proxyv2:1.31.1',
            args: ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local'],
            ports: [
              { containerPort: 8080 },
              { containerPort: 8443 },
              { containerPort: 15090, name: 'http-envoy-prom' },
            ],
          },
        ],
      },
      status: {
        phase: 'Running',
        podIP: GATEWAY_IP,
        startTime: '2026-11-24T09:00:00Z',
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'istio-egressgateway', namespace: GATEWAY_NAMESPACE, labels },
      spec: {
        type: 'ClusterIP',
        clusterIP: '10.96.0.50',
        selector: labels,
        ports: [
          { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
          { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
        ],
      },
    },
  ];
}

let podCounter = 0;

/** A `curl` client pod as the Deployment in manifests/base/client.yaml creates it. */
export function clientPod(
  ns: string,
  options: { sidecar: boolean; name?: string; ip?: string },
): KubeObject {
  podCounter += 1;
  const app = options.name ?? 'curl';
  const containers: Record<string, unknown>[] = [
    { name: 'curl', image: 'curlimages/curl:8.11.1', command: ['/bin/sleep', 'infinity'] },
  ];
  if (options.sidecar)
    containers.push({
      name: 'istio-proxy',
      image: 'docker.io/istio/proxyv2:1.31.1',
      args: ['proxy', 'sidecar'],
    });
  const labels: Record<string, string> = { app };
  if (options.sidecar) labels['security.istio.io/tlsMode'] = 'istio';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${app}-5d8c7f9b4-${String(podCounter).padStart(5, 'a')}`,
      namespace: ns,
      labels,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-5d8c7f9b4`, uid: 'rs' },
      ],
    },
    spec: { serviceAccountName: app, containers },
    status: {
      phase: 'Running',
      podIP: options.ip ?? `10.244.1.${10 + podCounter}`,
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

/** A local-mode external host with its own CA-issued certificate. */
export function localHost(name: string, address: string): SimExternalHost {
  const keys = (): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey } => {
    const pair = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    return {
      publicKey: forge.pki.publicKeyFromPem(pair.publicKey),
      privateKey: forge.pki.privateKeyFromPem(pair.privateKey),
    };
  };
  const caKeys = keys();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = '01';
  ca.validity.notBefore = new Date('2026-01-01T00:00:00Z');
  ca.validity.notAfter = new Date('2036-01-01T00:00:00Z');
  const caName = [{ shortName: 'CN', value: 'egress-conformance test CA' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([{ name: 'basicConstraints', cA: true }]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());
  const leafKeys = keys();
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKeys.publicKey;
  leaf.serialNumber = '02';
  leaf.validity.notBefore = new Date('2026-01-01T00:00:00Z');
  leaf.validity.notAfter = new Date('2027-01-01T00:00:00Z');
  leaf.setSubject([{ shortName: 'CN', value: name }]);
  leaf.setIssuer(caName);
  leaf.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }]);
  leaf.sign(caKeys.privateKey, forge.md.sha256.create());
  return {
    name,
    mode: 'local',
    certificatePem: forge.pki.certificateToPem(leaf),
    caPem: forge.pki.certificateToPem(ca),
    subjectCN: name,
    issuerCN: 'egress-conformance test CA',
    address,
  };
}

export const CNN: SimExternalHost = {
  name: 'edition.cnn.com',
  mode: 'internet',
  subjectCN: 'cnn.com',
  issuerCN: 'GlobalSign Atlas R3 DV TLS CA 2024 Q4',
  address: '151.101.195.5',
};

/** A world: the view, the logs, and a model over them with the given faults. */
export interface World {
  view: MemoryView;
  logs: MemoryLogs;
  model: ExecHandler;
  hosts: SimExternalHost[];
  now: { value: Date };
}

export function createWorld(options: {
  hosts: SimExternalHost[];
  faults?: FaultName[];
  objects?: KubeObject[];
  mesh?: Record<string, unknown>;
}): World {
  const view = new MemoryView([
    namespace('istio-system'),
    namespace('kube-system'),
    namespace('default'),
    meshConfigMap(options.mesh ?? DEFAULT_MESH),
    ...gatewayObjects(),
    ...(options.objects ?? []),
  ]);
  const logs = new MemoryLogs();
  const now = { value: new Date('2026-11-24T12:00:00.000Z') };
  const model = createMeshModel({
    view: () => view,
    logs,
    options: {
      faults: new Set(options.faults ?? []),
      propagationMs: 0,
      propagationJitterMs: 0,
      podStartMs: 0,
      externalHosts: options.hosts,
    },
    now: () => {
      now.value = new Date(now.value.getTime() + 1000);
      return now.value;
    },
  });
  return { view, logs, model, hosts: options.hosts, now };
}

/** Runs a command in a pod's container. */
export function exec(
  world: World,
  pod: KubeObject,
  container: string,
  command: string[],
): Promise<ExecResult> {
  return world.model.exec({
    namespace: pod.metadata.namespace ?? 'default',
    pod,
    container,
    command,
  });
}

/** Runs the exact curl command the suites send, and parses it as they do. */
export async function curl(
  world: World,
  pod: KubeObject,
  request: CurlRequest,
): Promise<CurlResult & { raw: ExecResult }> {
  const raw = await exec(world, pod, 'curl', curlCommand(request));
  return { ...parseCurlOutput(raw.stdout, raw.stderr, raw.exitCode), raw };
}

/** The gateway pod's access-log lines. */
export function gatewayLog(world: World): string[] {
  return world.logs.of(GATEWAY_NAMESPACE, GATEWAY_POD);
}

/** The gateway's `cluster.<name>.<stat>` value from `pilot-agent request GET stats`, if printed. */
export async function gatewayStat(world: World, stat: string): Promise<number | undefined> {
  const gateway = world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD);
  if (!gateway) throw new Error('no gateway pod');
  const result = await exec(world, gateway, 'istio-proxy', [
    'pilot-agent',
    'request',
    'GET',
    'stats',
  ]);
  const line = result.stdout.split('\n').find((candidate) => candidate.startsWith(`${stat}: `));
  return line ? Number(line.slice(stat.length + 2)) : undefined;
}

/** Fields of a current-format TEXT access-log line, by the names of istio-facts.md. */
export interface ParsedLogLine {
  startTime: string;
  method: string;
  path: string;
  protocol: string;
  code: number;
  flags: string;
  details: string;
  terminationDetails: string;
  transportFailure: string;
  bytesReceived: number;
  bytesSent: number;
  duration: number;
  upstreamServiceTime: string;
  forwardedFor: string;
  userAgent: string;
  requestId: string;
  authority: string;
  upstreamHost: string;
  upstreamCluster: string;
  upstreamLocal: string;
  downstreamLocal: string;
  downstreamRemote: string;
  sni: string;
  routeName: string;
}

const CURRENT_FORMAT =
  /^\[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\S+) (\S+) (\S+) "([^"]*)" (\d+) (\d+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$/;

/** Parses a current-format TEXT line (the shape of the fixture lines), or undefined. */
export function parseLogLine(line: string): ParsedLogLine | undefined {
  const m = CURRENT_FORMAT.exec(line);
  if (!m) return undefined;
  const g = (index: number): string => m[index] ?? '';
  return {
    startTime: g(1),
    method: g(2),
    path: g(3),
    protocol: g(4),
    code: Number(g(5)),
    flags: g(6),
    details: g(7),
    terminationDetails: g(8),
    transportFailure: g(9),
    bytesReceived: Number(g(10)),
    bytesSent: Number(g(11)),
    duration: Number(g(12)),
    upstreamServiceTime: g(13),
    forwardedFor: g(14),
    userAgent: g(15),
    requestId: g(16),
    authority: g(17),
    upstreamHost: g(18),
    upstreamCluster: g(19),
    upstreamLocal: g(20),
    downstreamLocal: g(21),
    downstreamRemote: g(22),
    sni: g(23),
    routeName: g(24),
  };
}
