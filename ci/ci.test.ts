// Checks the pipelines users copy from ci/: each YAML file against its platform's official
// schema, the properties a schema cannot express (versions only from versions.json, reports
// uploaded even on failure, pinned actions, no shell injection), the RBAC's exact grants,
// and the gate script's exit-code contract against a stand-in CLI.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateWorkflow } from '@action-validator/core';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import versions from '../versions.json' with { type: 'json' };
import { compileSchema, loadGitHubWorkflowSchema, loadGitLabCiSchema } from './schemas.ts';

const ciDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = dirname(ciDir);

const GITHUB_WORKFLOWS = [
  'github/egress-conformance-nightly.yml',
  'acceptance-gate/egress-conformance-gate.yml',
];
const GITHUB_CALLERS = ['acceptance-gate/example-caller.yml'];
const GITLAB_PIPELINES = ['gitlab/egress-conformance.gitlab-ci.yml'];
const RBAC_MANIFESTS = ['rbac/egress-conformance-rbac.yaml'];
const SCRIPTS = ['acceptance-gate/run-gate.sh', 'run-cli.sh'];

type Json = Record<string, unknown>;

function readCi(path: string): string {
  return readFileSync(join(ciDir, path), 'utf8');
}

function loadYaml(path: string): Json {
  return parse(readCi(path)) as Json;
}

function filesUnderCi(pattern: RegExp): string[] {
  return readdirSync(ciDir, { recursive: true, encoding: 'utf8' })
    .filter((path) => pattern.test(path))
    .map((path) => path.split('\\').join('/'))
    .sort();
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Json;
  env?: Json;
}

interface Job {
  'timeout-minutes'?: number;
  permissions?: Record<string, string>;
  steps?: Step[];
  strategy?: { matrix?: unknown };
  needs?: string | string[];
}

function jobsOf(workflow: Json): [string, Job][] {
  return Object.entries(workflow.jobs as Record<string, Job>);
}

function stepsOf(workflow: Json): Step[] {
  return jobsOf(workflow).flatMap(([, job]) => job.steps ?? []);
}

function bashSyntaxError(script: string): string | undefined {
  const result = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  return result.status === 0 ? undefined : result.stderr;
}

const hasJq = spawnSync('jq', ['--version']).status === 0;

describe('every YAML file under ci/', () => {
  it('is one of the validated pipelines or manifests', () => {
    expect(filesUnderCi(/\.ya?ml$/)).toEqual(
      [...GITHUB_WORKFLOWS, ...GITHUB_CALLERS, ...GITLAB_PIPELINES, ...RBAC_MANIFESTS].sort(),
    );
  });
});

describe('pipelines take versions from versions.json', () => {
  const pinned = [
    versions.istio.default,
    ...versions.istio.supported,
    versions.kind.version,
    versions.kind.nodeImage,
    versions.kind.nodeImage.split('@')[1] ?? versions.kind.nodeImage,
    versions.clientImage,
  ];
  const pipelineFiles = filesUnderCi(/\.(ya?ml|sh|jq)$/);

  it.each(pipelineFiles)('%s repeats no pinned version', (path) => {
    const text = readCi(path);
    for (const version of pinned)
      expect(text, `${path} hard-codes ${version}`).not.toContain(version);
    // Any Istio-looking patch version would be a hard-coded one.
    expect(text).not.toMatch(/\b1\.\d+\.\d+\b/);
  });

  it('the nightly matrix is computed from versions.json and consumed with fromJSON', () => {
    const workflow = loadYaml('github/egress-conformance-nightly.yml');
    const [, matrixJob] = jobsOf(workflow).find(([name]) => name === 'matrix') ?? [];
    const emit = matrixJob?.steps?.find((step) => step.run?.includes('matrix.jq'));
    expect(emit?.run).toContain('versions.json');
    expect(emit?.run).toContain('GITHUB_OUTPUT');
    const [, conformance] = jobsOf(workflow).find(([name]) => name === 'conformance') ?? [];
    expect(conformance?.needs).toBe('matrix');
    expect(conformance?.strategy?.matrix).toBe('${{ fromJSON(needs.matrix.outputs.matrix) }}');
    const run = conformance?.steps?.find((step) => step.run?.includes('ci/run-cli.sh'));
    expect(run?.run).toMatch(/--istio-version "\$\{ISTIO_VERSION\}"/);
    expect(run?.run).toMatch(/--kind-node-image "\$\{NODE_IMAGE\}"/);
    // Upgrade pairs: the matrix's upgrade_from reaches --upgrade-from through env only.
    expect(run?.run).toMatch(/--upgrade-from "\$\{UPGRADE_FROM\}"/);
    expect((conformance as { env?: Record<string, string> } | undefined)?.env?.UPGRADE_FROM).toBe(
      '${{ matrix.upgrade_from }}',
    );
  });

  it('the GitLab job leaves versions to the CLI, whose defaults are versions.json', () => {
    const job = loadYaml('gitlab/egress-conformance.gitlab-ci.yml')['egress-conformance'] as Json;
    const script = (job.script as string[]).join('\n');
    expect(script).toContain('--istio-version "${ISTIO_VERSION}"');
    expect(script).not.toContain('--kind-node-image');
    expect(readCi('gitlab/egress-conformance.gitlab-ci.yml')).toContain('versions.json');
  });
});

