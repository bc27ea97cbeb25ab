/**
 * Istio's sidecar injector as admission, laid out by the same facts the harness reads: the
 * revisions that inject are those with an injector webhook configuration (as `istioctl
 * install` creates them, istio-bootstrap.ts), a namespace picks one by its labels
 * (`namespaceSelectsRevision`), and the sidecar is rendered from that revision's istiod.
 */
import {
  hasProxy,
  injectsNativeSidecars,
  NATIVE_SIDECARS,
  PROXY_CONTAINER,
} from '../../harness/facts.ts';
import { INJECTION, namespaceSelectsRevision } from '../../harness/facts/injection.ts';
import {
  ISTIO_CONTROL_PLANE,
  istiodAddress,
  istiodName,
} from '../../harness/facts/istio-install.ts';
import { asArray, asRecord, text, type Json } from '../json.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';

/** A control-plane revision whose webhook injects sidecars. */
export interface InjectingRevision {
  revision: string;
  /** The revision also serves the `default` tag: it answers `istio-injection=enabled`. */
  hasDefaultTag: boolean;
  /** The istiod the webhook calls (its Service, named as its Deployment). */
  istiod: { namespace: string; name: string };
}

/** The default revision alone, installed in istio-system: what a cluster without webhook objects gets. */
const DEFAULT_ONLY: readonly InjectingRevision[] = [
  {
    revision: INJECTION.defaultRevision,
    hasDefaultTag: true,
    istiod: {
      namespace: ISTIO_CONTROL_PLANE.defaultNamespace,
      name: istiodName(INJECTION.defaultRevision),
    },
  },
];

/**
 * The revisions with an injector webhook configuration (label `app: sidecar-injector`) in
 * the store, and whether a `default` revision tag points at them. A store without any such
 * object (seeded by hand) is taken to have the default revision's injector.
 */
export function injectingRevisions(store: ObjectStore): InjectingRevision[] {
  const { injectorWebhook, revisionTag, revisionLabel } = ISTIO_CONTROL_PLANE;
  const webhooks = store
    .list('MutatingWebhookConfiguration')
    .filter(
      (config) =>
        config.metadata.labels?.[injectorWebhook.appLabel.key] === injectorWebhook.appLabel.value,
    );
  if (webhooks.length === 0) return [...DEFAULT_ONLY];
  const revisionOf = (config: KubeObject): string =>
    config.metadata.labels?.[revisionLabel] ?? INJECTION.defaultRevision;
  const tags = webhooks.filter((config) => config.metadata.labels?.[revisionTag.label]);
  return webhooks
    .filter((config) => !config.metadata.labels?.[revisionTag.label])
    .map((config) => {
      const revision = revisionOf(config);
      const service = asRecord(asRecord(asArray(config.webhooks)[0]?.clientConfig).service);
      return {
        revision,
        hasDefaultTag:
          revision === INJECTION.defaultRevision ||
          tags.some(
            (tag) =>
              tag.metadata.labels?.[revisionTag.label] === revisionTag.default &&
              revisionOf(tag) === revision,
          ),
        istiod: {
          namespace: text(service.namespace, ISTIO_CONTROL_PLANE.defaultNamespace),
          name: text(service.name, istiodName(revision)),
        },
      };
    });
}

/** The Istio image hub and tag, read from the revision's istiod; undefined when it is not installed. */
function installedIstio(
  store: ObjectStore,
  revision: InjectingRevision,
): { hub: string; tag: string } | undefined {
  const istiod = store.get('Deployment', revision.istiod.namespace, revision.istiod.name);
  if (istiod === undefined) return undefined;
  const containers = asArray(asRecord(asRecord(asRecord(istiod.spec).template).spec).containers);
  const image = text(containers.find((container) => container.name === 'discovery')?.image);
  const match = /^(.*)\/pilot:(.+)$/.exec(image);
  if (match === null) return undefined;
  return { hub: match[1] ?? '', tag: match[2] ?? '' };
}

/**
 * Which revision's webhook injects this pod, as the webhooks' selectors decide: a pod that
 * opts out (`sidecar.istio.io/inject: "false"`) gets none; a namespace labelled
 * `istio-injection` or `istio.io/rev` is matched by `namespaceSelectsRevision`; an unlabelled
 * namespace leaves it to the pod's `istio.io/rev` label, or its `sidecar.istio.io/inject:
 * "true"` for the revision serving the default tag.
 */
