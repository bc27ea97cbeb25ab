/**
 * How the CLI process ends once the run's last step is done. Node stays alive while any
 * handle is open (an API client's keep-alive socket, a timer, a worker a library forgot), so
 * the CLI does not wait for them: it names them when debugging is on and exits with the
 * run's code at once.
 */

/** `EGRESS_DEBUG=1` turns on debug output (documented in `--help`). */
export const DEBUG_VARIABLE = 'EGRESS_DEBUG';

/** Whether debug output is on. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[DEBUG_VARIABLE];
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/**
 * The handles that would keep the process alive, by type, e.g. `TCPSocketWrap ×2, Timeout`.
 * The standard streams are among them (TTYWrap at a terminal, PipeWrap when piped).
 */
export function openHandles(
  resources: readonly string[] = process.getActiveResourcesInfo(),
): string {
  const counts = new Map<string, number>();
  for (const resource of resources) {
    counts.set(resource, (counts.get(resource) ?? 0) + 1);
  }
  return [...counts].map(([type, count]) => (count > 1 ? `${type} ×${count}` : type)).join(', ');
}

/** Ends the process with `code` now, first saying in debug output which handles were still open. */
export function exitNow(
  code: number,
  {
    env = process.env,
    write = (line: string) => void process.stderr.write(`${line}\n`),
  }: { env?: NodeJS.ProcessEnv; write?: (line: string) => void } = {},
): never {
  if (debugEnabled(env)) {
    const handles = openHandles();
    write(
      `egress-conformance: debug: exiting with ${code}; handles still open: ${handles || 'none'}`,
    );
  }
  process.exit(code);
}