describe.skipIf(!hasJq)('ci/github/matrix.jq (needs jq, as on GitHub runners)', () => {
  function matrix(requested: string): { status: number | null; stdout: string; stderr: string } {
    return spawnSync(
      'jq',
      [
        '-c',
        '--arg',
        'requested',
        requested,
        '-f',
        join(ciDir, 'github/matrix.jq'),
        'versions.json',
      ],
      { cwd: repoRoot, encoding: 'utf8' },
    );
  }
  const kubernetes = /:(v[^@]+)@/.exec(versions.kind.nodeImage)?.[1];

  it('crosses istio.supported with the pinned node image, then the upgrade pairs n-1 -> n, n-2 -> n', () => {
    const result = matrix('');
    expect(result.status, result.stderr).toBe(0);
    const to = versions.istio.default;
    const entry = (istio: string, from: string, label: string, slug: string) => ({
      ...{ istio, node_image: versions.kind.nodeImage, kubernetes },
      ...{ upgrade_from: from, label, slug },
    });
    const older = versions.istio.supported.filter((version) => version !== to);
    expect(older.length).toBeGreaterThan(0);
    expect(JSON.parse(result.stdout)).toEqual({
      include: [
        ...versions.istio.supported.map((v) => entry(v, '', v, `istio-${v}`)),
        ...older.map((v) => entry(to, v, `${v} -> ${to}`, `upgrade-${v}-to-${to}`)),
      ],
    });
  });

  it('uses the versions requested on workflow_dispatch instead', () => {
    const result = matrix(' 1.30.0, 1.29.0 ');
    expect(result.status, result.stderr).toBe(0);
    const { include } = JSON.parse(result.stdout) as {
      include: { istio: string; upgrade_from: string }[];
    };
    expect(include.map((entry) => entry.istio)).toEqual(['1.30.0', '1.29.0']);
    // Requested versions run as asked: no upgrade pairs beside them.
    expect(include.every((entry) => entry.upgrade_from === '')).toBe(true);
  });

  it('rejects a requested value that is not a version', () => {
    const result = matrix('1.30.0;curl evil');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('not an Istio version');
  });
});

