/**
 * What istioctl's exit code and `istioctl analyze` output mean: the codes istioctl ends with,
 * the analyze command's thresholds, the lines it prints, and the analyzer messages the
 * simulated cluster's stand-in istioctl reports. The harness reads the exit code with these
 * constants; the stand-in produces it from the same ones.
 *
 * Sources (istio/istio; identical on tags 1.29.0, 1.30.0, 1.30.3, 1.31.0-rc.0, on the
 * branches release-1.29, release-1.30 and release-1.31 of 2026-08-20/21, and on master of
 * 2026-08-22): `istioctl/cmd/sysexits.go`, `istioctl/cmd/istioctl/main.go`,
 * `istioctl/cmd/root.go`, `istioctl/pkg/analyze/analyze.go`,
 * `istioctl/pkg/util/formatting/{formatter,msg_threshold}.go`, `pkg/config/analysis/diag/
 * {level,message,messages}.go`, `pkg/config/analysis/msg/messages.yaml`.
 */

/** An analyzer message level, as istioctl prints it and `--*-threshold` takes it. */
export type AnalyzerLevel = 'Info' | 'Warning' | 'Error';

/**
 * The codes istioctl exits with (`sysexits.go`, `GetExitCode`, called by `main.go` on the
 * error a command returns): 1 for any other error, 64 for a command line it cannot parse
 * (cobra's flag errors are wrapped as `CommandParseError` in `root.go`), 65 for input files
 * it cannot parse, and 79 — "istioctl analyze found issues, for CI/CD", the first of the codes
 * that "don't indicate an error with istioctl itself" — when `istioctl analyze` found a message
 * at or above `--failure-threshold` (`analyze.go`: `AnalyzerFoundIssuesError`). Holds for:
 * istioctl 1.4.0 (where `sysexits.go` appeared) to master of 2026-08; unchanged since.
 */
export const ISTIOCTL_EXIT = {
  unknownError: 1,
  incorrectUsage: 64,
  dataError: 65,
  analyzerFoundIssues: 79,
  source: 'istio/istio istioctl/cmd/sysexits.go (tags 1.4.0–1.31.0-rc.0, master 2026-08-22)',
} as const;

/**
 * `istioctl analyze`'s thresholds and what it prints in its default (log) format.
 * - `--failure-threshold` ("The severity level of analysis at which to set a non-zero exit
 *   code. Valid values: [Info Warning Error]") defaults to `Error` since 1.8.0 (istio/istio
 *   #27846, "istioctl analyze: do not error if the threshold is warning"); 1.4.0–1.7.x
 *   defaulted to `Warning`. The exit code is judged on every message, before the output
 *   threshold filters them, and only in the log format (`-o json|yaml` exits 0 with findings).
 * - `--output-threshold` ("The severity level of analysis at which to display messages")
 *   defaults to `Info`.
 * - Level names are matched case-insensitively; another value is a flag error (pflag:
 *   `invalid argument "X" for "--failure-threshold" flag: invalid level option`, exit 64).
 * - The messages, sorted (level, code, resource) and deduplicated, go to stdout one a line
 *   (`formatter.go` `printLog`; `analyze.go` prints them with `Fprintln`, so an empty list
 *   is an empty line); when none is at the output threshold, stderr gets
 *   `✔ No validation issues found when analyzing namespace: <ns>.`; on exit 79 cobra prints
 *   the error to stderr as `Error: Analyzers found issues when analyzing namespace: <ns>.`
 *   and `See https://istio.io/v<major.minor>/docs/reference/config/analysis for more
 *   information about causes and resolutions.`
 * Source: `analyze.go` (`failureThreshold`, `outputThreshold`, the flags,
 * `errorIfMessagesExceedThreshold`, `analyzeTargetAsString`), `msg_threshold.go`,
 * `diag/level.go`, `pkg/url/url.go` (`ConfigAnalysis`). Holds for: istioctl 1.8.0 to master
 * (2026-08) for the defaults; the flags exist since 1.4.0.
 */
export const ISTIOCTL_ANALYZE = {
  failureThresholdFlag: '--failure-threshold',
  outputThresholdFlag: '--output-threshold',
  defaultFailureThreshold: 'Error',
  /** istioctl 1.4.0–1.7.x. */
  oldDefaultFailureThreshold: 'Warning',
  defaultOutputThreshold: 'Info',
  /** Worst first: `Error` is worse than `Warning`, which is worse than `Info`. */
  levels: ['Error', 'Warning', 'Info'],
  defaultFailureThresholdSince: '1.8.0',
  source:
    'istio/istio istioctl/pkg/analyze/analyze.go (failureThreshold, "failure-threshold"; 1.8.0–1.31.0-rc.0, release-1.29–1.31, master 2026-08-22)',
} as const;

/** The level a `--*-threshold` value names (case-insensitively), or undefined for none. */
export function parseAnalyzerLevel(value: string): AnalyzerLevel | undefined {
  return ISTIOCTL_ANALYZE.levels.find((level) => level.toUpperCase() === value.toUpperCase());
}

