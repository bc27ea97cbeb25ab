/**
 * Which access loggers Istio gives the egress gateway, in which format, and whether the
 * harness can read what they write. Istio decides this from the mesh config
 * (`accessLogFile`, `accessLogEncoding`, `accessLogFormat`, `extensionProviders`,
 * `defaultProviders.accessLogging`) and from Telemetry resources; the rules, with their
 * upstream sources, are {@link ISTIO_ACCESS_LOGGING} in `harness/facts.ts`. The simulated
 * cluster resolves its proxies' loggers with these same functions, so a custom format there
 * produces the same unparseable lines a real gateway would.
 *
 * Everything here works on plain objects (parsed mesh-config YAML, Telemetry objects as
 * the API returns them): no I/O.
 */
import {
  ENVOY_DEFAULT_ACCESS_LOG_FORMAT,
  ISTIO_ACCESS_LOGGING,
  ISTIO_JSON_ACCESS_LOG_LABELS,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
} from '../facts.ts';

export {
  assessAccessLogs,
  describeAccessLogs,
  reachesContainerLog,
  unreadableAccessLogError,
  UnreadableAccessLogError,
  unreadableReason,
  type AccessLogAssessment,
} from './access-log-readability.ts';

/** The format one file access logger writes. TEXT strings end with Istio's newline. */
export type AccessLogFormatSpec =
  | { encoding: 'TEXT'; text: string; omitEmptyValues: boolean }
  | { encoding: 'JSON'; labels: Readonly<Record<string, unknown>>; omitEmptyValues: boolean };

/** One `meshConfig.extensionProviders` entry, reduced to what access logging needs. */
export interface AccessLogProvider {
  name: string;
  /**
   * True for the gRPC access-log services and OpenTelemetry: they log, but to a collector,
   * not to a file. Providers of other kinds (metrics, tracing, ext-authz) are no loggers.
   */
  remoteLogger?: boolean;
  /** Set for `envoyFileAccessLog` providers. */
  file?: {
    path: string;
    /** Absent: no `logFormat`. Present but empty (`{}`): neither `text` nor `labels`. */
    logFormat?: { text?: string; labels?: Record<string, unknown> };
    omitEmptyValues: boolean;
  };
}

/** The access-logging part of a mesh config, Istio's defaults applied. */
export interface MeshAccessLogConfig {
  accessLogFile: string;
  accessLogEncoding: 'TEXT' | 'JSON';
  accessLogFormat: string;
  rootNamespace: string;
  /** `defaultProviders.accessLogging`. */
  defaultProviders: string[];
  /** `extensionProviders`, merged by name onto Istio's built-in ones. */
  providers: AccessLogProvider[];
}

/** A Telemetry resource as the API returns it (only what access logging reads). */
export interface TelemetryResource {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: string | Date };
  spec?: unknown;
}