describe.each(GITHUB_WORKFLOWS)('GitHub workflow %s', (path) => {
  const workflow = loadYaml(path);

  it("is valid against SchemaStore's github-workflow schema", () => {
    const verdict = compileSchema(loadGitHubWorkflowSchema())(workflow);
    expect(verdict.errors).toEqual([]);
    expect(verdict.valid).toBe(true);
  });

  it('is accepted by action-validator, which also resolves `needs`', () => {
    expect(validateWorkflow(readCi(path)).errors).toEqual([]);
  });

  it('uploads reports/ with if: always()', () => {
    const upload = stepsOf(workflow).find((step) =>
      step.uses?.startsWith('actions/upload-artifact@'),
    );
    expect(upload?.if).toBe('always()');
    expect(upload?.with?.path).toBe('reports/');
  });

  it('publishes the JUnit file as a check, also after a failure', () => {
    const junit = stepsOf(workflow).find((step) =>
      step.uses?.startsWith('mikepenz/action-junit-report@'),
    );
    expect(junit?.if).toBe('always()');
    expect(junit?.with?.report_paths).toBe('reports/junit.xml');
  });

  it('grants only contents: read and checks: write', () => {
    expect(workflow.permissions).toEqual({ contents: 'read', checks: 'write' });
    for (const [, job] of jobsOf(workflow)) {
      for (const [scope, access] of Object.entries(job.permissions ?? {})) {
        expect((workflow.permissions as Record<string, string>)[scope]).toBeDefined();
        expect(access === 'read' || access === 'none' || access === 'write').toBe(true);
      }
    }
  });

  it('bounds every job and serialises runs with a concurrency group', () => {
    expect(workflow.concurrency).toMatchObject({ group: expect.any(String) as string });
    for (const [name, job] of jobsOf(workflow)) {
      expect(job['timeout-minutes'], `job ${name}`).toBeGreaterThan(0);
    }
  });

  it('pins every action to a full commit SHA', () => {
    for (const step of stepsOf(workflow).filter((s) => s.uses !== undefined)) {
      expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    }
  });

  it('passes secrets and inputs to scripts only through env (no ${{ }} in run)', () => {
    for (const step of stepsOf(workflow).filter((s) => s.run !== undefined)) {
      expect(step.run).not.toContain('${{');
    }
  });

  it('has run scripts that bash can parse', () => {
    for (const step of stepsOf(workflow).filter((s) => s.run !== undefined)) {
      expect(bashSyntaxError(step.run ?? ''), step.name ?? step.run).toBeUndefined();
    }
  });
});

describe('GitHub nightly workflow', () => {
  const workflow = loadYaml('github/egress-conformance-nightly.yml');
  const on = workflow.on as Json;
  const steps = stepsOf(workflow);

  it('runs on a schedule and on demand with Istio versions and suites as inputs', () => {
    expect(on.schedule).toEqual([{ cron: expect.any(String) as string }]);
    const dispatch = on.workflow_dispatch as { inputs: Json };
    expect(Object.keys(dispatch.inputs)).toEqual(['istio_versions', 'suites']);
  });

  it('sets up Node 24, installs with npm ci and raises the inotify limits kind needs', () => {
    expect(
      steps.find((s) => s.uses?.startsWith('actions/setup-node@'))?.with?.['node-version'],
    ).toBe(24);
    expect(steps.some((s) => s.run?.startsWith('npm ci'))).toBe(true);
    expect(steps.some((s) => /fs\.inotify\.max_user_watches=524288/.test(s.run ?? ''))).toBe(true);
  });
});

describe('acceptance gate workflow', () => {
  const workflow = loadYaml('acceptance-gate/egress-conformance-gate.yml');

  it('hands the kubeconfig secret to run-gate.sh through env only', () => {
    const gate = stepsOf(workflow).find((s) => s.run?.includes('run-gate.sh'));
    expect(gate?.env?.EGRESS_CONFORMANCE_KUBECONFIG).toBe(
      '${{ secrets.EGRESS_CONFORMANCE_KUBECONFIG }}',
    );
    const text = readCi('acceptance-gate/egress-conformance-gate.yml');
    expect(text.match(/secrets\.EGRESS_CONFORMANCE_KUBECONFIG/g)).toHaveLength(1);
  });
});