export function selectingRevision(
  namespaceLabels: Record<string, string> | undefined,
  pod: KubeObject,
  revisions: readonly InjectingRevision[],
): InjectingRevision | undefined {
  const podSetting =
    pod.metadata.labels?.['sidecar.istio.io/inject'] ??
    pod.metadata.annotations?.['sidecar.istio.io/inject'];
  if (podSetting === 'false') return undefined;
  const namespaceLabelled =
    namespaceLabels?.[INJECTION.namespaceLabel] !== undefined ||
    namespaceLabels?.[INJECTION.revisionLabel] !== undefined;
  if (namespaceLabelled) {
    return revisions.find((candidate) =>
      namespaceSelectsRevision(namespaceLabels, candidate.revision, candidate),
    );
  }
  const podRevision = pod.metadata.labels?.[INJECTION.revisionLabel];
  if (podRevision !== undefined)
    return revisions.find((candidate) => candidate.revision === podRevision);
  return podSetting === 'true' ? revisions.find((candidate) => candidate.hasDefaultTag) : undefined;
}

/**
 * Whether Istio's injector would inject this pod, with only the default revision installed:
 * namespace label `istio-injection` (enabled/disabled) wins, then the pod label
 * `sidecar.istio.io/inject`.
 */
export function wantsSidecar(
  namespaceLabels: Record<string, string> | undefined,
  pod: KubeObject,
  revisions: readonly InjectingRevision[] = DEFAULT_ONLY,
): boolean {
  return selectingRevision(namespaceLabels, pod, revisions) !== undefined;
}

/** The pod with Istio's sidecar added, when the injector would add one. */
export function injectSidecar(pod: KubeObject, store: ObjectStore): KubeObject {
  const namespaceName = pod.metadata.namespace ?? 'default';
  if (['kube-system', 'kube-public'].includes(namespaceName)) return pod;
  if (pod.metadata.annotations?.['sidecar.istio.io/status'] !== undefined) return pod;
  const spec = asRecord(pod.spec);
  if (spec.hostNetwork === true) return pod;
  const namespace = store.get('Namespace', undefined, namespaceName);
  const revision = selectingRevision(namespace?.metadata.labels, pod, injectingRevisions(store));
  if (revision === undefined) return pod;
  const istio = installedIstio(store, revision);
  if (istio === undefined) return pod;
  const image = `${istio.hub}/proxyv2:${istio.tag}`;
  const appContainers = asArray(spec.containers);
  const firstApp = text(appContainers[0]?.name, '');
  const labels = pod.metadata.labels ?? {};
  const workloadName =
    pod.metadata.ownerReferences?.[0]?.name.replace(/-[^-]+$/, '') ?? pod.metadata.name;
  const volumes = [
    'workload-socket',
    'credential-socket',
    'workload-certs',
    'istio-envoy',
    'istio-data',
    'istio-podinfo',
    'istio-token',
    'istiod-ca-cert',
  ];
  pod.metadata.labels = {
    ...labels,
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name':
      labels['service.istio.io/canonical-name'] ??
      labels['app.kubernetes.io/name'] ??
      labels.app ??
      workloadName,
    'service.istio.io/canonical-revision':
      labels['service.istio.io/canonical-revision'] ??
      labels['app.kubernetes.io/version'] ??
      labels.version ??
      'latest',
  };
  pod.metadata.annotations = {
    ...pod.metadata.annotations,
    'istio.io/rev': revision.revision,
    'kubectl.kubernetes.io/default-container': firstApp,
    'kubectl.kubernetes.io/default-logs-container': firstApp,
    'prometheus.io/path': '/stats/prometheus',
    'prometheus.io/port': '15020',
    'prometheus.io/scrape': 'true',
    'sidecar.istio.io/status': JSON.stringify({
      initContainers: ['istio-init'],
      containers: ['istio-proxy'],
      volumes,
      imagePullSecrets: null,
      revision: revision.revision,
    }),
  };
  spec.initContainers = [
    ...asArray(spec.initContainers),
    {
      name: 'istio-init',
      image,
      args: [
        'istio-iptables',
        '-p',
        '15001',
        '-z',
        '15006',
        '-u',
        '1337',
        '-m',
        'REDIRECT',
        '-i',
        '*',
        '-x',
        '',
        '-b',
        '*',
        '-d',
        '15090,15021,15020',
        '--log_output_level=default:info',
      ],
      imagePullPolicy: 'IfNotPresent',
      resources: {
        limits: { cpu: '2', memory: '1Gi' },
        requests: { cpu: '100m', memory: '128Mi' },
      },
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: false,
        runAsGroup: 0,
        runAsNonRoot: false,
        runAsUser: 0,
      },
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
    },
  ];
  spec.containers = [
    ...appContainers,
    {
      name: 'istio-proxy',
      image,
      args: [
        'proxy',
        'sidecar',
        '--domain',
        '$(POD_NAMESPACE).svc.cluster.local',
        '--proxyLogLevel=warning',
        '--proxyComponentLogLevel=misc:error',
        '--log_output_level=default:info',
      ],
      env: [
        { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
        { name: 'CA_ADDR', value: istiodAddress(revision.revision, revision.istiod.namespace) },
        {
          name: 'POD_NAME',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
        },
        {
          name: 'POD_NAMESPACE',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
        },
        {
          name: 'INSTANCE_IP',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } },
        },
        {
          name: 'SERVICE_ACCOUNT',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.serviceAccountName' } },
        },
        { name: 'ISTIO_META_WORKLOAD_NAME', value: workloadName },
        { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
        { name: 'ISTIO_META_MESH_ID', value: 'cluster.local' },
        { name: 'TRUST_DOMAIN', value: 'cluster.local' },
      ],
      ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
      readinessProbe: {
        failureThreshold: 4,
        httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' },
        periodSeconds: 15,
        successThreshold: 1,
        timeoutSeconds: 3,
      },
      imagePullPolicy: 'IfNotPresent',
      resources: {
        limits: { cpu: '2', memory: '1Gi' },
        requests: { cpu: '100m', memory: '128Mi' },
      },
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsGroup: 1337,
        runAsNonRoot: true,
        runAsUser: 1337,
      },
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      volumeMounts: [
        { mountPath: '/var/run/secrets/workload-spiffe-uds', name: 'workload-socket' },
        { mountPath: '/var/run/secrets/credential-uds', name: 'credential-socket' },
        { mountPath: '/var/run/secrets/workload-spiffe-credentials', name: 'workload-certs' },
        { mountPath: '/var/run/secrets/istio', name: 'istiod-ca-cert' },
        { mountPath: '/var/lib/istio/data', name: 'istio-data' },
        { mountPath: '/etc/istio/proxy', name: 'istio-envoy' },
        { mountPath: '/var/run/secrets/tokens', name: 'istio-token' },
        { mountPath: '/etc/istio/pod', name: 'istio-podinfo' },
      ],
    },
  ];
  spec.volumes = [
    ...asArray(spec.volumes),
    { name: 'workload-socket', emptyDir: {} },
    { name: 'credential-socket', emptyDir: {} },
    { name: 'workload-certs', emptyDir: {} },
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    { name: 'istio-data', emptyDir: {} },
    {
      name: 'istio-podinfo',
      downwardAPI: {
        items: [
          { fieldRef: { fieldPath: 'metadata.labels' }, path: 'labels' },
          { fieldRef: { fieldPath: 'metadata.annotations' }, path: 'annotations' },
        ],
      },
    },
    {
      name: 'istio-token',
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: 'istio-ca',
              expirationSeconds: 43200,
              path: 'istio-token',
            },
          },
        ],
      },
    },
    { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
  ];
  if (injectsNativeSidecars(istio.tag, kubeletVersions(store)))
    moveProxyToInitContainers(pod, spec);
  pod.spec = spec;
  pod.status = { ...pod.status, qosClass: 'Burstable' };
  return pod;
}

