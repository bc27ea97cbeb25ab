import { describe, expect, it } from 'vitest';
import { parseAccessLogLine } from '../envoy/access-log.ts';
import { EnvironmentError } from '../errors.ts';
import {
  ENVOY_DEFAULT_ACCESS_LOG_FORMAT,
  ISTIO_JSON_ACCESS_LOG_LABELS,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
} from '../facts.ts';
import {
  type AccessLogFormatSpec,
  type TelemetryResource,
  UnreadableAccessLogError,
  assessAccessLogs,
  readMeshAccessLogConfig,
  resolveAccessLogs,
  unreadableAccessLogError,
  unreadableReason,
} from './access-log-settings.ts';

const GATEWAY = {
  namespace: 'istio-system',
  labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
};
const CUSTOM_TEXT = '%START_TIME% %REQ(:METHOD)% %RESPONSE_CODE%';

let created = 0;
function telemetry(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  creationTimestamp?: string,
): TelemetryResource {
  created += 1;
  return {
    metadata: {
      name,
      namespace,
      creationTimestamp:
        creationTimestamp ?? new Date(Date.UTC(2026, 0, 1, 0, 0, created)).toISOString(),
    },
    spec,
  };
}

function plan(
  mesh: Record<string, unknown>,
  telemetries: TelemetryResource[] = [],
  proxy: { namespace: string; labels: Record<string, string> } = GATEWAY,
) {
  return resolveAccessLogs(readMeshAccessLogConfig(mesh), telemetries, proxy);
}

/** `path (encoding)` of each logger, for compact expectations. */
function loggers(result: ReturnType<typeof plan>): string[] {
  return result.outputs.map(
    (o) =>
      `${o.provider ?? 'mesh'} ${o.path} ${o.format.encoding}${unreadableReason(o.format) ? ' unreadable' : ''}`,
  );
}

const text = (format: string, omitEmptyValues = false): AccessLogFormatSpec => ({
  encoding: 'TEXT',
  text: format,
  omitEmptyValues,
});
const json = (labels: Record<string, unknown>, omitEmptyValues = false): AccessLogFormatSpec => ({
  encoding: 'JSON',
  labels,
  omitEmptyValues,
});

describe('readMeshAccessLogConfig', () => {
  it("applies Istio's defaults: root namespace istio-system and the built-in envoy provider to /dev/stdout", () => {
    expect(readMeshAccessLogConfig({})).toEqual({
      accessLogFile: '',
      accessLogEncoding: 'TEXT',
      accessLogFormat: '',
      rootNamespace: 'istio-system',
      defaultProviders: [],
      providers: [{ name: 'envoy', file: { path: '/dev/stdout', omitEmptyValues: false } }],
    });
  });

  it('merges extension providers by name onto the built-in ones and reads proto field names too', () => {
    const config = readMeshAccessLogConfig({
      root_namespace: 'istio-config',
      default_providers: { access_logging: ['envoy'] },
      extensionProviders: [
        {
          name: 'envoy',
          envoy_file_access_log: { path: '/dev/stderr', log_format: { text: 'x' } },
        },
        { name: 'otel', envoyOtelAls: { service: 'otel.observability.svc', port: 4317 } },
      ],
    });
    expect(config.rootNamespace).toBe('istio-config');
    expect(config.defaultProviders).toEqual(['envoy']);
    expect(config.providers).toEqual([
      {
        name: 'envoy',
        file: { path: '/dev/stderr', logFormat: { text: 'x' }, omitEmptyValues: false },
      },
      { name: 'otel', remoteLogger: true },
    ]);
  });
});