describe('calling the acceptance gate as a reusable workflow', () => {
  // GitHub docs, "Reuse workflows": the GITHUB_TOKEN permissions passed from the caller can
  // only be downgraded by the called workflow. A caller that grants less than the gate asks
  // for makes GitHub refuse the run before any step ("is requesting 'checks: write', but is
  // only allowed 'checks: none'").
  const gate = loadYaml('acceptance-gate/egress-conformance-gate.yml');
  const requested: Record<string, string> = { ...(gate.permissions as Record<string, string>) };
  for (const [, job] of jobsOf(gate)) Object.assign(requested, job.permissions ?? {});
  const rank = (access: string | undefined) => ['none', 'read', 'write'].indexOf(access ?? 'none');
  const grantsAll = (granted: Record<string, string> | undefined) =>
    Object.entries(requested).filter(([scope, access]) => rank(granted?.[scope]) < rank(access));

  it.each(GITHUB_CALLERS)('%s is valid and grants every permission the gate requests', (path) => {
    const caller = loadYaml(path);
    const verdict = compileSchema(loadGitHubWorkflowSchema())(caller);
    expect(verdict.errors).toEqual([]);
    expect(verdict.valid).toBe(true);
    expect(validateWorkflow(readCi(path)).errors).toEqual([]);
    const calls = jobsOf(caller).filter(([, job]) =>
      String((job as { uses?: string }).uses).endsWith('egress-conformance-gate.yml'),
    );
    expect(calls.length).toBeGreaterThan(0);
    for (const [name, job] of calls) {
      expect(grantsAll(job.permissions), `job ${name} lacks`).toEqual([]);
    }
  });

  const examples: [string, string][] = [
    [
      'the header of egress-conformance-gate.yml',
      readCi('acceptance-gate/egress-conformance-gate.yml')
        .split('\n')
        .filter((line) => line.startsWith('#   '))
        .map((line) => line.slice(4))
        .join('\n'),
    ],
    [
      'ci/README.md',
      /^( *)```yaml\n(\1jobs:\n[\s\S]*?egress-conformance-gate\.yml[\s\S]*?)```/m
        .exec(readCi('README.md'))?.[2]
        ?.replace(/^ {3}/gm, '') ?? '',
    ],
  ];
  it.each(examples)('the calling example in %s grants them too', (_where, text) => {
    const example = parse(text) as { jobs?: Record<string, Job> };
    const jobs = Object.values(example.jobs ?? {});
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) expect(grantsAll(job.permissions)).toEqual([]);
  });
});

describe.each(GITLAB_PIPELINES)('GitLab pipeline %s', (path) => {
  const pipeline = loadYaml(path);
  const job = pipeline['egress-conformance'] as Json;

  it("is valid against GitLab's CI schema", () => {
    // GitLab's schema has no remote $refs, so it compiles offline as published.
    const verdict = compileSchema(loadGitLabCiSchema())(pipeline);
    expect(verdict.errors).toEqual([]);
    expect(verdict.valid).toBe(true);
  });

  it('keeps reports/ and the JUnit report whether the job passes or fails', () => {
    expect(job.artifacts).toMatchObject({
      when: 'always',
      paths: ['reports/'],
      reports: { junit: 'reports/junit.xml' },
    });
  });

  it('runs on pipeline schedules', () => {
    expect(job.rules).toContainEqual({ if: '$CI_PIPELINE_SOURCE == "schedule"' });
  });

  it('has scripts that bash can parse', () => {
    const script = [...(job.before_script as string[]), ...(job.script as string[])].join('\n');
    expect(bashSyntaxError(script)).toBeUndefined();
  });
});

describe.each(SCRIPTS)('script %s', (path) => {
  it('parses with bash', () => {
    expect(bashSyntaxError(readCi(path))).toBeUndefined();
  });
});