function kubeletVersions(store: ObjectStore): string[] {
  return store
    .list('Node')
    .map((node) => text(asRecord(asRecord(node.status).nodeInfo).kubeletVersion));
}

/**
 * The native-sidecar layout of the injection template (Istio >= 1.27 on Kubernetes >= 1.33,
 * see NATIVE_SIDECARS): the proxy follows `istio-init` in `initContainers` with
 * `restartPolicy: Always`, and the status annotation lists it there.
 */
function moveProxyToInitContainers(pod: KubeObject, spec: Json): void {
  const containers = asArray(spec.containers);
  const proxy = containers.find((container) => container.name === PROXY_CONTAINER);
  if (proxy === undefined) return;
  spec.containers = containers.filter((container) => container !== proxy);
  spec.initContainers = [
    ...asArray(spec.initContainers),
    { ...proxy, restartPolicy: NATIVE_SIDECARS.restartPolicy },
  ];
  const annotations = pod.metadata.annotations ?? {};
  const status = JSON.parse(annotations['sidecar.istio.io/status'] ?? '{}') as {
    initContainers?: string[];
    containers?: string[] | null;
  };
  status.initContainers = [...(status.initContainers ?? []), PROXY_CONTAINER];
  status.containers = null;
  annotations['sidecar.istio.io/status'] = JSON.stringify(status);
  pod.metadata.annotations = annotations;
}

/** Whether a pod (as stored) carries an injected Istio sidecar. */
export function hasSidecar(pod: KubeObject): boolean {
  return hasProxy(pod) && pod.metadata.annotations?.['sidecar.istio.io/status'] !== undefined;
}
