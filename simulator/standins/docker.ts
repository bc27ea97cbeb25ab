/**
 * The stand-in `docker` (simulator/bin/docker): answers `docker info` and
 * `docker version` like a client talking to a running engine, so the kind provider's
 * preflight passes in tests that use the stand-in `kind`. It runs no containers.
 */
import type { StandinIo } from './kind.ts';

/** The engine version the stand-in reports. */
export const STANDIN_DOCKER_VERSION = '28.2.2';

const processIo: StandinIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Runs one stand-in `docker` invocation and returns its exit code. */
export function dockerMain(argv: readonly string[], io: StandinIo = processIo): number {
  const [command, ...rest] = argv;
  const at = rest.indexOf('--format');
  const format =
    at >= 0
      ? rest[at + 1]
      : rest.find((arg) => arg.startsWith('--format='))?.slice('--format='.length);
  if (command === 'info') {
    if (format !== undefined) {
      // Only the fields the harness asks for; anything else renders like a missing field.
      io.out(format === '{{.ServerVersion}}' ? `${STANDIN_DOCKER_VERSION}\n` : '<no value>\n');
      return 0;
    }
    io.out(
      `Client:\n Version:    ${STANDIN_DOCKER_VERSION}\n Context:    default\n\nServer:\n Server Version: ${STANDIN_DOCKER_VERSION}\n Operating System: egress-conformance stand-in\n`,
    );
    return 0;
  }
  if (command === 'version') {
    io.out(
      `Client:\n Version:           ${STANDIN_DOCKER_VERSION}\n\nServer: egress-conformance stand-in\n Engine:\n  Version:          ${STANDIN_DOCKER_VERSION}\n`,
    );
    return 0;
  }
  io.err(
    `the egress-conformance stand-in docker answers only "info" and "version", not "${command ?? ''}"\n`,
  );
  return 1;
}
