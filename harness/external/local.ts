/**
 * `--external local` (the default on kind): an HTTP/HTTPS server outside the cluster, run
 * with testcontainers on kind's Docker network. It answers under one made-up name per
 * suite (`<suite>.egress-conformance.test`) with a certificate the harness issues, and
 * sets a header only it sets, so a test can tell its answer from a proxy's. Pods find it
 * through a CoreDNS entry the harness adds, because it owns the kind cluster.
 */
import { certificateSummary, createCertificateAuthority, issueCertificate } from '../certs.ts';
import { EnvironmentError } from '../errors.ts';
import type { Kube } from '../k8s/client.ts';
import { RUN_LABEL } from '../k8s/namespaces.ts';
import type { ExternalHost } from '../providers/types.ts';
import { addDnsEntries, removeDnsEntries } from './coredns.ts';

/** The made-up zone of local external hosts (RFC 2606 reserves `.test`). */
export const LOCAL_HOST_DOMAIN = 'egress-conformance.test';
/** The header only the local external host sets. */
export const LOCAL_HOST_HEADER = 'x-egress-conformance-host';
/** The server image, pinned by tag. */
export const LOCAL_SERVER_IMAGE = 'nginx:1.27.5-alpine';
/** kind's Docker network, which the cluster's nodes are attached to. */
export const KIND_DOCKER_NETWORK = 'kind';

const CERT_DIR = '/etc/egress-conformance';
const CA_NAME = 'egress-conformance external hosts CA';

/** The host name a suite's traffic goes to in local mode. */
export function localHostName(suite: string): string {
  return `${suite}.${LOCAL_HOST_DOMAIN}`;
}

/** The local external hosts of a run, and how to take them down. */
export interface LocalExternalHosts {
  hosts: Record<string, ExternalHost>;
  /** The server's address on the kind network, which the names resolve to. */
  address: string;
  /** Removes the CoreDNS entries (for a cluster that outlives the run). */
  removeDns(): Promise<void>;
  /** Stops and removes the server container. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalExternalHosts}. */
export interface LocalExternalHostsOptions {
  suites: readonly string[];
  kube: Kube;
  runId: string;
  /** Budget for the CoreDNS restart. */
  timeoutMs: number;
  network?: string;
  image?: string;
  log?: (message: string) => void;
}

/** Issues the certificates, starts the server container, and points the names at it. */
export async function startLocalExternalHosts({
  suites,
  kube,
  runId,
  timeoutMs,
  network = KIND_DOCKER_NETWORK,
  image = LOCAL_SERVER_IMAGE,
  log = () => {},
}: LocalExternalHostsOptions): Promise<LocalExternalHosts> {
  const ca = createCertificateAuthority({ commonName: CA_NAME });
  const sites = suites.map((suite) => {
    const name = localHostName(suite);
    return { suite, name, ...issueCertificate(ca, { commonName: name, dnsNames: [name] }) };
  });
  const fallback = issueCertificate(ca, {
    commonName: `default.${LOCAL_HOST_DOMAIN}`,
    dnsNames: [`default.${LOCAL_HOST_DOMAIN}`],
  });

  // Loaded here, not at the top: importing testcontainers is slow and only this mode needs it.
  const { GenericContainer, Wait } = await import('testcontainers');
  const files = [
    { content: renderNginxConfig(sites.map((site) => site.name)), target: '/etc/nginx/nginx.conf' },
    { content: fallback.certPem, target: `${CERT_DIR}/default.crt` },
    { content: fallback.keyPem, target: `${CERT_DIR}/default.key`, mode: 0o600 },
    ...sites.flatMap((site) => [
      { content: site.certPem, target: `${CERT_DIR}/${site.name}.crt` },
      { content: site.keyPem, target: `${CERT_DIR}/${site.name}.key`, mode: 0o600 },
    ]),
  ];
  let container: Awaited<ReturnType<InstanceType<typeof GenericContainer>['start']>>;
  try {
    container = await new GenericContainer(image)
      .withNetworkMode(network)
      .withLabels({ [RUN_LABEL]: runId })
      .withCopyContentToContainer(files)
      .withExposedPorts(80)
      .withWaitStrategy(Wait.forHttp('/healthz', 80).forStatusCode(200))
      .start();
  } catch (error) {
    throw new EnvironmentError(
      `The local external host (${image} on Docker network ${network}) did not start (${error instanceof Error ? error.message : String(error)}); check that Docker can pull ${image} and that the kind network exists (\`docker network ls\`).`,
      { cause: error },
    );
  }
  const address = container.getIpAddress(network);
  log(`local external host ${image} runs at ${address} on Docker network ${network}`);

  const stop = async (): Promise<void> => {
    await container.stop({ remove: true, timeout: 5_000 });
  };
  try {
    await addDnsEntries(kube, {
      zone: LOCAL_HOST_DOMAIN,
      entries: sites.map((site) => ({ name: site.name, address })),
      timeoutMs,
    });
  } catch (error) {
    await stop().catch(() => {});
    throw new EnvironmentError(
      `Pointing ${LOCAL_HOST_DOMAIN} names at the local external host through CoreDNS failed (${error instanceof Error ? error.message : String(error)}); check kube-system/coredns.`,
      { cause: error },
    );
  }

  const hosts: Record<string, ExternalHost> = {};
  for (const site of sites) {
    const header = { name: LOCAL_HOST_HEADER, value: site.name };
    hosts[site.suite] = {
      name: site.name,
      mode: 'local',
      expect: { http: { status: 200, header }, https: { status: 200, header } },
      certificatePem: site.certPem,
      certificateSubject: certificateSummary(site.certPem).subject,
      // Clients do not trust the harness's CA; the suites compare the presented leaf instead.
      insecure: true,
    };
  }
  return { hosts, address, removeDns: () => removeDnsEntries(kube), stop };
}

/**
 * nginx configuration: one server per name on 80 and 443 (TLS with that name's
 * certificate, chosen by SNI), each answering 200 with the identifying header, and a
 * default server for anything else that answers `/healthz` for the wait strategy.
 */
export function renderNginxConfig(names: readonly string[]): string {
  const server = (name: string): string =>
    [
      '  server {',
      '    listen 80;',
      '    listen 443 ssl;',
      `    server_name ${name};`,
      `    ssl_certificate ${CERT_DIR}/${name}.crt;`,
      `    ssl_certificate_key ${CERT_DIR}/${name}.key;`,
      `    add_header ${LOCAL_HOST_HEADER} ${name} always;`,
      `    location / { return 200 "egress-conformance external host ${name}\\n"; }`,
      '  }',
    ].join('\n');
  return [
    'worker_processes 1;',
    'events { worker_connections 1024; }',
    'http {',
    '  access_log /dev/stdout;',
    '  default_type text/plain;',
    '  server {',
    '    listen 80 default_server;',
    '    listen 443 ssl default_server;',
    `    ssl_certificate ${CERT_DIR}/default.crt;`,
    `    ssl_certificate_key ${CERT_DIR}/default.key;`,
    '    location = /healthz { return 200 "ok\\n"; }',
    '    location / { return 421 "unknown host\\n"; }',
    '  }',
    ...names.map(server),
    '}',
    '',
  ].join('\n');
}