/** The proxy whose loggers are resolved: its namespace and pod labels. */
export interface ProxyIdentity {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/** One logger Istio configures on the proxy. */
export interface AccessLogOutput {
  path: string;
  format: AccessLogFormatSpec;
  /** The setting that decides the format, as messages name it. */
  formatSetting: string;
  /**
   * Where the format comes from: the mesh config's `accessLogEncoding`/`accessLogFormat`,
   * a provider's `logFormat`, a provider's `omitEmptyValues` over the default format, or
   * Istio's default format.
   */
  formatOrigin: 'meshConfig' | 'providerLogFormat' | 'providerOmitEmptyValues' | 'default';
  /** What turned this logger on, as messages name it. */
  enabledBy: string;
  /** The extension provider, when the Telemetry API configured the logger. */
  provider?: string;
  /** A CEL filter from Telemetry: some entries may not be logged. */
  filter?: string;
  /** Whether a Telemetry resource (which `istioctl install` leaves alone) chose this logger. */
  fromTelemetryResource: boolean;
}

/** Every logger of a proxy, and which mechanism configured them. */
export interface AccessLogPlan {
  /** `meshConfig`: no Telemetry applies, `accessLogFile` decides; else the Telemetry API's providers. */
  via: 'meshConfig' | 'telemetry';
  outputs: AccessLogOutput[];
  /** The Telemetry resources with access logging that apply, in the order Istio merges them. */
  telemetries: string[];
}

// ---------------------------------------------------------------------------------------
// Mesh config

/** Reads the access-logging fields of a parsed mesh config (camelCase or proto names). */
export function readMeshAccessLogConfig(mesh: unknown): MeshAccessLogConfig {
  const config = record(mesh);
  const encoding = text(pick(config, 'accessLogEncoding', 'access_log_encoding'));
  const defaults = record(pick(config, 'defaultProviders', 'default_providers'));
  return {
    accessLogFile: text(pick(config, 'accessLogFile', 'access_log_file')) ?? '',
    accessLogEncoding: encoding === 'JSON' ? 'JSON' : 'TEXT',
    accessLogFormat: text(pick(config, 'accessLogFormat', 'access_log_format')) ?? '',
    rootNamespace:
      text(pick(config, 'rootNamespace', 'root_namespace')) ||
      ISTIO_ACCESS_LOGGING.rootNamespaceDefault,
    defaultProviders: strings(pick(defaults, 'accessLogging', 'access_logging')),
    providers: mergeProviders(list(pick(config, 'extensionProviders', 'extension_providers'))),
  };
}

/** Istio's built-in providers, overridden by name by the mesh config's (as `ApplyMeshConfig` does). */
function mergeProviders(entries: unknown[]): AccessLogProvider[] {
  const providers: AccessLogProvider[] = [
    {
      name: ISTIO_ACCESS_LOGGING.builtinProvider,
      file: { path: ISTIO_ACCESS_LOGGING.builtinProviderPath, omitEmptyValues: false },
    },
  ];
  for (const entry of entries.map(record)) {
    const name = text(entry.name);
    if (!name) continue;
    const provider = readProvider(name, entry);
    const index = providers.findIndex((p) => p.name === name);
    if (index >= 0) providers[index] = provider;
    else providers.push(provider);
  }
  return providers;
}

function readProvider(name: string, entry: Record<string, unknown>): AccessLogProvider {
  const fileEntry = pick(entry, 'envoyFileAccessLog', 'envoy_file_access_log');
  if (fileEntry === undefined) {
    const remote = [
      ['envoyHttpAls', 'envoy_http_als'],
      ['envoyTcpAls', 'envoy_tcp_als'],
      ['envoyOtelAls', 'envoy_otel_als'],
    ].some((keys) => pick(entry, ...keys) !== undefined);
    return remote ? { name, remoteLogger: true } : { name };
  }
  const file = record(fileEntry);
  const rawFormat = pick(file, 'logFormat', 'log_format');
  let logFormat: { text?: string; labels?: Record<string, unknown> } | undefined;
  if (rawFormat !== undefined && rawFormat !== null) {
    const format = record(rawFormat);
    const formatText = pick(format, 'text');
    const labels = pick(format, 'labels');
    logFormat = {
      ...(typeof formatText === 'string' ? { text: formatText } : {}),
      ...(labels !== undefined && labels !== null ? { labels: record(labels) } : {}),
    };
  }
  return {
    name,
    file: {
      path: text(file.path) ?? '',
      ...(logFormat ? { logFormat } : {}),
      omitEmptyValues: pick(file, 'omitEmptyValues', 'omit_empty_values') === true,
    },
  };
}

// ---------------------------------------------------------------------------------------
// Resolution (telemetry.go `applicableTelemetries`, `mergeLogs`; telemetry_logging.go)

interface LoggingEntry {
  providers: string[];
  disabled: boolean;
  mode: string | undefined;
  filter: string | undefined;
}

interface AppliedTelemetry {
  name: string;
  entries: LoggingEntry[];
}

/** The loggers Istio configures on `proxy` (its gateway listeners, which count as CLIENT). */
export function resolveAccessLogs(
  mesh: MeshAccessLogConfig,
  telemetries: readonly TelemetryResource[],
  proxy: ProxyIdentity,
): AccessLogPlan {
  const applied = applicableTelemetries(mesh.rootNamespace, telemetries, proxy);
  const legacy = (): AccessLogPlan => ({
    via: 'meshConfig',
    outputs:
      mesh.accessLogFile === ''
        ? []
        : [
            {
              path: mesh.accessLogFile,
              ...meshOutputFormat(mesh),
              enabledBy: 'meshConfig.accessLogFile',
              fromTelemetryResource: false,
            },
          ],
    telemetries: [],
  });
  if (applied.length === 0 && mesh.defaultProviders.length === 0) return legacy();

  // `Telemetries.AccessLogging` keeps one config per merged provider that exists and logs
  // (disabled ones included); when none is left, accesslog.go falls back to the mesh config.
  const loggers = [...mergeLogs(applied, mesh.defaultProviders)]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, spec]) => ({
      spec,
      provider: mesh.providers.find((p) => p.name.toLowerCase() === name.toLowerCase()),
    }))
    .filter(({ provider }) => provider?.file !== undefined || provider?.remoteLogger === true);
  if (loggers.length === 0) return legacy();

  const outputs: AccessLogOutput[] = [];
  for (const { spec, provider } of loggers) {
    if (spec.disabled || !provider?.file) continue;
    outputs.push({
      ...providerOutput(mesh, provider, provider.file),
      enabledBy: spec.enabledBy,
      provider: provider.name,
      ...(spec.filter ? { filter: spec.filter } : {}),
      fromTelemetryResource: spec.enabledBy.startsWith('Telemetry '),
    });
  }
  return { via: 'telemetry', outputs, telemetries: applied.map((t) => t.name) };
}