/** Whether a message of `level` counts at `threshold` (`IsWorseThanOrEqualTo`). */
export function atOrAbove(level: AnalyzerLevel, threshold: AnalyzerLevel): boolean {
  const rank = (name: AnalyzerLevel): number => ISTIOCTL_ANALYZE.levels.indexOf(name);
  return rank(level) <= rank(threshold);
}

/** What `istioctl analyze -n <ns>` names its target (`analyzeTargetAsString`). */
export function analyzeTarget(namespace: string | undefined): string {
  return namespace === undefined ? 'all namespaces' : `namespace: ${namespace}`;
}

/** The stderr line when no message reached the output threshold. */
export function noValidationIssues(target: string): string {
  return `✔ No validation issues found when analyzing ${target}.`;
}

/** What cobra prints to stderr for `AnalyzerFoundIssuesError` (exit 79), two lines. */
export function analyzerFoundIssues(target: string, istioctlVersion: string): string {
  const docs = `v${istioctlVersion.split('.').slice(0, 2).join('.')}`;
  return (
    `Error: Analyzers found issues when analyzing ${target}.\n` +
    `See https://istio.io/${docs}/docs/reference/config/analysis for more information about causes and resolutions.`
  );
}

/** One analyzer message: code, level and wording from `messages.yaml`. */
export interface AnalyzerMessage {
  code: string;
  level: AnalyzerLevel;
  /** `(Kind namespace/name)`: the resource it is about. */
  resource: { kind: string; namespace: string; name: string };
  text: string;
}

/**
 * The messages of `virtualservice.GatewayAnalyzer` (in the default set, `analyzers/all.go`)
 * for a VirtualService gateway (other than `mesh`) that names no networking.istio.io Gateway
 * (`<ns>/<name>`, or `<name>` in the VirtualService's namespace; `NewShortOrFullName`):
 * IST0101 ReferencedResourceNotFound, level Error, `Referenced gateway not found: "<ref>"`,
 * and, since no Gateway's hosts then match either, IST0132
 * VirtualServiceHostNotFoundInGateway, level Warning, `one or more host [<hosts>] defined in
 * VirtualService <ns>/<name> not found in Gateway <gw-ns>/<gw-name>.`. Source:
 * `pkg/config/analysis/analyzers/virtualservice/gateways.go`,
 * `pkg/config/analysis/msg/messages.yaml` (codes, levels, templates). Holds for: 1.29–1.31
 * (release branches of 2026-08); master after 1.31 also accepts a Gateway API Gateway of that
 * name, which this does not model.
 */
export const VIRTUAL_SERVICE_GATEWAY_MESSAGES = {
  meshGateway: 'mesh',
  referencedResourceNotFound: {
    code: 'IST0101',
    level: 'Error',
    text: (refType: string, ref: string) =>
      `Referenced ${refType} not found: ${JSON.stringify(ref)}`,
  },
  hostNotFoundInGateway: {
    code: 'IST0132',
    level: 'Warning',
    text: (hosts: readonly string[], virtualService: string, gateway: string) =>
      `one or more host [${hosts.join(' ')}] defined in VirtualService ${virtualService} not found in Gateway ${gateway}.`,
  },
  source:
    'istio/istio pkg/config/analysis/analyzers/virtualservice/gateways.go, pkg/config/analysis/msg/messages.yaml (IST0101 Error, IST0132 Warning; release-1.29–1.31)',
} as const;

/**
 * A message as the log format prints it without colour (`formatter.go` `render`:
 * `<Level> [<code>] (<Kind> <ns>/<name>) <text>`; `FriendlyName` in
 * `pkg/config/analysis/legacy/source/kube/origin.go` always shows the namespace).
 */
export function renderAnalyzerMessage(message: AnalyzerMessage): string {
  const { kind, namespace, name } = message.resource;
  return `${message.level} [${message.code}] (${kind} ${namespace}/${name}) ${message.text}`;
}

/** Messages in istioctl's order (`diag/messages.go` `Sort`), duplicates removed. */
export function sortAnalyzerMessages(messages: readonly AnalyzerMessage[]): AnalyzerMessage[] {
  const rank = (level: AnalyzerLevel): number => ISTIOCTL_ANALYZE.levels.indexOf(level);
  const comparator = (m: AnalyzerMessage): string =>
    `${m.resource.kind}/${m.resource.name}/${m.resource.namespace}`;
  // Go compares strings bytewise, not by locale.
  const order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...messages].sort(
    (a, b) =>
      rank(a.level) - rank(b.level) ||
      order(a.code, b.code) ||
      order(comparator(a), comparator(b)) ||
      order(renderAnalyzerMessage(a), renderAnalyzerMessage(b)),
  );
  return sorted.filter(
    (message, index) =>
      index === 0 ||
      renderAnalyzerMessage(message) !==
        renderAnalyzerMessage(sorted[index - 1] as AnalyzerMessage),
  );
}