describe('RBAC for the existing-cluster mode', () => {
  interface Rule {
    apiGroups?: string[];
    resources?: string[];
    verbs?: string[];
    resourceNames?: string[];
    nonResourceURLs?: string[];
  }
  interface KubernetesObject {
    apiVersion?: string;
    kind?: string;
    metadata: { name: string; namespace?: string };
    rules?: Rule[];
    roleRef?: Json;
    subjects?: Json[];
  }
  const documents = parseAllDocuments(readCi('rbac/egress-conformance-rbac.yaml')).map(
    (document) => document.toJS() as KubernetesObject,
  );
  const byKind = (kind: string) => documents.filter((document) => document.kind === kind);
  const rules = byKind('ClusterRole')[0]?.rules ?? [];

  it('contains only known kinds at their API versions', () => {
    const known: Record<string, string> = {
      Namespace: 'v1',
      ServiceAccount: 'v1',
      ClusterRole: 'rbac.authorization.k8s.io/v1',
      ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
    };
    expect(documents.map((document) => document.kind).sort()).toEqual(Object.keys(known).sort());
    for (const document of documents) {
      expect(document.apiVersion, String(document.kind)).toBe(known[String(document.kind)]);
    }
  });

  it('lists apiGroups, resources and verbs in every rule, with no wildcard', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(rule.apiGroups?.length).toBeGreaterThan(0);
      expect(rule.resources?.length).toBeGreaterThan(0);
      expect(rule.verbs?.length).toBeGreaterThan(0);
      expect(rule.nonResourceURLs).toBeUndefined();
      for (const value of [
        ...(rule.apiGroups ?? []),
        ...(rule.resources ?? []),
        ...(rule.verbs ?? []),
      ]) {
        expect(value).not.toContain('*');
      }
    }
  });

  it('grants exactly what the harness does', () => {
    const granted: Record<string, string[]> = {};
    for (const rule of rules) {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const key = `${group || 'core'}/${resource}`;
          granted[key] = [...(granted[key] ?? []), ...(rule.verbs ?? [])].sort();
        }
      }
    }
    const write = ['create', 'delete', 'get', 'list', 'patch'];
    expect(granted).toEqual({
      'core/namespaces': ['create', 'delete', 'get', 'list', 'patch', 'watch'],
      'core/pods': ['delete', 'get', 'list'],
      'core/pods/log': ['get'],
      'core/pods/exec': ['create', 'get'],
      'core/events': ['list'],
      'apps/deployments': write,
      'apps/daemonsets': ['list'],
      'core/serviceaccounts': ['create', 'delete', 'get', 'patch'],
      'core/services': ['get', 'list'],
      'core/configmaps': ['get', 'list'],
      'networking.k8s.io/networkpolicies': write,
      'networking.istio.io/serviceentries': write,
      'networking.istio.io/gateways': write,
      'networking.istio.io/virtualservices': write,
      'networking.istio.io/destinationrules': write,
      'networking.istio.io/sidecars': write,
      'telemetry.istio.io/telemetries': ['get', 'list'],
      'authorization.k8s.io/selfsubjectaccessreviews': ['create'],
    });
  });

  it('binds the role to the ServiceAccount in the namespace the file creates', () => {
    const namespace = byKind('Namespace')[0]?.metadata.name;
    const serviceAccount = byKind('ServiceAccount')[0]?.metadata;
    const binding = byKind('ClusterRoleBinding')[0];
    expect(namespace).toBe('egress-conformance-system');
    expect(serviceAccount).toMatchObject({ name: 'egress-conformance', namespace });
    expect(binding?.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: byKind('ClusterRole')[0]?.metadata.name,
    });
    expect(binding?.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'egress-conformance', namespace },
    ]);
  });
});