describe('resolveAccessLogs: the mesh config alone (no Telemetry, no default providers)', () => {
  it('accessLogFile turns the file logger on, in the mesh encoding', () => {
    expect(loggers(plan({ accessLogFile: '/dev/stdout' }))).toEqual(['mesh /dev/stdout TEXT']);
    expect(loggers(plan({ accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON' }))).toEqual([
      'mesh /dev/stdout JSON',
    ]);
    expect(plan({}).outputs).toEqual([]);
  });

  it('meshConfig.accessLogFormat replaces the TEXT format and shapes JSON; an unparseable JSON format keeps the default keys', () => {
    const [custom] = plan({ accessLogFile: '/dev/stdout', accessLogFormat: CUSTOM_TEXT }).outputs;
    expect(custom).toMatchObject({
      format: { encoding: 'TEXT', text: `${CUSTOM_TEXT}\n` },
      formatSetting: 'meshConfig.accessLogFormat',
      enabledBy: 'meshConfig.accessLogFile',
      fromTelemetryResource: false,
    });
    const [shaped] = plan({
      accessLogFile: '/dev/stdout',
      accessLogEncoding: 'JSON',
      accessLogFormat: '{"status": "%RESPONSE_CODE%"}',
    }).outputs;
    expect(shaped?.format).toEqual(json({ status: '%RESPONSE_CODE%' }));
    const [broken] = plan({
      accessLogFile: '/dev/stdout',
      accessLogEncoding: 'JSON',
      accessLogFormat: 'status: %RESPONSE_CODE%',
    }).outputs;
    expect(broken?.format).toEqual(json({ ...ISTIO_JSON_ACCESS_LOG_LABELS }));
  });
});

describe('resolveAccessLogs: the Telemetry API', () => {
  it('a root-namespace Telemetry naming the built-in provider turns logs on without accessLogFile, in the mesh format', () => {
    const result = plan({ accessLogEncoding: 'JSON' }, [
      telemetry('istio-system', 'mesh-default', {
        accessLogging: [{ providers: [{ name: 'envoy' }] }],
      }),
    ]);
    expect(result.via).toBe('telemetry');
    expect(result.telemetries).toEqual(['istio-system/mesh-default']);
    expect(loggers(result)).toEqual(['envoy /dev/stdout JSON']);
    expect(result.outputs[0]).toMatchObject({
      enabledBy: 'Telemetry istio-system/mesh-default',
      fromTelemetryResource: true,
    });
  });

  it('meshConfig.defaultProviders.accessLogging alone turns logs on', () => {
    const result = plan({ defaultProviders: { accessLogging: ['envoy'] } });
    expect(loggers(result)).toEqual(['envoy /dev/stdout TEXT']);
    expect(result.outputs[0]?.enabledBy).toBe('meshConfig.defaultProviders.accessLogging');
  });

  it('falls back to accessLogFile when no provider the Telemetry names is a logger (unknown, metrics)', () => {
    const result = plan({ accessLogFile: '/dev/stdout' }, [
      telemetry('istio-system', 'odd', {
        accessLogging: [{ providers: [{ name: 'missing' }, { name: 'prometheus' }] }],
      }),
    ]);
    expect(result.via).toBe('meshConfig');
    expect(loggers(result)).toEqual(['mesh /dev/stdout TEXT']);
  });

  it('once a Telemetry gives the gateway a logger (here OpenTelemetry), accessLogFile no longer adds one', () => {
    const result = plan(
      {
        accessLogFile: '/dev/stdout',
        extensionProviders: [{ name: 'otel', envoyOtelAls: { service: 'otel', port: 4317 } }],
      },
      [
        telemetry('istio-system', 'otel-only', {
          accessLogging: [{ providers: [{ name: 'otel' }] }],
        }),
      ],
    );
    expect(result.via).toBe('telemetry');
    expect(result.outputs).toEqual([]);
  });

  it("a provider's own logFormat wins over the mesh format; text, labels, an empty text and an empty logFormat", () => {
    const result = plan(
      {
        accessLogFormat: CUSTOM_TEXT,
        extensionProviders: [
          {
            name: 'a-text',
            envoyFileAccessLog: { path: '/dev/stdout', logFormat: { text: CUSTOM_TEXT } },
          },
          {
            name: 'b-labels',
            envoyFileAccessLog: { logFormat: { labels: { code: '%RESPONSE_CODE%' } } },
          },
          { name: 'c-empty-text', envoyFileAccessLog: { logFormat: { text: '' } } },
          { name: 'd-empty-labels', envoyFileAccessLog: { logFormat: { labels: {} } } },
          { name: 'e-empty', envoyFileAccessLog: { logFormat: {} } },
          { name: 'f-none', envoyFileAccessLog: { path: '/var/log/envoy.log' } },
        ],
      },
      [
        telemetry('istio-system', 'all', {
          accessLogging: [
            {
              providers: [
                'a-text',
                'b-labels',
                'c-empty-text',
                'd-empty-labels',
                'e-empty',
                'f-none',
              ].map((name) => ({ name })),
            },
          ],
        }),
      ],
    );
    const byName = new Map(result.outputs.map((o) => [o.provider ?? '', o]));
    expect(byName.get('a-text')?.format).toEqual(text(`${CUSTOM_TEXT}\n`));
    expect(byName.get('b-labels')?.format).toEqual(json({ code: '%RESPONSE_CODE%' }));
    expect(byName.get('c-empty-text')?.format).toEqual(text(ISTIO_TEXT_ACCESS_LOG_FORMAT));
    expect(byName.get('d-empty-labels')?.format).toEqual(json({ ...ISTIO_JSON_ACCESS_LOG_LABELS }));
    expect(byName.get('e-empty')?.format).toEqual(text(ENVOY_DEFAULT_ACCESS_LOG_FORMAT));
    // No logFormat: Istio's default TEXT format (not the mesh's custom one), path as given.
    expect(byName.get('f-none')).toMatchObject({
      path: '/var/log/envoy.log',
      format: text(ISTIO_TEXT_ACCESS_LOG_FORMAT),
    });
    expect(byName.get('b-labels')?.path).toBe('/dev/stdout');
  });

  it('the built-in provider follows meshConfig.accessLogFormat unless it has its own logFormat or omitEmptyValues', () => {
    const follows = plan({
      accessLogFormat: CUSTOM_TEXT,
      defaultProviders: { accessLogging: ['envoy'] },
    });
    expect(follows.outputs[0]).toMatchObject({
      format: text(`${CUSTOM_TEXT}\n`),
      formatOrigin: 'meshConfig',
    });
    const omits = plan({
      accessLogFormat: CUSTOM_TEXT,
      defaultProviders: { accessLogging: ['envoy'] },
      extensionProviders: [
        { name: 'envoy', envoyFileAccessLog: { path: '/dev/stdout', omitEmptyValues: true } },
      ],
    });
    expect(omits.outputs[0]).toMatchObject({
      format: text(ISTIO_TEXT_ACCESS_LOG_FORMAT, true),
      formatOrigin: 'providerOmitEmptyValues',
    });
  });

  it('finds providers by name regardless of case, and skips names the mesh config does not define', () => {
    const result = plan({}, [
      telemetry('istio-system', 'mesh', {
        accessLogging: [{ providers: [{ name: 'Envoy' }, { name: 'missing' }] }],
      }),
    ]);
    expect(loggers(result)).toEqual(['envoy /dev/stdout TEXT']);
  });

  it('uses only the oldest namespace-wide Telemetry of a namespace, as istiod does', () => {
    const result = plan({}, [
      telemetry(
        'istio-system',
        'zz-newer',
        { accessLogging: [{ providers: [{ name: 'envoy' }] }] },
        '2026-02-01T00:00:00Z',
      ),
      telemetry('istio-system', 'aa-older-metrics-only', { metrics: [] }, '2026-01-01T00:00:00Z'),
    ]);
    expect(result.outputs).toEqual([]);
  });

  it("merges root, namespace and workload levels: the gateway's namespace can turn the root's logging off, a selector can turn it back on", () => {
    const root = telemetry('istio-system', 'mesh', {
      accessLogging: [{ providers: [{ name: 'envoy' }] }],
    });
    const gatewayNamespace = { namespace: 'istio-egress', labels: GATEWAY.labels };
    const off = telemetry('istio-egress', 'quiet', { accessLogging: [{ disabled: true }] });
    expect(plan({}, [root], gatewayNamespace).outputs).toHaveLength(1);
    expect(plan({}, [root, off], gatewayNamespace).outputs).toEqual([]);
    const on = telemetry('istio-egress', 'gateway-on', {
      selector: { matchLabels: { istio: 'egressgateway' } },
      accessLogging: [{ providers: [{ name: 'envoy' }] }],
    });
    expect(loggers(plan({}, [root, off, on], gatewayNamespace))).toEqual([
      'envoy /dev/stdout TEXT',
    ]);
  });

  it('ignores Telemetry in other namespaces, selectors that do not match, SERVER-only entries and targetRefs on a classic gateway', () => {
    const enable = { accessLogging: [{ providers: [{ name: 'envoy' }] }] };
    const result = plan({}, [
      telemetry('bookinfo', 'ns', enable),
      telemetry('istio-system', 'ingress-only', {
        selector: { matchLabels: { istio: 'ingressgateway' } },
        ...enable,
      }),
      telemetry('istio-system', 'server-side', {
        selector: { matchLabels: { istio: 'egressgateway' } },
        accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' } }],
      }),
      telemetry('istio-system', 'by-ref', {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'egress' }],
        ...enable,
      }),
    ]);
    expect(result.outputs).toEqual([]);
  });

  it('attaches a targetRef Telemetry to a Gateway API gateway of that name', () => {
    const proxy = {
      namespace: 'egress',
      labels: { 'gateway.networking.k8s.io/gateway-name': 'egress' },
    };
    const result = plan(
      {},
      [
        telemetry('egress', 'by-ref', {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'egress' }],
          accessLogging: [{ providers: [{ name: 'envoy' }] }],
        }),
      ],
      proxy,
    );
    expect(loggers(result)).toEqual(['envoy /dev/stdout TEXT']);
  });

  it('an entry without providers means the default providers', () => {
    const result = plan({ defaultProviders: { accessLogging: ['envoy'] } }, [
      telemetry('istio-system', 'mesh', {
        accessLogging: [{ filter: { expression: 'response.code >= 400' } }],
      }),
    ]);
    expect(result.outputs).toMatchObject([{ provider: 'envoy' }]);
  });
});

