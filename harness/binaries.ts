/**
 * Finding the `kind` and `istioctl` executables a kind run drives: a path the user gave,
 * else one on PATH at the pinned version, else the pinned release downloaded into a
 * per-user cache after its published SHA-256 has been checked. A binary whose checksum
 * does not match is never run and never kept.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { EnvironmentError } from './errors.ts';

/**
 * execa, loaded on first use: a run against an existing or simulated cluster may never start
 * a tool, and execa is 111 modules (0.15 s of CPU at every start of the CLI).
 */
export function loadExeca(): Promise<typeof import('execa')> {
  return import('execa');
}

/** The executables a kind run needs. */
export type ToolName = 'kind' | 'istioctl';

/** Where a resolved binary came from, for the report. */
export type ToolSource = 'flag' | 'path' | 'cache' | 'download';

/** A binary ready to run, with the version it reports. */
export interface ResolvedTool {
  tool: ToolName;
  path: string;
  version: string;
  source: ToolSource;
}

/** Release download locations; tests point them at a local server. */
export interface ReleaseBaseUrls {
  /** kind's download redirector; `<base>/<version>/kind-<os>-<arch>`. */
  kind: string;
  /** Istio's GitHub releases; `<base>/<version>/istioctl-<version>-<os>[-<arch>].tar.gz`. */
  istioctl: string;
}

/** The official locations (kind's quick start and Istio's `downloadIstioCtl.sh`). */
export const DEFAULT_RELEASE_BASE_URLS: Readonly<ReleaseBaseUrls> = Object.freeze({
  kind: 'https://kind.sigs.k8s.io/dl',
  istioctl: 'https://github.com/istio/istio/releases/download',
});

/** Budget for one release download (binary plus checksum). */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 300_000;
/** Budget for `<tool> version`. */
export const VERSION_COMMAND_TIMEOUT_MS = 15_000;

const FLAG: Record<ToolName, string> = { kind: '--kind', istioctl: '--istioctl' };

/** Options of {@link resolveTool}. */
export interface ResolveToolOptions {
  tool: ToolName;
  /** The pinned version: `v0.32.0` for kind, `1.31.1` for istioctl. */
  version: string;
  /** `--kind`/`--istioctl`: used as given, whatever version it reports. */
  explicitPath?: string;
  /** Cache root; {@link defaultCacheDir} unless told. */
  cacheDir?: string;
  baseUrls?: Partial<ReleaseBaseUrls>;
  /** Environment for the PATH lookup and the version commands. */
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  arch?: string;
  downloadTimeoutMs?: number;
  log?: (message: string) => void;
}

/**
 * Resolves one tool: explicit path, else PATH at the pinned version, else the cache,
 * else a verified download. Throws {@link EnvironmentError} with the fix.
 */
export async function resolveTool({
  tool,
  version,
  explicitPath,
  cacheDir = defaultCacheDir(),
  baseUrls = {},
  env = process.env,
  platform = process.platform,
  arch = process.arch,
  downloadTimeoutMs = DEFAULT_DOWNLOAD_TIMEOUT_MS,
  log = () => {},
}: ResolveToolOptions): Promise<ResolvedTool> {
  if (explicitPath) {
    if (!(await isExecutableFile(explicitPath))) {
      throw new EnvironmentError(
        `${FLAG[tool]} ${explicitPath} is not an executable file; pass the path of a ${tool} binary or drop ${FLAG[tool]} to use the pinned ${version}.`,
      );
    }
    const reported = await readToolVersion(tool, explicitPath, env);
    if (!reported) {
      throw new EnvironmentError(
        `${FLAG[tool]} ${explicitPath} did not report a ${tool} version (\`${versionCommand(tool).join(' ')}\`); pass a working ${tool} binary.`,
      );
    }
    return { tool, path: explicitPath, version: reported, source: 'flag' };
  }

  const onPath = await findOnPath(tool, env);
  if (onPath) {
    const reported = await readToolVersion(tool, onPath, env);
    if (reported === version) return { tool, path: onPath, version, source: 'path' };
    log(
      `${tool} on PATH (${onPath}) reports ${reported ?? 'no version'}, not the pinned ${version}; using the pinned release instead`,
    );
  }

  const directory = join(cacheDir, tool, version);
  const cached = join(directory, tool);
  if (await isExecutableFile(cached)) {
    // Only verified downloads are ever renamed into place, so presence means verified.
    return { tool, path: cached, version, source: 'cache' };
  }

  const asset = releaseAsset({ tool, version, platform, arch, baseUrls });
  log(`downloading ${tool} ${version} from ${asset.url}`);
  const binary = await downloadVerified({ tool, version, asset, timeoutMs: downloadTimeoutMs });
  await installIntoCache({ tool, version, directory, target: cached, binary, env });
  return { tool, path: cached, version, source: 'download' };
}

