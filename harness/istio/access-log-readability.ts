/**
 * Whether the harness can read what the gateway's access loggers write, and the one
 * sentence that tells an on-call engineer which setting to change when it cannot. Split
 * from access-log-settings.ts (which decides the loggers); no I/O here either.
 */
import { EnvironmentError } from '../errors.ts';
import {
  CONTAINER_LOG_PATHS,
  ENVOY_DEFAULT_ACCESS_LOG_FORMAT,
  ISTIO_ACCESS_LOGGING,
  ISTIO_JSON_ACCESS_LOG_LABELS,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
} from '../facts.ts';
import {
  providerOutput,
  type AccessLogFormatSpec,
  type AccessLogOutput,
  type AccessLogPlan,
  type MeshAccessLogConfig,
} from './access-log-settings.ts';
// ---------------------------------------------------------------------------------------
// What the harness can read

/** Whether a logger's lines reach the container log, which is all the harness reads. */
export function reachesContainerLog(output: Pick<AccessLogOutput, 'path'>): boolean {
  return CONTAINER_LOG_PATHS.includes(output.path);
}

// `%UPSTREAM_CLUSTER%` (Istio's default before it switched to the RAW operator) prints the
// same `outbound|port|subset|host` name for the gateway's clusters.
const sameCluster = (format: string): string =>
  format.replaceAll('%UPSTREAM_CLUSTER%', '%UPSTREAM_CLUSTER_RAW%');

/**
 * Why `harness/envoy/access-log.ts` cannot read lines of this format, or undefined when it
 * can: it reads Istio's default TEXT format, and JSON objects that carry Istio's default
 * keys with their default operators (more keys are fine).
 */
export function unreadableReason(format: AccessLogFormatSpec): string | undefined {
  if (format.encoding === 'TEXT') {
    if (sameCluster(format.text) === ENVOY_DEFAULT_ACCESS_LOG_FORMAT) {
      return "Envoy's own default TEXT format, which lacks the upstream cluster and SNI";
    }
    if (sameCluster(format.text).trimEnd() !== ISTIO_TEXT_ACCESS_LOG_FORMAT.trimEnd()) {
      return 'a custom TEXT format';
    }
    if (format.omitEmptyValues) {
      return 'omitEmptyValues (empty TEXT fields print as nothing instead of "-")';
    }
    return undefined;
  }
  const different = Object.entries(ISTIO_JSON_ACCESS_LOG_LABELS)
    .filter(([key, operator]) => {
      const value = format.labels[key];
      return typeof value !== 'string' || sameCluster(value) !== operator;
    })
    .map(([key]) => key);
  if (different.length > 0) {
    const shown = different.slice(0, 3).join(', ') + (different.length > 3 ? ', …' : '');
    return `a custom JSON format (Istio's key${different.length > 1 ? 's' : ''} ${shown} missing or changed)`;
  }
  return undefined;
}

/** The loggers sorted by what the harness can do with them. */
export interface AccessLogAssessment {
  plan: AccessLogPlan;
  /** Loggers whose lines reach the container log and parse. */
  readable: AccessLogOutput[];
  /** Loggers whose lines reach the container log but do not parse, with the reason. */
  unreadable: { output: AccessLogOutput; reason: string }[];
  /** Loggers writing elsewhere (a file, nowhere the pods/log API shows). */
  elsewhere: AccessLogOutput[];
}

/** Sorts a plan's loggers into readable, unreadable and out of reach. */
export function assessAccessLogs(plan: AccessLogPlan): AccessLogAssessment {
  const assessment: AccessLogAssessment = { plan, readable: [], unreadable: [], elsewhere: [] };
  for (const output of plan.outputs) {
    if (!reachesContainerLog(output)) {
      assessment.elsewhere.push(output);
      continue;
    }
    const reason = unreadableReason(output.format);
    if (reason) assessment.unreadable.push({ output, reason });
    else assessment.readable.push(output);
  }
  return assessment;
}

/** The environment error for a gateway whose access log the harness cannot parse. */
export class UnreadableAccessLogError extends EnvironmentError {
  /**
   * True when a Telemetry resource chose an unreadable logger: reinstalling Istio (which
   * rewrites the mesh config) does not remove it.
   */
  readonly fromTelemetryResource: boolean;

  constructor(message: string, fromTelemetryResource: boolean) {
    super(message);
    this.fromTelemetryResource = fromTelemetryResource;
  }
}

/**
 * The one-sentence environment error when the gateway's entries reach its container log
 * only in formats the parser cannot read (every gateway check would otherwise report
 * "bypassed the gateway"); undefined when at least one readable logger exists.
 */