function applicableTelemetries(
  rootNamespace: string,
  telemetries: readonly TelemetryResource[],
  proxy: ProxyIdentity,
): AppliedTelemetry[] {
  const ordered = [...telemetries].sort(compareByCreation);
  const inNamespace = (namespace: string): TelemetryResource[] =>
    ordered.filter((t) => t.metadata?.namespace === namespace);
  const namespaceWide = (namespace: string): TelemetryResource | undefined =>
    inNamespace(namespace).find((t) => isNamespaceWide(record(t.spec)));

  const chosen: TelemetryResource[] = [];
  const root = rootNamespace ? namespaceWide(rootNamespace) : undefined;
  if (root) chosen.push(root);
  if (proxy.namespace !== rootNamespace) {
    const own = namespaceWide(proxy.namespace);
    if (own) chosen.push(own);
  }
  for (const telemetry of inNamespace(proxy.namespace)) {
    const spec = record(telemetry.spec);
    if (isNamespaceWide(spec)) continue;
    if (attaches(spec, proxy)) chosen.push(telemetry);
  }
  return chosen
    .map((telemetry) => ({
      name: `${telemetry.metadata?.namespace ?? ''}/${telemetry.metadata?.name ?? ''}`,
      entries: list(record(telemetry.spec).accessLogging).map(readLoggingEntry),
    }))
    .filter((telemetry) => telemetry.entries.length > 0);
}

function isNamespaceWide(spec: Record<string, unknown>): boolean {
  return (
    Object.keys(record(record(spec.selector).matchLabels)).length === 0 &&
    targetRefs(spec).length === 0
  );
}

function targetRefs(spec: Record<string, unknown>): Record<string, unknown>[] {
  const refs = list(spec.targetRefs).map(record);
  if (refs.length === 0 && spec.targetRef !== undefined && spec.targetRef !== null) {
    return [record(spec.targetRef)];
  }
  return refs;
}