/** `$XDG_CACHE_HOME/egress-conformance`, else `~/.cache/egress-conformance`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  const xdg = env.XDG_CACHE_HOME;
  return xdg ? join(xdg, 'egress-conformance') : join(home, '.cache', 'egress-conformance');
}

/** One downloadable release file and the checksum file published beside it. */
export interface ReleaseAsset {
  url: string;
  checksumUrl: string;
  /** istioctl ships as a .tar.gz holding `istioctl`; kind as the bare binary. */
  archive: boolean;
}

/**
 * The release URL for this platform. kind: `kind-<linux|darwin>-<amd64|arm64>` with
 * `.sha256sum`; istioctl: `istioctl-<v>-linux-<arch>`, `-osx` (Intel) or `-osx-arm64`
 * with `.sha256`, as Istio's `release/downloadIstioCtl.sh` names them.
 */
export function releaseAsset({
  tool,
  version,
  platform,
  arch,
  baseUrls = {},
}: {
  tool: ToolName;
  version: string;
  platform: NodeJS.Platform;
  arch: string;
  baseUrls?: Partial<ReleaseBaseUrls>;
}): ReleaseAsset {
  const goArch = arch === 'x64' ? 'amd64' : arch === 'arm64' ? 'arm64' : undefined;
  if (!goArch || (platform !== 'linux' && platform !== 'darwin')) {
    throw new EnvironmentError(
      `There is no ${tool} ${version} release download for ${platform}/${arch} that this harness can use; install ${tool} ${version} yourself and pass ${FLAG[tool]} <path>.`,
    );
  }
  const base = (baseUrls[tool] ?? DEFAULT_RELEASE_BASE_URLS[tool]).replace(/\/+$/, '');
  if (tool === 'kind') {
    const url = `${base}/${version}/kind-${platform}-${goArch}`;
    return { url, checksumUrl: `${url}.sha256sum`, archive: false };
  }
  const osSuffix =
    platform === 'linux' ? `linux-${goArch}` : goArch === 'arm64' ? 'osx-arm64' : 'osx';
  const url = `${base}/${version}/istioctl-${version}-${osSuffix}.tar.gz`;
  return { url, checksumUrl: `${url}.sha256`, archive: true };
}

/** The command that prints a tool's own version without contacting a cluster. */
export function versionCommand(tool: ToolName): string[] {
  return tool === 'kind' ? ['version'] : ['version', '--remote=false'];
}

/** Parses `kind version` (`kind v0.32.0 go1.24.6 linux/amd64`). */
export function parseKindVersion(output: string): string | undefined {
  return /\bkind (v\d+\.\d+\.\d+\S*)/.exec(output)?.[1];
}

/** Parses `istioctl version --remote=false` (`client version: 1.31.1`; very old ones print the bare version). */
export function parseIstioctlVersion(output: string): string | undefined {
  const client = /client version:\s*(\d+\.\d+\.\d+[\w.-]*)/.exec(output)?.[1];
  return client ?? /^\s*(\d+\.\d+\.\d+[\w.-]*)\s*$/m.exec(output)?.[1];
}

