/**
 * `--external internet`: the host Istio's Egress Gateways task uses, `edition.cnn.com`.
 * Nothing is started or changed; the cluster needs egress to the internet.
 */
import type { ExternalHost } from '../providers/types.ts';

/** The documentation's external host. */
export const INTERNET_HOST = 'edition.cnn.com';

/**
 * What the task shows: plain HTTP is answered with `301` and a redirect to
 * `https://edition.cnn.com/…`, HTTPS with `200`, under a publicly trusted certificate.
 */
export function internetHost(): ExternalHost {
  return {
    name: INTERNET_HOST,
    mode: 'internet',
    expect: {
      http: { status: 301, locationPrefix: `https://${INTERNET_HOST}/` },
      https: { status: 200 },
    },
    insecure: false,
  };
}

/** The same host for every suite: the evidence is told apart by unique paths. */
export function internetHosts(suites: readonly string[]): Record<string, ExternalHost> {
  return Object.fromEntries(suites.map((suite) => [suite, internetHost()]));
}