export function unreadableAccessLogError(
  assessment: AccessLogAssessment,
  { mesh, meshConfigMap }: { mesh: MeshAccessLogConfig; meshConfigMap: string },
): UnreadableAccessLogError | undefined {
  if (assessment.readable.length > 0 || assessment.unreadable.length === 0) return undefined;
  const consequence =
    'which the harness cannot parse, so every gateway check would report that traffic bypassed the gateway';
  const where = (output: AccessLogOutput): string =>
    output.formatOrigin === 'meshConfig'
      ? output.formatSetting.replace(
          'meshConfig.accessLogFormat',
          `meshConfig.accessLogFormat (ConfigMap ${meshConfigMap})`,
        )
      : output.formatSetting;
  const enabled = (output: AccessLogOutput): string =>
    output.enabledBy === 'meshConfig.accessLogFile' ? '' : `, enabled by ${output.enabledBy}`;
  const fromTelemetry = assessment.unreadable.some(({ output }) => output.fromTelemetryResource);
  const defaultProvider = readableDefaultProvider(mesh);

  if (assessment.unreadable.length === 1) {
    const { output, reason } = assessment.unreadable[0]!;
    const remove = {
      meshConfig: 'remove meshConfig.accessLogFormat for the run',
      providerLogFormat: `remove the logFormat of provider "${output.provider}" for the run`,
      providerOmitEmptyValues: `turn off omitEmptyValues of provider "${output.provider}" for the run`,
      default: "give the gateway a logger with Istio's default format for the run",
    }[output.formatOrigin];
    const add =
      output.enabledBy === 'meshConfig.accessLogFile'
        ? `or add ${defaultProvider} and enable it for the gateway with meshConfig.defaultProviders.accessLogging or a Telemetry resource`
        : output.fromTelemetryResource
          ? `or add ${defaultProvider} beside it in the accessLogging providers of ${output.enabledBy}`
          : `or add ${defaultProvider} beside it in meshConfig.defaultProviders.accessLogging`;
    return new UnreadableAccessLogError(
      `The egress gateway's access log uses ${reason} from ${where(output)}${enabled(output)}, ${consequence}; ${remove}, ${add}.`,
      fromTelemetry,
    );
  }
  const list = assessment.unreadable
    .map(({ output, reason }) => `${reason} from ${where(output)}${enabled(output)}`)
    .join('; ');
  return new UnreadableAccessLogError(
    `The egress gateway's access logs all use formats the harness cannot parse (${list}), so every gateway check would report that traffic bypassed the gateway; remove those custom formats for the run, or add ${defaultProvider} to the gateway's accessLogging providers.`,
    fromTelemetry,
  );
}

/** Names a provider with Istio's default format the user can add. */
function readableDefaultProvider(mesh: MeshAccessLogConfig): string {
  const builtin = mesh.providers.find((p) => p.name === ISTIO_ACCESS_LOGGING.builtinProvider);
  if (builtin?.file && reachesContainerLog({ path: builtin.file.path })) {
    const { format } = providerOutput(mesh, builtin, builtin.file);
    if (!unreadableReason(format)) return `the built-in "${builtin.name}" provider`;
  }
  return "an envoyFileAccessLog provider to /dev/stdout without logFormat (Istio's default format)";
}

/** One line for the run log: where the gateway's entries go and in which format. */
export function describeAccessLogs(assessment: AccessLogAssessment): string {
  const { plan } = assessment;
  if (plan.outputs.length === 0) {
    return plan.via === 'meshConfig'
      ? 'access logging is off (meshConfig.accessLogFile is empty and no Telemetry resource enables it)'
      : `access logging is off for the gateway (${plan.telemetries.length > 0 ? `Telemetry ${plan.telemetries.join(', ')}` : 'meshConfig.defaultProviders.accessLogging'} names no file provider that is on)`;
  }
  const describe = (output: AccessLogOutput, state: string): string =>
    `${output.provider ? `provider "${output.provider}"` : 'mesh file logger'} → ${output.path} (${output.format.encoding}, ${state}; ${output.enabledBy})${output.filter ? ` filtered by "${output.filter}"` : ''}`;
  return `gateway access logs: ${[
    ...assessment.readable.map((o) => describe(o, 'readable')),
    ...assessment.unreadable.map(({ output, reason }) => describe(output, reason)),
    ...assessment.elsewhere.map((o) => describe(o, 'not in the container log')),
  ].join('; ')}`;
}
