/** The catalogue of suites: what `--suite` accepts and `--list` prints. */

/** One suite: a file under suites/ certifying behaviours of docs/behaviours.md. */
export interface SuiteInfo {
  name: string;
  file: string;
  description: string;
  behaviours: string[];
}

/** Every suite, in the order they are listed and reported. */
export const SUITES: readonly SuiteInfo[] = [
  {
    name: 'http-gateway',
    file: 'suites/http-gateway.test.ts',
    description:
      'HTTP to an external host on port 80 leaves the mesh through the egress gateway, with and without mutual TLS between sidecar and gateway (B1, B2).',
    behaviours: ['B1', 'B2', 'B6'],
  },
  {
    name: 'passthrough',
    file: 'suites/passthrough.test.ts',
    description:
      'TLS to an external host on port 443 passes through the egress gateway by SNI and ends at the host, with and without mutual TLS between sidecar and gateway (B3).',
    behaviours: ['B3', 'B6'],
  },
  {
    name: 'network-policy',
    file: 'suites/network-policy.test.ts',
    description:
      'With the NetworkPolicy of the task, a pod without sidecar cannot go straight out while a pod with one leaves through the gateway, whose counter increases (B4).',
    behaviours: ['B4', 'B6'],
  },
  {
    name: 'dr-lookup',
    file: 'suites/dr-lookup.test.ts',
    description:
      "A DestinationRule outside the client's lookup path does not serve it; the same rule in the client's namespace does (B5).",
    behaviours: ['B5', 'B6'],
  },
];

/** Looks a suite up by name. */
export function findSuite(name: string): SuiteInfo | undefined {
  return SUITES.find((suite) => suite.name === name);
}
