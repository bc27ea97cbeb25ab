/**
 * The mesh model's entry point: answers `pods/exec` for the simulated cluster. Each exec
 * reads one snapshot of the configuration the data plane sees and runs the command the
 * way the container's binary would: `curl` and `openssl s_client` in workload
 * containers, `pilot-agent request …` in `istio-proxy`, behind a minimal `sh -c`.
 */
import { withGatewayApi } from './gateway-api.ts';
import type {
  ClusterView,
  ExecHandler,
  ExecRequest,
  ExecResult,
  KubeObject,
  LogSink,
  SimOptions,
} from '../types.ts';
import type { MeshContext } from './context.ts';
import { MeshCertificates } from './certs.ts';
import { MeshState } from './context.ts';
import { runCurl } from './curl-transfer.ts';
import { containerNamed } from './k8s.ts';
import { readMeshConfig } from './mesh-config.ts';
import { runOpenssl } from './openssl-cli.ts';
import { runPilotAgent } from './pilot-agent.ts';
import { splitShellCommand } from './shell.ts';

/** What the model needs from the rest of the simulated cluster. */
export interface MeshModelOptions {
  /** The configuration as the data plane currently sees it (propagation delay applied). */
  view: () => ClusterView;
  logs: LogSink;
  options: SimOptions;
  now?: () => Date;
}

/** The binaries each kind of container has: the proxy image has no curl or openssl. */
const PROXY_BINARIES = new Set(['pilot-agent', 'sh', 'true', 'echo']);
const WORKLOAD_BINARIES = new Set(['curl', 'openssl', 'sh', 'true', 'echo', 'sleep']);

function notFound(name: string): ExecResult {
  return { stdout: '', stderr: `sh: ${name}: not found\n`, exitCode: 127 };
}

function runCommand(
  ctx: MeshContext,
  pod: KubeObject,
  container: string,
  argv: string[],
): ExecResult {
  const program = argv[0] ?? '';
  const name = program.slice(program.lastIndexOf('/') + 1);
  const args = argv.slice(1);
  const available = container === 'istio-proxy' ? PROXY_BINARIES : WORKLOAD_BINARIES;
  if (!available.has(name)) return notFound(program);
  switch (name) {
    case 'curl':
      return runCurl(ctx, pod, container, args);
    case 'openssl':
      return runOpenssl(ctx, pod, container, args);
    case 'pilot-agent':
      return runPilotAgent(ctx, pod, args);
    case 'true':
    case 'sleep':
      return { stdout: '', stderr: '', exitCode: 0 };
    case 'echo':
      return { stdout: `${args.join(' ')}\n`, stderr: '', exitCode: 0 };
    case 'sh':
      return runShell(ctx, pod, container, args);
    default:
      return notFound(program);
  }
}

/** `sh -c 'cmd; cmd && cmd || cmd'`: sequences of simple commands, nothing fancier. */
function runShell(
  ctx: MeshContext,
  pod: KubeObject,
  container: string,
  args: string[],
): ExecResult {
  if (args[0] !== '-c' || args[1] === undefined) {
    return {
      stdout: '',
      stderr: 'sh: only `sh -c <command>` is supported by the simulated cluster\n',
      exitCode: 2,
    };
  }
  const parsed = splitShellCommand(args[1]);
  if ('error' in parsed) return { stdout: '', stderr: `sh: ${parsed.error}\n`, exitCode: 2 };
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  for (const step of parsed.steps) {
    if (step.when === 'and' && exitCode !== 0) continue;
    if (step.when === 'or' && exitCode === 0) continue;
    const result = runCommand(ctx, pod, container, step.argv);
    stdout += result.stdout;
    stderr += result.stderr;
    exitCode = result.exitCode;
  }
  return { stdout, stderr, exitCode };
}

/** Creates the exec handler of the simulated cluster. */
export function createMeshModel({
  view,
  logs,
  options,
  now = () => new Date(),
}: MeshModelOptions): ExecHandler {
  const state = new MeshState();
  // The gateway's workload certificate is issued at first mTLS use; have its keys ready.
  MeshCertificates.warm();
  return {
    exec(request: ExecRequest): Promise<ExecResult> {
      const { pod, container, command } = request;
      if (!containerNamed(pod, container)) {
        return Promise.resolve({
          stdout: '',
          stderr: `error: unable to upgrade connection: container not found ("${container}")\n`,
          exitCode: 1,
        });
      }
      if (command.length === 0) {
        return Promise.resolve({
          stdout: '',
          stderr: 'error: you must specify at least one command for the container\n',
          exitCode: 1,
        });
      }
      // What istiod derives from Gateway API objects is part of the config the proxies see.
      const snapshot = withGatewayApi(view(), {
        ignoreHostnameBackends: options.faults.has('hostname-backend-ignored'),
      });
      const ctx: MeshContext = {
        view: snapshot,
        mesh: readMeshConfig(snapshot, pod),
        options,
        externalHosts: options.externalHosts,
        logs,
        now: now(),
        state,
        ...(request.connections ? { connections: request.connections } : {}),
        fault: (name) => options.faults.has(name),
      };
      return Promise.resolve(runCommand(ctx, pod, container, command));
    },
  };
}
