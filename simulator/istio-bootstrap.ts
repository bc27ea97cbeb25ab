/**
 * What `istioctl install -y -f <our overlay>` leaves in a cluster, as plain objects: the
 * simulated provider creates them in the store directly, the stand-in `istioctl`
 * applies the same list over HTTPS so that it goes through the API server like the
 * real CLI.
 */
import YAML from 'yaml';
import {
  ISTIO_CONTROL_PLANE,
  injectorWebhookName,
  istiodAddress,
  istiodName,
  meshConfigMapName,
  ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT,
  WORKLOAD_IDENTITY,
} from '../harness/facts/istio-install.ts';
import { INJECTION } from '../harness/facts/injection.ts';
import { GATEWAY_PDB } from '../harness/facts/upgrade.ts';
import { ISTIO_DEFAULT_VERSION } from '../harness/versions.ts';
// ApiError from its own module: the stand-in istioctl renders installs without the store.
import { ApiError } from './store/errors.ts';
import type { ObjectStore } from './store.ts';
import type { KubeObject } from './types.ts';

/** The parts of the IstioOperator overlay the simulation honours. */
export interface IstioInstallOptions {
  version?: string;
  /** Image registry and path, as `global.hub`. */
  hub?: string;
  accessLogEncoding?: 'TEXT' | 'JSON';
  /** `meshConfig.accessLogFile`; empty leaves it out (Istio's default profile does). */
  accessLogFile?: string;
  /**
   * `meshConfig.accessLogFormat`, as an overlay may set it: a custom TEXT format, or the
   * JSON keys with `accessLogEncoding: JSON`. Absent: Istio's default format.
   */
  accessLogFormat?: string;
  /** Adds `cluster.outbound` to `proxyStatsMatcher.inclusionPrefixes`. */
  outboundStatsIncluded?: boolean;
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** `revision` of the IstioOperator: `default` (or empty) installs the default revision. */
  revision?: string;
  /** The egress gateway's namespace (`components.egressGateways[].namespace`). */
  gatewayNamespace?: string;
  /** `components.egressGateways[].k8s.replicaCount`. */
  gatewayReplicas?: number;
  /**
   * Whether the egress chart renders the gateway's PodDisruptionBudget (GATEWAY_PDB,
   * `egressChartRendersPdb` of the overlay's values). Unless told: when there is more than one
   * replica, as the harness's overlay asks for then.
   */
  gatewayDisruptionBudget?: boolean;
}

/** Defaults of `IstioInstallOptions`. */
export const ISTIO_INSTALL_DEFAULTS = {
  version: ISTIO_DEFAULT_VERSION,
  hub: 'docker.io/istio',
  accessLogEncoding: 'TEXT',
  accessLogFile: '/dev/stdout',
  accessLogFormat: '',
  outboundStatsIncluded: true,
  outboundTrafficPolicy: 'ALLOW_ANY',
  revision: INJECTION.defaultRevision,
  gatewayNamespace: ISTIO_CONTROL_PLANE.defaultNamespace,
  gatewayReplicas: 1,
  gatewayDisruptionBudget: false,
} as const satisfies Required<IstioInstallOptions>;

const NAMESPACE = ISTIO_CONTROL_PLANE.defaultNamespace;

