/**
 * `--external host:<name>`: an endpoint the user names, for clusters that may reach only
 * approved hosts (the default on existing clusters). Nothing is started and no DNS is
 * changed: the name must already resolve and answer from inside the cluster.
 */
import { EnvironmentError } from '../errors.ts';
import type { ExternalHost } from '../providers/types.ts';

/**
 * Status meaning "any HTTP response": an unknown host's answer cannot be predicted, only
 * that one arrived (checks must treat 0 as "any status", not as a literal).
 */
export const ANY_HTTP_STATUS = 0;

/** Checks the shape of a user-named host: a DNS name, no scheme, port or path. */
export function validateHostName(name: string | undefined): string {
  const trimmed = (name ?? '').trim();
  if (!trimmed) {
    throw new EnvironmentError(
      'This run needs an external host to send traffic to; pass --external host:<dns-name> with a name the cluster may reach on ports 80 and 443.',
    );
  }
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
  if (
    trimmed.length > 253 ||
    !trimmed.split('.').every((part) => label.test(part)) ||
    !trimmed.includes('.')
  ) {
    throw new EnvironmentError(
      `--external host:${trimmed} is not a DNS name; pass the bare host name (no scheme, port or path), e.g. --external host:egress-check.example.com.`,
    );
  }
  return trimmed.toLowerCase();
}

/** Expectations for a user-named host: any HTTP answer, a publicly verifiable certificate. */
export function namedHost(name: string): ExternalHost {
  return {
    name: validateHostName(name),
    mode: 'host',
    expect: { http: { status: ANY_HTTP_STATUS }, https: { status: ANY_HTTP_STATUS } },
    insecure: false,
  };
}

/** The same named host for every suite. */
export function namedHosts(suites: readonly string[], name: string): Record<string, ExternalHost> {
  const host = namedHost(name);
  return Object.fromEntries(
    suites.map((suite) => [suite, { ...host, expect: structuredClone(host.expect) }]),
  );
}