/** Runs the version command of a binary; undefined when it fails or prints nothing usable. */
export async function readToolVersion(
  tool: ToolName,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const { execa } = await loadExeca();
  const result = await execa(path, versionCommand(tool), {
    env,
    extendEnv: false,
    reject: false,
    timeout: VERSION_COMMAND_TIMEOUT_MS,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0) return undefined;
  const text = `${result.stdout}\n${result.stderr}`;
  return tool === 'kind' ? parseKindVersion(text) : parseIstioctlVersion(text);
}

/** Compares dotted versions with an optional leading `v`; pre-release suffixes are ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (version: string): number[] =>
    version
      .replace(/^v/, '')
      .split(/[-+]/)[0]!
      .split('.')
      .map((part) => Number.parseInt(part, 10) || 0);
  const left = parts(a);
  const right = parts(b);
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

/** The first executable named `tool` on the PATH of `env`. */
export async function findOnPath(
  tool: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  for (const directory of (env.PATH ?? '').split(delimiter)) {
    if (!directory) continue;
    const candidate = join(directory, tool);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function downloadVerified({
  tool,
  version,
  asset,
  timeoutMs,
}: {
  tool: ToolName;
  version: string;
  asset: ReleaseAsset;
  timeoutMs: number;
}): Promise<Buffer> {
  const what = `${tool} ${version}`;
  const deadline = AbortSignal.timeout(timeoutMs);
  const [payload, checksumText] = await Promise.all([
    fetchBytes(asset.url, { what, tool, signal: deadline, timeoutMs }),
    fetchBytes(asset.checksumUrl, {
      what: `the checksum of ${what}`,
      tool,
      signal: deadline,
      timeoutMs,
    }),
  ]);
  const published = /^\s*([0-9a-fA-F]{64})\b/
    .exec(checksumText.toString('utf8'))?.[1]
    ?.toLowerCase();
  if (!published) {
    throw new EnvironmentError(
      `The checksum file ${asset.checksumUrl} holds no SHA-256, so ${what} cannot be verified and was not kept; retry later or install ${tool} ${version} yourself and pass ${FLAG[tool]} <path>.`,
    );
  }
  const actual = createHash('sha256').update(payload).digest('hex');
  if (actual !== published) {
    throw new EnvironmentError(
      `The download of ${what} from ${asset.url} has SHA-256 ${actual} but the published checksum is ${published}, so it was neither run nor kept; retry (a proxy or a truncated transfer can cause this), or verify a copy yourself and pass ${FLAG[tool]} <path>.`,
    );
  }
  if (!asset.archive) return payload;
  let binary: Buffer | undefined;
  try {
    binary = extractTarEntry(gunzipSync(payload), tool);
  } catch (error) {
    throw new EnvironmentError(
      `The archive ${asset.url} passed its checksum but could not be unpacked (${error instanceof Error ? error.message : String(error)}); install ${tool} ${version} yourself and pass ${FLAG[tool]} <path>.`,
      { cause: error },
    );
  }
  if (!binary) {
    throw new EnvironmentError(
      `The archive ${asset.url} holds no file named ${tool}; install ${tool} ${version} yourself and pass ${FLAG[tool]} <path>.`,
    );
  }
  return binary;
}

async function fetchBytes(
  url: string,
  {
    what,
    tool,
    signal,
    timeoutMs,
  }: { what: string; tool: ToolName; signal: AbortSignal; timeoutMs: number },
): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', signal });
  } catch (error) {
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : describeFetchError(error);
    throw new EnvironmentError(
      `Cannot download ${what} from ${url} (${reason}); check the network connection, or install ${tool} yourself and pass ${FLAG[tool]} <path>.`,
      { cause: error },
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new EnvironmentError(
      `Downloading ${what} from ${url} failed with HTTP ${response.status}; check that this version exists (see versions.json), or install ${tool} yourself and pass ${FLAG[tool]} <path>.`,
    );
  }
  try {
    return Buffer.from(await response.arrayBuffer());
  } catch (error) {
    throw new EnvironmentError(
      `Downloading ${what} from ${url} broke off (${describeFetchError(error)}); retry, or install ${tool} yourself and pass ${FLAG[tool]} <path>.`,
      { cause: error },
    );
  }
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

async function installIntoCache({
  tool,
  version,
  directory,
  target,
  binary,
  env,
}: {
  tool: ToolName;
  version: string;
  directory: string;
  target: string;
  binary: Buffer;
  env: NodeJS.ProcessEnv;
}): Promise<void> {
  await mkdir(directory, { recursive: true });
  // A unique temporary name, then an atomic rename: a parallel run never sees half a file.
  const temporary = join(
    directory,
    `.${tool}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    await writeFile(temporary, binary, { mode: 0o755 });
    await chmod(temporary, 0o755);
    const reported = await readToolVersion(tool, temporary, env);
    if (reported !== version) {
      throw new EnvironmentError(
        `The verified ${tool} download reports version ${reported ?? 'nothing'} instead of ${version}, so it was not kept; check the release base URL, or pass ${FLAG[tool]} <path>.`,
      );
    }
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
}

/**
 * Returns the contents of the regular file whose last path segment is `name` in an
 * uncompressed tar (ustar, GNU long names and PAX `path` records), or undefined.
 */
export function extractTarEntry(tar: Buffer, name: string): Buffer | undefined {
  const BLOCK = 512;
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return undefined;
    if (!validChecksum(header)) throw new Error(`bad tar header checksum at offset ${offset}`);
    const size = readTarNumber(header.subarray(124, 136));
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + BLOCK;
    const data = tar.subarray(dataStart, dataStart + size);
    if (data.length < size) throw new Error(`tar entry at offset ${offset} is truncated`);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'L') {
      longName = cString(data);
      continue;
    }
    if (type === 'x') {
      longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))?.[1] ?? longName;
      continue;
    }
    const prefix = cString(header.subarray(345, 500));
    const path =
      longName ??
      (prefix ? `${prefix}/${cString(header.subarray(0, 100))}` : cString(header.subarray(0, 100)));
    longName = undefined;
    if ((type === '0' || type === '\0') && path.split('/').filter(Boolean).at(-1) === name) {
      return Buffer.from(data);
    }
  }
  return undefined;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

function readTarNumber(field: Buffer): number {
  // GNU tar writes sizes beyond 8 GiB in base-256, flagged by the high bit.
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = 0;
    for (let index = 1; index < field.length; index += 1) value = value * 256 + (field[index] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  return text ? Number.parseInt(text, 8) : 0;
}

function validChecksum(header: Buffer): boolean {
  const recorded = readTarNumber(header.subarray(148, 156));
  let sum = 0;
  for (let index = 0; index < header.length; index += 1) {
    sum += index >= 148 && index < 156 ? 0x20 : (header[index] ?? 0);
  }
  return sum === recorded;
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  path: string;
  args: string[];
  /** What the command does, for the message: "kind create cluster". */
  what: string;
  /** The fix to suggest when it fails, as the end of one sentence. */
  fix: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Aborting it terminates the command (release during provision, Ctrl-C). */
  cancelSignal?: AbortSignal;
  /** Receives each line the command prints, for progress and the run log. */
  onLine?: (line: string) => void;
  /** In its own process group, so a second Ctrl-C in the terminal cannot interrupt a cleanup. */
  detached?: boolean;
  /**
   * Non-zero exit codes that are the tool's answer rather than its failure (istioctl analyze's
   * 79, ISTIOCTL_EXIT): returned with the output instead of thrown.
   */
  resultExitCodes?: readonly number[];
}

/** What a tool printed, and the exit code it ended with (0 or one of `resultExitCodes`). */
export interface ToolOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs a tool to completion; a non-zero exit (other than `resultExitCodes`), a timeout or a
 * cancellation becomes an {@link EnvironmentError} with the command, exit code, duration,
 * last stderr lines and the fix.
 */
export async function runTool({
  path,
  args,
  what,
  fix,
  timeoutMs,
  env = process.env,
  cancelSignal,
  onLine,
  detached = false,
  resultExitCodes = [],
}: RunToolOptions): Promise<ToolOutput> {
  const started = Date.now();
  const { execa } = await loadExeca();
  const result = await execa(path, args, {
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs,
    forceKillAfterDelay: 5_000,
    detached,
    ...(cancelSignal ? { cancelSignal } : {}),
    ...(onLine
      ? {
          stdout: ['pipe', lineSink(onLine)],
          stderr: ['pipe', lineSink(onLine)],
        }
      : {}),
  });
  const answered =
    (result.exitCode === 0 && !result.failed) ||
    (result.exitCode !== undefined &&
      resultExitCodes.includes(result.exitCode) &&
      !result.timedOut &&
      !result.isCanceled &&
      result.signal === undefined);
  if (answered) {
    return {
      stdout: String(result.stdout),
      stderr: String(result.stderr),
      exitCode: result.exitCode ?? 0,
    };
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const command = [path, ...args].join(' ');
  const tail = lastLines(`${String(result.stderr)}\n${String(result.stdout)}`, 5);
  const how = result.timedOut
    ? `did not finish within ${timeoutMs} ms`
    : result.isCanceled
      ? `was cancelled after ${seconds} s`
      : result.exitCode === undefined
        ? `could not run (${result.originalMessage || result.shortMessage})`
        : `exited ${result.exitCode} after ${seconds} s`;
  throw new ToolFailedError(
    `${what} failed: \`${command}\` ${how}${tail ? ` (${tail})` : ''}; ${fix}.`,
    result.signal ?? undefined,
  );
}

/** A tool that did not succeed; `killedBy` names the signal that ended it, if one did. */
export class ToolFailedError extends EnvironmentError {
  readonly killedBy: string | undefined;
  constructor(message: string, killedBy: string | undefined) {
    super(message);
    this.killedBy = killedBy;
  }
}

function lineSink(onLine: (line: string) => void): (line: unknown) => Generator<string, void> {
  // Passes every line through unchanged, so the result still holds the whole output.
  return function* (line: unknown) {
    const text = typeof line === 'string' ? line : String(line);
    if (text.trim()) onLine(text);
    yield text;
  };
}

/** The last `count` non-empty lines of `text`, trimmed, on one line (`a | b`). */
export function lastLines(text: string, count: number): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ');
}