describe('unreadableReason: what harness/envoy/access-log.ts can parse', () => {
  it("reads Istio's default TEXT format, with or without its newline and with either upstream-cluster operator", () => {
    expect(unreadableReason(text(ISTIO_TEXT_ACCESS_LOG_FORMAT))).toBeUndefined();
    expect(unreadableReason(text(ISTIO_TEXT_ACCESS_LOG_FORMAT.trimEnd()))).toBeUndefined();
    expect(
      unreadableReason(
        text(ISTIO_TEXT_ACCESS_LOG_FORMAT.replace('%UPSTREAM_CLUSTER_RAW%', '%UPSTREAM_CLUSTER%')),
      ),
    ).toBeUndefined();
  });

  it("rejects custom TEXT formats, Envoy's own default, and omitEmptyValues", () => {
    expect(unreadableReason(text(CUSTOM_TEXT))).toBe('a custom TEXT format');
    expect(unreadableReason(text(ENVOY_DEFAULT_ACCESS_LOG_FORMAT))).toMatch(
      /^Envoy's own default TEXT format/,
    );
    expect(unreadableReason(text(ISTIO_TEXT_ACCESS_LOG_FORMAT, true))).toMatch(/^omitEmptyValues/);
  });

  it("reads JSON with Istio's keys (extra keys and omitEmptyValues are fine), not JSON without them", () => {
    expect(unreadableReason(json({ ...ISTIO_JSON_ACCESS_LOG_LABELS }))).toBeUndefined();
    expect(
      unreadableReason(
        json({ ...ISTIO_JSON_ACCESS_LOG_LABELS, trace_id: '%REQ(TRACEPARENT)%' }, true),
      ),
    ).toBeUndefined();
    const { upstream_cluster: _dropped, ...withoutCluster } = ISTIO_JSON_ACCESS_LOG_LABELS;
    expect(unreadableReason(json(withoutCluster))).toBe(
      "a custom JSON format (Istio's key upstream_cluster missing or changed)",
    );
  });

  it('agrees with the parser on a line in the default format (the fact and the parser match)', () => {
    const line =
      '[2024-01-01T15:47:08.221Z] "- - -" 0 - - - "-" 791 2502541 267 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 10.42.0.25:43706 10.42.0.25:8443 10.42.0.21:53416 edition.cnn.com -';
    expect(parseAccessLogLine(line)?.upstreamCluster).toBe('outbound|443||edition.cnn.com');
  });
});