describe('acceptance gate script (run-gate.sh) with a stand-in CLI', () => {
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'users:',
    '- name: gate',
    '  user:',
    '    token: do-not-print-this-token',
  ].join('\n');

  /** Runs the gate with the CLI replaced by a stub that records its arguments and exits `cliExit`. */
  function runGate(env: Record<string, string>, cliExit = 0) {
    const work = mkdtempSync(join(tmpdir(), 'egress-gate-test-'));
    const record = join(work, 'record');
    const stub = join(work, 'egress-conformance');
    writeFileSync(
      stub,
      [
        '#!/usr/bin/env bash',
        `printf '%s\\n' "$@" > '${record}.args'`,
        'while [[ $# -gt 0 ]]; do',
        `  if [[ "$1" == --kubeconfig ]]; then stat -c %a "$2" > '${record}.mode'; cp "$2" '${record}.kubeconfig'; echo "$2" > '${record}.path'; fi`,
        '  shift',
        'done',
        `exit ${cliExit}`,
      ].join('\n'),
    );
    chmodSync(stub, 0o755);
    const result = spawnSync('bash', [join(ciDir, 'acceptance-gate/run-gate.sh')], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: work,
        TMPDIR: work,
        EGRESS_CONFORMANCE_CLI: stub,
        ...env,
      },
    });
    const read = (suffix: string) =>
      existsSync(`${record}.${suffix}`)
        ? readFileSync(`${record}.${suffix}`, 'utf8').trim()
        : undefined;
    return {
      status: result.status,
      output: result.stdout + result.stderr,
      args: read('args')?.split('\n'),
      mode: read('mode'),
      kubeconfig: read('kubeconfig'),
      kubeconfigPath: read('path'),
    };
  }

  const base = {
    EGRESS_CONFORMANCE_EXTERNAL_HOST: 'api.example.com',
    EGRESS_CONFORMANCE_KUBECONFIG: kubeconfig,
  };

  it('runs the existing-cluster mode against the approved host with a private kubeconfig', () => {
    const gate = runGate({ ...base, EGRESS_CONFORMANCE_SUITES: 'http-gateway,dr-lookup' });
    expect(gate.status).toBe(0);
    expect(gate.args).toEqual(
      expect.arrayContaining([
        '--cluster',
        'existing',
        '--existing-cluster-ok',
        'host:api.example.com',
      ]),
    );
    expect(gate.args?.filter((arg) => arg === '--suite')).toHaveLength(2);
    expect(gate.mode).toBe('600');
    expect(gate.kubeconfig).toBe(kubeconfig);
    expect(existsSync(gate.kubeconfigPath ?? '')).toBe(false);
    expect(gate.output).toContain('passed');
  });

  it('never prints the kubeconfig', () => {
    for (const exit of [0, 1, 2]) {
      expect(runGate(base, exit).output).not.toContain('do-not-print-this-token');
    }
  });

  it('accepts a base64-encoded kubeconfig secret', () => {
    const gate = runGate({
      ...base,
      EGRESS_CONFORMANCE_KUBECONFIG: Buffer.from(kubeconfig).toString('base64'),
    });
    expect(gate.status).toBe(0);
    expect(gate.kubeconfig).toBe(kubeconfig);
  });

  it('fails the gate on a behaviour failure (exit 1)', () => {
    const gate = runGate(base, 1);
    expect(gate.status).toBe(1);
    expect(gate.output).toContain('egress-conformance gate: FAILED');
  });

  it('tells an environment error (exit 2) apart from a behaviour failure', () => {
    const gate = runGate(base, 2);
    expect(gate.status).toBe(2);
    expect(gate.output).toContain('egress-conformance gate: ENVIRONMENT ERROR');
    expect(gate.output).toContain('says nothing yet about egress behaviour');
  });

  it('writes GitHub annotations when run by GitHub Actions', () => {
    expect(runGate({ ...base, GITHUB_ACTIONS: 'true' }, 1).output).toContain(
      '::error title=egress-conformance gate: FAILED::',
    );
  });

  it('refuses a missing kubeconfig or an external host that is not a DNS name, without running', () => {
    const noKubeconfig = runGate({ EGRESS_CONFORMANCE_EXTERNAL_HOST: 'api.example.com' });
    expect(noKubeconfig.status).toBe(2);
    expect(noKubeconfig.args).toBeUndefined();
    const badHost = runGate({ ...base, EGRESS_CONFORMANCE_EXTERNAL_HOST: 'x; rm -rf /' });
    expect(badHost.status).toBe(2);
    expect(badHost.args).toBeUndefined();
    expect(badHost.output).toContain('not a DNS name');
  });
});