/**
 * `istioctl x precheck`: what it checks and how its outcome reads.
 * - It runs `checkControlPlane` (the Kubernetes server version, create permissions in the
 *   cluster and the Istio namespace, the served versions of the Gateway API CRDs, and the
 *   `AlphaAnalyzer`), prints the messages at or above its output threshold (`Warning` by
 *   default) to stdout in the analyzers' log format (`renderAnalyzerMessage`; cluster-wide
 *   messages name `(Cluster)`), and, when none is, writes
 *   `✔ No issues found when checking the cluster. Istio is safe to install or upgrade!` to
 *   stderr.
 * - Any message at `Warning` or worse makes the command return an error, `Issues found when
 *   checking the cluster. Istio may not be safe to install or upgrade.`, which istioctl ends
 *   with exit 1 (`ISTIOCTL_EXIT.unknownError`, `GetExitCode`'s default) after cobra prints it
 *   to stderr as `Error: …`. A failure to reach the cluster also exits 1, with no message on
 *   stdout. So exit 1 alone does not tell an unsafe cluster from a broken command: the
 *   messages on stdout do.
 * - Without `--from-version` every message it can print at `Warning` or above is an `Error`
 *   (IST0141 InsufficientPermissions, IST0142 UnsupportedKubernetesVersion, IST0156
 *   UnsupportedGatewayAPIVersion); the alpha-annotation messages are `Info` (IST0136) and
 *   hidden. `Warning`s come only from `--from-version` (IST0169 UpdateIncompatibility).
 * - It prints the messages coloured whatever the output is (`formatting.Print(…, true)`):
 *   the level wrapped in ANSI codes (ANALYZER_LEVEL_COLORS), so a line reads
 *   `\x1b[1;31mError\x1b[0m [IST0142] (Cluster) …`; `istioctl analyze` colours only a terminal.
 * - The Kubernetes minimum it checks (`k8sversion.MinK8SVersion`, the minor of 1.x) is
 *   istioctl's own: 30 for 1.29, 32 for 1.30 and 1.31.
 * Source: istio/istio `istioctl/pkg/precheck/precheck.go` (`Cmd`, `checkControlPlane`,
 * `checkServerVersion`), `istioctl/pkg/install/k8sversion/version.go` (`MinK8SVersion`),
 * `pkg/config/analysis/msg/messages.yaml`, `istioctl/cmd/sysexits.go`; identical on the
 * branches release-1.29, release-1.30 and release-1.31 (mirror of 2026-08).
 */
export const ISTIOCTL_PRECHECK = {
  args: ['x', 'precheck'],
  /** Messages at this level or worse make precheck exit {@link issuesExitCode}. */
  failureThreshold: 'Warning',
  issuesExitCode: ISTIOCTL_EXIT.unknownError,
  noIssues:
    '✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n  To get started, check out https://istio.io/latest/docs/setup/getting-started/.',
  issuesFound:
    'Error: Issues found when checking the cluster. Istio may not be safe to install or upgrade.',
  clusterResource: 'Cluster',
  minKubernetesMinor: { '1.29': 30, '1.30': 32, '1.31': 32 } as Readonly<Record<string, number>>,
  unsupportedKubernetesVersion: {
    code: 'IST0142',
    level: 'Error',
    text: (version: string, minimum: string) =>
      `The Kubernetes Version ${JSON.stringify(version)} is lower than the minimum version: ${minimum}`,
  },
  source:
    'istio/istio istioctl/pkg/precheck/precheck.go, istioctl/pkg/install/k8sversion/version.go, pkg/config/analysis/msg/messages.yaml (release-1.29–1.31)',
} as const;

/**
 * The ANSI codes istioctl's log format puts around a message's level when it colours
 * (`formatter.go` `colorPrefixes`, reset `\x1b[0m`; release-1.29–1.31): none for Info.
 */
export const ANALYZER_LEVEL_COLORS: Readonly<Record<AnalyzerLevel, string>> = {
  Info: '',
  Warning: '\x1b[33m',
  Error: '\x1b[1;31m',
};

/** A message as the log format prints it coloured (`render` with `colorize`). */
export function renderColorizedMessage(level: AnalyzerLevel, rest: string): string {
  const color = ANALYZER_LEVEL_COLORS[level];
  return color ? `${color}${level}\x1b[0m ${rest}` : `${level} ${rest}`;
}

/** One message line of the analyzers' log format, read back: level, code and the rest. */
export interface PrintedAnalyzerMessage {
  level: AnalyzerLevel;
  code: string;
  line: string;
}

/** The message lines of istioctl's log-format output (other lines are not messages). */
export function printedAnalyzerMessages(stdout: string): PrintedAnalyzerMessage[] {
  const messages: PrintedAnalyzerMessage[] = [];
  for (const raw of stdout.split('\n')) {
    // Coloured or not (precheck always colours): the codes are not part of the message.
    // eslint-disable-next-line no-control-regex
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '').trim();
    const match = /^(Error|Warning|Info) \[(IST\d{4})\]/.exec(line);
    if (match) messages.push({ level: match[1] as AnalyzerLevel, code: match[2] ?? '', line });
  }
  return messages;
}