/** The objects an install creates, in the order to apply them (namespace first). */
export function istioInstallObjects(options: IstioInstallOptions = {}): KubeObject[] {
  const settings = {
    ...ISTIO_INSTALL_DEFAULTS,
    gatewayDisruptionBudget: (options.gatewayReplicas ?? 1) > 1,
    ...options,
  };
  const revision = settings.revision || INJECTION.defaultRevision;
  const isDefault = revision === INJECTION.defaultRevision;
  const gatewayNamespace = settings.gatewayNamespace || NAMESPACE;
  const operatorLabels = {
    'install.operator.istio.io/owning-resource': 'installed-state',
    'istio.io/rev': revision,
    'operator.istio.io/component': '',
  };
  const componentLabels = (component: string): Record<string, string> => ({
    ...operatorLabels,
    'operator.istio.io/component': component,
  });
  const mesh: Record<string, unknown> = {
    ...(settings.accessLogFile ? { accessLogFile: settings.accessLogFile } : {}),
    accessLogEncoding: settings.accessLogEncoding,
    ...(settings.accessLogFormat ? { accessLogFormat: settings.accessLogFormat } : {}),
    defaultConfig: {
      discoveryAddress: istiodAddress(revision, NAMESPACE),
      ...(settings.outboundStatsIncluded
        ? { proxyStatsMatcher: { inclusionPrefixes: ['cluster.outbound'] } }
        : {}),
    },
    defaultProviders: { metrics: ['prometheus'] },
    enablePrometheusMerge: true,
    outboundTrafficPolicy: { mode: settings.outboundTrafficPolicy },
    rootNamespace: NAMESPACE,
    trustDomain: WORKLOAD_IDENTITY.defaultTrustDomain,
  };
  const { podIstioLabel } = ISTIO_CONTROL_PLANE;
  const istiodPodIstio = isDefault ? podIstioLabel.default : podIstioLabel.revision;
  const istiodLabels = { app: 'istiod', istio: 'pilot', 'istio.io/rev': revision };
  // The chart selects the default revision's pods by `istio: pilot`, a revision's by its label.
  const istiodSelector = isDefault
    ? { app: 'istiod', istio: 'pilot' }
    : { app: 'istiod', 'istio.io/rev': revision };
  const istiod = istiodName(revision);
  const gatewayLabels = { app: 'istio-egressgateway', istio: 'egressgateway' };
  // The egress chart adds these only when it is installed in istio-system.
  const gatewayChartLabels =
    gatewayNamespace === NAMESPACE
      ? { chart: 'gateways', heritage: 'Tiller', release: 'istio' }
      : {};
  const proxyImage = `${settings.hub}/proxyv2:${settings.version}`;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
    ...(gatewayNamespace === NAMESPACE
      ? []
      : [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: gatewayNamespace } }]),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: meshConfigMapName(revision),
        namespace: NAMESPACE,
        labels: { ...componentLabels('Pilot'), release: 'istio' },
      },
      data: { mesh: YAML.stringify(mesh), meshNetworks: 'networks: {}\n' },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: istiod,
        namespace: NAMESPACE,
        labels: { app: 'istiod', release: 'istio' },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: istiod,
        namespace: NAMESPACE,
        labels: { ...componentLabels('Pilot'), ...istiodLabels, release: 'istio' },
      },
      spec: {
        replicas: 1,
        selector: {
          matchLabels: isDefault ? { istio: 'pilot' } : { app: 'istiod', 'istio.io/rev': revision },
        },
        template: {
          metadata: {
            labels: {
              ...istiodLabels,
              istio: istiodPodIstio,
              'sidecar.istio.io/inject': 'false',
              'operator.istio.io/component': 'Pilot',
            },
            annotations: {
              'prometheus.io/port': '15014',
              'prometheus.io/scrape': 'true',
              'sidecar.istio.io/inject': 'false',
            },
          },
          spec: {
            serviceAccountName: istiod,
            containers: [
              {
                name: 'discovery',
                image: `${settings.hub}/pilot:${settings.version}`,
                args: [
                  'discovery',
                  '--monitoringAddr=:15014',
                  '--log_output_level=default:info',
                  '--domain',
                  'cluster.local',
                  '--keepaliveMaxServerConnectionAge',
                  '30m',
                ],
                ports: [
                  { containerPort: 8080, name: 'http-debug', protocol: 'TCP' },
                  { containerPort: 15010, name: 'grpc-xds', protocol: 'TCP' },
                  { containerPort: 15012, name: 'tls-xds', protocol: 'TCP' },
                  { containerPort: 15017, name: 'https-webhooks', protocol: 'TCP' },
                  { containerPort: 15014, name: 'http-monitoring', protocol: 'TCP' },
                ],
                readinessProbe: {
                  httpGet: { path: '/ready', port: 8080 },
                  initialDelaySeconds: 1,
                  periodSeconds: 3,
                  timeoutSeconds: 5,
                },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: istiod,
        namespace: NAMESPACE,
        labels: { ...componentLabels('Pilot'), ...istiodLabels, release: 'istio' },
      },
      spec: {
        selector: istiodSelector,
        ports: [
          { name: 'grpc-xds', port: 15010, protocol: 'TCP' },
          { name: 'https-dns', port: 15012, protocol: 'TCP' },
          { name: 'https-webhook', port: 443, targetPort: 15017, protocol: 'TCP' },
          { name: 'http-monitoring', port: 15014, protocol: 'TCP' },
        ],
      },
    },
    injectorWebhook(revision, istiod),
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT,
        namespace: gatewayNamespace,
        labels: { ...gatewayLabels, release: 'istio' },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'istio-egressgateway',
        namespace: gatewayNamespace,
        labels: { ...componentLabels('EgressGateways'), ...gatewayLabels, release: 'istio' },
      },
      spec: {
        replicas: settings.gatewayReplicas,
        selector: { matchLabels: gatewayLabels },
        template: {
          metadata: {
            labels: {
              ...gatewayLabels,
              ...gatewayChartLabels,
              'istio.io/rev': revision,
              'install.operator.istio.io/owning-resource': 'unknown',
              'operator.istio.io/component': 'EgressGateways',
              'service.istio.io/canonical-name': 'istio-egressgateway',
              'service.istio.io/canonical-revision': 'latest',
              'sidecar.istio.io/inject': 'false',
            },
            annotations: {
              'istio.io/rev': revision,
              'prometheus.io/path': '/stats/prometheus',
              'prometheus.io/port': '15020',
              'prometheus.io/scrape': 'true',
              'sidecar.istio.io/inject': 'false',
            },
          },
          spec: {
            serviceAccountName: ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT,
            containers: [
              {
                name: 'istio-proxy',
                image: proxyImage,
                args: [
                  'proxy',
                  'router',
                  '--domain',
                  '$(POD_NAMESPACE).svc.cluster.local',
                  '--proxyLogLevel=warning',
                  '--proxyComponentLogLevel=misc:error',
                  '--log_output_level=default:info',
                ],
                env: [{ name: 'CA_ADDR', value: istiodAddress(revision, NAMESPACE) }],
                ports: [
                  { containerPort: 8080, protocol: 'TCP' },
                  { containerPort: 8443, protocol: 'TCP' },
                  { containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' },
                ],
                readinessProbe: {
                  httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' },
                  failureThreshold: 30,
                  periodSeconds: 2,
                  timeoutSeconds: 1,
                },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'istio-egressgateway',
        namespace: gatewayNamespace,
        labels: { ...componentLabels('EgressGateways'), ...gatewayLabels, release: 'istio' },
      },
      spec: {
        type: 'ClusterIP',
        selector: gatewayLabels,
        ports: [
          { name: 'http2', port: 80, protocol: 'TCP', targetPort: 8080 },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
        ],
      },
    },
    ...(settings.gatewayDisruptionBudget
      ? [
          {
            apiVersion: 'policy/v1',
            kind: 'PodDisruptionBudget',
            metadata: {
              name: 'istio-egressgateway',
              namespace: gatewayNamespace,
              labels: {
                ...gatewayLabels,
                release: 'istio',
                'istio.io/rev': revision,
                'install.operator.istio.io/owning-resource': 'unknown',
                'operator.istio.io/component': 'EgressGateways',
                'app.kubernetes.io/name': 'istio-egressgateway',
              },
            },
            spec: {
              minAvailable: GATEWAY_PDB.minAvailable,
              selector: { matchLabels: gatewayLabels },
            },
          },
        ]
      : []),
  ];
}

/**
 * The injector's MutatingWebhookConfiguration of one revision, with the webhooks
 * `mutatingwebhook.yaml` renders: `rev.namespace.`/`rev.object.` for the revision label, and
 * for the default revision also `namespace.`/`object.` for `istio-injection` and
 * `sidecar.istio.io/inject` (see INJECTION and ISTIO_CONTROL_PLANE). The simulated injector
 * finds the revisions that inject, and their istiod, from these objects.
 */
function injectorWebhook(revision: string, istiod: string): KubeObject {
  const isDefault = revision === INJECTION.defaultRevision;
  const { injectorWebhook: webhook } = ISTIO_CONTROL_PLANE;
  const core = (prefix: string) => ({
    name: `${prefix}sidecar-injector.istio.io`,
    clientConfig: {
      service: { name: istiod, namespace: NAMESPACE, path: '/inject', port: webhook.servicePort },
    },
    sideEffects: 'None',
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    failurePolicy: 'Fail',
    reinvocationPolicy: 'Never',
    admissionReviewVersions: ['v1'],
  });
  const notDisabled = {
    matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }],
  };
  const exists = (key: string, present: boolean) => ({
    key,
    operator: present ? 'Exists' : 'DoesNotExist',
  });
  const webhooks = [
    {
      ...core('rev.namespace.'),
      namespaceSelector: {
        matchExpressions: [
          { key: INJECTION.revisionLabel, operator: 'In', values: [revision] },
          exists(INJECTION.namespaceLabel, false),
        ],
      },
      objectSelector: notDisabled,
    },
    {
      ...core('rev.object.'),
      namespaceSelector: {
        matchExpressions: [
          exists(INJECTION.revisionLabel, false),
          exists(INJECTION.namespaceLabel, false),
        ],
      },
      objectSelector: {
        matchExpressions: [
          ...notDisabled.matchExpressions,
          { key: INJECTION.revisionLabel, operator: 'In', values: [revision] },
        ],
      },
    },
    ...(isDefault
      ? [
          {
            ...core('namespace.'),
            namespaceSelector: {
              matchExpressions: [
                { key: INJECTION.namespaceLabel, operator: 'In', values: [INJECTION.enabled] },
              ],
            },
            objectSelector: notDisabled,
          },
          {
            ...core('object.'),
            namespaceSelector: {
              matchExpressions: [
                exists(INJECTION.namespaceLabel, false),
                exists(INJECTION.revisionLabel, false),
              ],
            },
            objectSelector: {
              matchExpressions: [
                { key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] },
                exists(INJECTION.revisionLabel, false),
              ],
            },
          },
        ]
      : []),
  ];
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: injectorWebhookName(revision, NAMESPACE),
      labels: {
        [webhook.appLabel.key]: webhook.appLabel.value,
        'istio.io/rev': revision,
        'install.operator.istio.io/owning-resource': 'installed-state',
        'operator.istio.io/component': 'Pilot',
        release: 'istio',
        'app.kubernetes.io/name': 'istiod',
      },
    },
    webhooks,
  };
}

/** Creates the install in `store`; objects that already exist are replaced, as a re-install does. */
export function bootstrapIstio(
  store: ObjectStore,
  options: IstioInstallOptions = {},
): KubeObject[] {
  return istioInstallObjects(options).map((object) => {
    try {
      return store.create(object);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 409)) throw error;
      const existing = store.get(object.kind, object.metadata.namespace, object.metadata.name);
      return store.update({
        ...object,
        metadata: { ...object.metadata, resourceVersion: existing?.metadata.resourceVersion },
        ...(existing?.status === undefined ? {} : { status: existing.status }),
      });
    }
  });
}