/** `WorkloadPolicyMatcher.ShouldAttachPolicy` for a gateway pod in its own namespace. */
function attaches(spec: Record<string, unknown>, proxy: ProxyIdentity): boolean {
  const matchLabels = record(record(spec.selector).matchLabels);
  const selected = Object.entries(matchLabels).every(([key, value]) => proxy.labels[key] === value);
  const refs = targetRefs(spec);
  const gatewayName = proxy.labels[ISTIO_ACCESS_LOGGING.gatewayApiNameLabel];
  if (gatewayName === undefined) return refs.length === 0 && selected;
  if (refs.length === 0) return ISTIO_ACCESS_LOGGING.selectorPolicyOnGatewayApiGateways && selected;
  return refs.some(
    (ref) =>
      ref.group === 'gateway.networking.k8s.io' &&
      ref.kind === 'Gateway' &&
      ref.name === gatewayName &&
      (ref.namespace === undefined || ref.namespace === '' || ref.namespace === proxy.namespace),
  );
}

function readLoggingEntry(value: unknown): LoggingEntry {
  const entry = record(value);
  const disabled = entry.disabled;
  return {
    providers: list(entry.providers)
      .map((p) => text(record(p).name))
      .filter((name): name is string => !!name),
    // `disabled` is a BoolValue: YAML gives `true`, protojson may give `{value: true}`.
    disabled: disabled === true || record(disabled).value === true,
    mode: text(record(entry.match).mode),
    filter: text(record(entry.filter).expression),
  };
}

interface MergedProvider {
  disabled: boolean;
  filter: string | undefined;
  enabledBy: string;
}

/** `mergeLogs` for a gateway (workload mode CLIENT). */
function mergeLogs(
  applied: readonly AppliedTelemetry[],
  defaults: readonly string[],
): Map<string, MergedProvider> {
  const providers = new Map<string, MergedProvider>();
  const byDefault = 'meshConfig.defaultProviders.accessLogging';
  if (applied.length === 0) {
    for (const name of defaults) {
      providers.set(name, { disabled: false, filter: undefined, enabledBy: byDefault });
    }
    return providers;
  }
  const matches = (entry: LoggingEntry): boolean =>
    entry.mode === undefined ||
    entry.mode === 'CLIENT_AND_SERVER' ||
    entry.mode === ISTIO_ACCESS_LOGGING.gatewayWorkloadMode;

  let providerNames: readonly string[] = defaults;
  const filters = new Map<string, string | undefined>();
  for (const telemetry of applied) {
    const names = new Set<string>();
    for (const entry of telemetry.entries) {
      if (!matches(entry)) continue;
      for (const name of entry.providers) {
        names.add(name);
        filters.set(name, entry.filter);
      }
    }
    if (names.size > 0) providerNames = [...names];
  }
  const inScope = new Set(providerNames);

  let parent: readonly string[] = defaults;
  for (const telemetry of applied) {
    for (const entry of telemetry.entries) {
      const names = entry.providers.length > 0 ? entry.providers : parent;
      parent = names;
      for (const name of names) {
        if (!inScope.has(name) || !matches(entry)) continue;
        const enabledBy = `Telemetry ${telemetry.name}`;
        providers.set(
          name,
          entry.disabled
            ? { disabled: true, filter: undefined, enabledBy }
            : { disabled: false, filter: filters.get(name), enabledBy },
        );
      }
    }
  }
  return providers;
}

