// The nightshift command line end to end on the real Temporal dev server: the CLI runs as a child process (as an
// operator runs it) against a worker in this process. `release` starts a fleet rollout on a two-control-plane
// inventory; `sre list`, `sre status`, `sre pause` and `sre resume` answer with pure JSON on stdout; a usage error is
// one line on stderr with exit code 2 and nothing on stdout; `--help` prints on stdout.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { createWorkers, wireAdapters, type WorkerGroup, type Wiring } from '../../worker/worker';
import { controlPlaneStatusQuery, controlPlaneWorkflowId } from '../../workflows/messages';
import { devServerEnv } from '../helpers/temporalServers';
import { controlPlane, dailyWindow, LTS_RELEASE, org } from '../helpers/fleetHarness';

const ROOT = path.resolve(__dirname, '../..');
const TASK_QUEUE = 'cli-e2e';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-cli-'));
let env: TestWorkflowEnvironment;
let wiring: Wiring;
let worker: WorkerGroup;
let running: Promise<void>;
let cliEnv: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `nightshift <args>` as a child process (tsx's loader, no npm: npm's banner would go to stdout). */
function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/nightshift.ts', ...args],
      { cwd: ROOT, env: cliEnv, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The result of a command that must succeed, parsed from stdout, which must hold nothing but that JSON. */
async function json<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const run = await cli(...args);
  if (run.code !== 0) throw new Error(`nightshift ${args.join(' ')}: exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await devServerEnv();
  const inventory = path.join(dir, 'fleet.json');
  // Windows that open in six hours: both control planes wait for theirs, so pause and resume find them waiting.
  const window = dailyWindow('Europe/Berlin', Date.now() + 6 * 60 * 60_000);
  fs.writeFileSync(
    inventory,
    JSON.stringify({
      orgs: [org('org-acme'), org('org-beta')],
      controlPlanes: [controlPlane('cp-cli-a', { window }), controlPlane('cp-cli-b', { orgId: 'org-beta', window })],
    }),
  );
  fs.writeFileSync(path.join(dir, 'release.json'), JSON.stringify(LTS_RELEASE));
  const settings = {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    NIGHTSHIFT_INVENTORY: inventory,
    NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
    NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
    NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
    NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
  };
  // The CLI sees only these settings: none of the machine's own TEMPORAL_* or NIGHTSHIFT_* variables.
  cliEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEMPORAL|NIGHTSHIFT)_/.test(k))),
    ...settings,
  };
  const config = loadConfig(settings);
  wiring = await wireAdapters(config, () => undefined);
  // As `nightshift worker` runs: the control planes' task queue and the fleet rollouts' own (`release` starts there).
  worker = await createWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
    fleetTaskQueue: config.fleetTaskQueue,
    deps: wiring.deps,
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await wiring?.close();
  await env?.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits until visibility shows both control planes waiting for their window (it is eventually consistent). */
async function waitForWaiting(): Promise<void> {
  const query = "WorkflowType = 'controlPlane' AND ExecutionStatus = 'Running' AND UpgradeStage = 'waiting-for-window'";
  for (let i = 0; i < 150; i++) {
    const found: string[] = [];
    for await (const wf of env.client.workflow.list({ query })) found.push(wf.workflowId);
    if (found.length === 2) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the control planes did not reach waiting-for-window within 30 s');
}

it('starts a release, lists and inspects it as JSON, pauses and resumes a control plane; usage errors exit 2', async () => {
  const [started, usage, help] = await Promise.all([
    json('release', '--release', path.join(dir, 'release.json'), '--bake', '0', '-o', 'json'),
    cli('sre', 'pause', 'cp-cli-a', '--days', '2'),
    cli('sre', 'pause', '--help'),
  ]);
  expect(started).toMatchObject({ action: 'start', workflowId: 'fleet/lts-5.8.2', result: 'started' });
  expect(started.runId).toEqual(expect.any(String));

  // A usage error: one line naming the flag on stderr, nothing on stdout, exit code 2.
  expect(usage).toEqual({ code: 2, stdout: '', stderr: "nightshift: sre pause: unknown option '--days'\n" });
  expect(help.code).toBe(0);
  expect(help.stderr).toBe('');
  expect(help.stdout).toMatch(/^Usage: nightshift sre pause \[options\] \[control-plane\]/);
  expect(help.stdout).toContain('-o, --output <format>');

  await waitForWaiting();
  const [all, beta, table, missing] = await Promise.all([
    json<Record<string, string>[]>('sre', 'list', '-o', 'json'),
    json<Record<string, string>[]>('sre', 'list', '--org', 'org-beta', '-o', 'json'),
    cli('sre', 'list', '--release', 'lts-5.8.2'),
    cli('sre', 'status', 'cp-nobody', '-o', 'json'),
  ]);
  expect(all.map((r) => [r.kind, r.workflowId, r.releaseId])).toEqual([
    ['fleet', 'fleet/lts-5.8.2', 'lts-5.8.2'],
    ['control-plane', 'control-plane/cp-cli-a', 'lts-5.8.2'],
    ['control-plane', 'control-plane/cp-cli-b', 'lts-5.8.2'],
  ]);
  expect(all[1]).toMatchObject({ controlPlaneId: 'cp-cli-a', orgId: 'org-acme', stage: 'waiting-for-window' });
  expect(beta.map((r) => r.workflowId)).toEqual(['control-plane/cp-cli-b']);
  const lines = table.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^KIND +WORKFLOW ID +RELEASE +STAGE +ORG +WINDOW OPENS$/);
  expect(lines.at(-1)).toBe('1 fleet rollout(s), 2 control plane(s) with an upgrade');
  // Temporal says no: exit 1, one line, nothing on stdout.
  expect(missing).toEqual({
    code: 1,
    stdout: '',
    stderr: 'nightshift: no control-plane workflow: no release has been offered to cp-nobody yet\n',
  });

  const status = await json('sre', 'status', 'cp-cli-a', '-o', 'json');
  expect(status).toMatchObject({
    workflowId: 'control-plane/cp-cli-a',
    controlPlaneId: 'cp-cli-a',
    orgId: 'org-acme',
    upgrade: { releaseId: 'lts-5.8.2', stage: 'waiting-for-window', paused: false },
  });

  const handle = env.client.workflow.getHandle(controlPlaneWorkflowId('cp-cli-a'));
  const paused = async (want: boolean) => {
    for (let i = 0; i < 50; i++) {
      if ((await handle.query(controlPlaneStatusQuery)).upgrade?.paused === want) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`paused did not become ${want}`);
  };
  expect(await json('sre', 'pause', 'cp-cli-a', '--reason', 'cli e2e', '--by', 'jo', '-o', 'json')).toEqual({
    action: 'pause',
    workflowId: 'control-plane/cp-cli-a',
    result: 'signaled',
    request: { reason: 'cli e2e', by: 'jo' },
  });
  await paused(true);
  expect(await json('sre', 'resume', 'cp-cli-a', '--by', 'jo', '-o', 'json')).toEqual({
    action: 'resume',
    workflowId: 'control-plane/cp-cli-a',
    result: 'signaled',
    request: { by: 'jo' },
  });
  await paused(false);
});
