/**
 * The long-lived connection probe: beside the TLS path's request probe, in the same pod (so
 * the workloads' restart moves it to the new proxy too), one curl process sends a request
 * every probe interval over one TLS connection through the gateway's passthrough path. curl
 * keeps that connection open between requests (CURL_CONNECTION_REUSE) and prints, per
 * request, whether it had to connect anew and the connection's id, so the probe's log shows
 * when the connection broke and when a new one carried the next request. The client image
 * has curl and no openssl, so curl is the tool (README, "Choices worth knowing").
 *
 * How a break counts: a gateway pod that terminates drains and then closes the TCP
 * connections it relays (GATEWAY_TERMINATION_DRAIN), so a long-lived connection through a
 * replaced pod breaks even in a perfect rolling update. A break is reported, with the step it
 * fell in and how long the client was without a working connection; what counts against
 * `--max-disruption` is each request that failed, as for the request probes: a reconnect that
 * does not work at the next interval shows up as failed requests.
 */
import { CURL_CONNECTION_REUSE } from '../facts/long-lived-connections.ts';
import { CURL_RATE, curlRateFor } from '../facts/upgrade.ts';
import type { ProbeRecord } from './probes.ts';

/** The probe pod's container that holds the connection. */
export const CONNECTION_CONTAINER = 'conn';

/** The marker that starts each record line of the connection probe. */
export const CONNECTION_MARKER = 'egress-probe-conn';

/** What one request over the long-lived connection recorded besides its outcome. */
export interface ConnectionSample {
  /** `%{num_connects}`: 1 when curl had to connect for this request. */
  numConnects: number;
  /** `%{conn_id}`: the connection that carried it, -1 when none was made. */
  connId: number;
  /** The response said `Connection: close`: the server ends the connection, by design. */
  serverClose: boolean;
}

/** The container that keeps one TLS connection to `url` (`https://HOST`) open. */
export function connectionContainer(url: string, intervalMs: number, image: string): object {
  return {
    name: CONNECTION_CONTAINER,
    image,
    command: [
      'curl',
      '-sS',
      '-k',
      // HTTP/1.1 over the TLS connection, so a server that ends it says so in `Connection`.
      CURL_CONNECTION_REUSE.http11Flag,
      '-o',
      '/dev/null',
      '--max-time',
      '2',
      '-w',
      `${CONNECTION_MARKER} %{url_effective} %{http_code} %{exitcode} %{num_connects} %{conn_id} %header{connection}\\n`,
      CURL_RATE.flag,
      curlRateFor(intervalMs),
      `${url}/connection/$(POD_NAME)/[1-100000000]`,
    ],
    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
  };
}

/** Parses the connection probe's log (with kubelet timestamps) into records of the TLS path. */
export function parseConnectionLog(text: string): ProbeRecord[] {
  const pattern = new RegExp(
    `^(\\S+) ${CONNECTION_MARKER} \\S+/connection/([^/\\s]+)/(\\d+) (\\d{3}) (\\d+) (\\d+) (-?\\d+)(?: (\\S*))?$`,
  );
  const records: ProbeRecord[] = [];
  for (const line of text.split('\n')) {
    const match = pattern.exec(line.trim());
    if (!match) continue;
    records.push({
      path: 'tls',
      id: `${match[2]}/${match[3]}`,
      at: new Date(match[1] ?? ''),
      httpCode: Number(match[4]),
      curlExit: Number(match[5]),
      connection: {
        numConnects: Number(match[6]),
        connId: Number(match[7]),
        serverClose: (match[8] ?? '').toLowerCase() === 'close',
      },
    });
  }
  return records;
}