describe('unreadableAccessLogError', () => {
  const error = (mesh: Record<string, unknown>, telemetries: TelemetryResource[] = []) => {
    const config = readMeshAccessLogConfig(mesh);
    return unreadableAccessLogError(
      assessAccessLogs(resolveAccessLogs(config, telemetries, GATEWAY)),
      {
        mesh: config,
        meshConfigMap: 'istio-system/istio',
      },
    );
  };

  it('is one sentence naming meshConfig.accessLogFormat, its ConfigMap and the fix', () => {
    const failure = error({ accessLogFile: '/dev/stdout', accessLogFormat: CUSTOM_TEXT });
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect(failure?.fromTelemetryResource).toBe(false);
    expect(failure?.message).toMatch(
      /^The egress gateway's access log uses a custom TEXT format from meshConfig\.accessLogFormat \(ConfigMap istio-system\/istio\), which the harness cannot parse, so every gateway check would report that traffic bypassed the gateway; remove meshConfig\.accessLogFormat for the run, or add an envoyFileAccessLog provider to \/dev\/stdout without logFormat \(Istio's default format\) and enable it/,
    );
    expect(failure?.message.match(/\.(\s|$)/g)).toHaveLength(1);
  });

  it('names the provider and the Telemetry that enabled it, and suggests the built-in provider when its format is readable', () => {
    const failure = error(
      {
        extensionProviders: [
          {
            name: 'platform-json',
            envoyFileAccessLog: { logFormat: { labels: { code: '%RESPONSE_CODE%' } } },
          },
        ],
      },
      [
        telemetry('istio-system', 'mesh-default', {
          accessLogging: [{ providers: [{ name: 'platform-json' }] }],
        }),
      ],
    );
    expect(failure).toBeInstanceOf(UnreadableAccessLogError);
    expect(failure?.fromTelemetryResource).toBe(true);
    expect(failure?.message).toContain(
      'from the logFormat of extension provider "platform-json" (meshConfig.extensionProviders), enabled by Telemetry istio-system/mesh-default,',
    );
    expect(failure?.message).toMatch(
      /; remove the logFormat of provider "platform-json" for the run, or add the built-in "envoy" provider beside it in the accessLogging providers of Telemetry istio-system\/mesh-default\.$/,
    );
  });

  it('is undefined when one readable logger reaches the container log, or none does', () => {
    expect(
      error({
        extensionProviders: [
          { name: 'custom', envoyFileAccessLog: { logFormat: { text: CUSTOM_TEXT } } },
        ],
        defaultProviders: { accessLogging: ['custom', 'envoy'] },
      }),
    ).toBeUndefined();
    expect(
      error({ accessLogFile: '/var/log/access.log', accessLogFormat: CUSTOM_TEXT }),
    ).toBeUndefined();
    expect(error({})).toBeUndefined();
  });

  it('lists every unreadable logger when there are several', () => {
    const failure = error({
      accessLogFormat: CUSTOM_TEXT,
      extensionProviders: [{ name: 'quiet', envoyFileAccessLog: { omitEmptyValues: true } }],
      defaultProviders: { accessLogging: ['envoy', 'quiet'] },
    });
    expect(failure?.message).toMatch(
      /^The egress gateway's access logs all use formats the harness cannot parse \(/,
    );
    expect(failure?.message).toContain(
      'meshConfig.accessLogFormat (ConfigMap istio-system/istio), which the built-in "envoy" provider follows',
    );
    expect(failure?.message).toContain(
      'omitEmptyValues (empty TEXT fields print as nothing instead of "-") from extension provider "quiet"',
    );
  });
});