export function providerOutput(
  mesh: MeshAccessLogConfig,
  provider: AccessLogProvider,
  file: NonNullable<AccessLogProvider['file']>,
): Pick<AccessLogOutput, 'path' | 'format' | 'formatSetting' | 'formatOrigin'> {
  const ownFormat = `the logFormat of extension provider "${provider.name}" (meshConfig.extensionProviders)`;
  if (
    provider.name === ISTIO_ACCESS_LOGGING.builtinProvider &&
    file.logFormat === undefined &&
    !file.omitEmptyValues
  ) {
    const fromMesh = meshOutputFormat(mesh);
    return {
      path: file.path,
      ...fromMesh,
      ...(fromMesh.formatOrigin === 'meshConfig'
        ? {
            formatSetting: `meshConfig.accessLogFormat, which the built-in "${provider.name}" provider follows`,
          }
        : {}),
    };
  }
  const path = file.path || ISTIO_ACCESS_LOGGING.providerPathDefault;
  const omitEmptyValues = file.omitEmptyValues;
  const { logFormat } = file;
  if (logFormat === undefined || logFormat.text !== undefined) {
    return {
      path,
      format: { encoding: 'TEXT', text: withNewline(logFormat?.text ?? ''), omitEmptyValues },
      ...(logFormat
        ? { formatSetting: ownFormat, formatOrigin: 'providerLogFormat' as const }
        : omitEmptyValues
          ? {
              formatSetting: `extension provider "${provider.name}" (meshConfig.extensionProviders)`,
              formatOrigin: 'providerOmitEmptyValues' as const,
            }
          : {
              formatSetting: `extension provider "${provider.name}" (Istio's default format)`,
              formatOrigin: 'default' as const,
            }),
    };
  }
  if (logFormat.labels !== undefined) {
    const labels =
      Object.keys(logFormat.labels).length > 0 ? logFormat.labels : ISTIO_JSON_ACCESS_LOG_LABELS;
    return {
      path,
      format: { encoding: 'JSON', labels, omitEmptyValues },
      formatSetting: ownFormat,
      formatOrigin: 'providerLogFormat',
    };
  }
  // A logFormat with neither text nor labels leaves Envoy's own default format.
  return {
    path,
    format: { encoding: 'TEXT', text: ENVOY_DEFAULT_ACCESS_LOG_FORMAT, omitEmptyValues },
    formatSetting: ownFormat,
    formatOrigin: 'providerLogFormat',
  };
}

/** `FileAccessLogFromMeshConfig`: the mesh's encoding, and its `accessLogFormat` if set. */
function meshFormat(mesh: MeshAccessLogConfig): AccessLogFormatSpec {
  if (mesh.accessLogEncoding === 'TEXT') {
    return { encoding: 'TEXT', text: withNewline(mesh.accessLogFormat), omitEmptyValues: false };
  }
  let labels: Readonly<Record<string, unknown>> = ISTIO_JSON_ACCESS_LOG_LABELS;
  if (mesh.accessLogFormat !== '') {
    try {
      const parsed = JSON.parse(mesh.accessLogFormat) as unknown;
      // istiod logs the parse error and keeps the default keys.
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        labels = parsed as Record<string, unknown>;
      }
    } catch {
      // As above: the default keys stay.
    }
  }
  return { encoding: 'JSON', labels, omitEmptyValues: false };
}

function meshOutputFormat(
  mesh: MeshAccessLogConfig,
): Pick<AccessLogOutput, 'format' | 'formatSetting' | 'formatOrigin'> {
  return mesh.accessLogFormat
    ? {
        format: meshFormat(mesh),
        formatSetting: 'meshConfig.accessLogFormat',
        formatOrigin: 'meshConfig',
      }
    : {
        format: meshFormat(mesh),
        formatSetting: 'meshConfig.accessLogEncoding',
        formatOrigin: 'default',
      };
}

/** `fileAccessLogFormat`: Istio's default for an empty format, and a newline at the end. */
function withNewline(format: string): string {
  if (format === '') return ISTIO_TEXT_ACCESS_LOG_FORMAT;
  return format.endsWith('\n') ? format : `${format}\n`;
}

// ---------------------------------------------------------------------------------------
// Helpers for loosely typed YAML

function compareByCreation(a: TelemetryResource, b: TelemetryResource): number {
  const time = (t: TelemetryResource): number => {
    const value = t.metadata?.creationTimestamp;
    const ms = value === undefined ? Number.NaN : new Date(value).getTime();
    return Number.isNaN(ms) ? 0 : ms;
  };
  return (
    time(a) - time(b) ||
    (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '') ||
    (a.metadata?.namespace ?? '').localeCompare(b.metadata?.namespace ?? '')
  );
}

function record(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: unknown): string[] {
  return list(value).filter((item): item is string => typeof item === 'string' && item !== '');
}

function pick(object: Record<string, unknown>, ...keys: string[]): unknown {
  for (const key of keys) if (object[key] !== undefined) return object[key];
  return undefined;
}
