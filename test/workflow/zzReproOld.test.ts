// THROWAWAY: reproduces issue #10 against the old controlPlaneUpgrade workflow. Deleted after the run.
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { controlPlaneUpgrade } from '../../workflows';
import { cancelSignal, statusQuery, upgradeWorkflowId, type UpgradeStatus } from '../../workflows/messages';
import type { Release } from '../../domain/release';
import type { EmailMessage, NotifierPort } from '../../activities/ports';
import { timeSkippingEnv } from '../helpers/temporalServers';
import { controlPlane, FleetHarness, org } from '../helpers/fleetHarness';

const TASK_QUEUE = 'repro-old';
let env: TestWorkflowEnvironment;
let worker: Worker;
let harness: FleetHarness;
let workerRun: Promise<void>;

const R581: Release = { id: 'lts-5.8.1', kind: 'lts', targets: { dashboard: '5.8.1', gateway: '5.8.1' }, notesUrl: 'https://tyk.io/docs/release-notes/5.8.1' };
const R582: Release = { id: 'lts-5.8.2', kind: 'lts', targets: { dashboard: '5.8.2', gateway: '5.8.2' }, notesUrl: 'https://tyk.io/docs/release-notes/5.8.2' };

class FlakyNotifier implements NotifierPort {
  readonly channel = 'outbox';
  readonly failing = new Set<string>();
  readonly refused: string[] = [];
  constructor(private readonly inner: NotifierPort) {}
  async send(m: EmailMessage) {
    const k = `${m.properties.control_plane_id}/${m.noticeKind}`;
    if (this.failing.has(k)) {
      this.refused.push(k);
      throw new Error(`mail relay unavailable (test) for ${k}`);
    }
    return this.inner.send(m);
  }
}
let flaky: FlakyNotifier;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await timeSkippingEnv();
  harness = new FleetHarness({ orgs: [org()], controlPlanes: [controlPlane('cp-fin'), controlPlane('cp-cancel-sig'), controlPlane('cp-two')] });
  await harness.start({ rolloutMs: 150 });
  flaky = new FlakyNotifier(harness.deps.notifier);
  harness.deps.notifier = flaky;
  worker = await harness.createWorker(env, TASK_QUEUE);
  workerRun = worker.run();
});
beforeEach(async () => console.log('T start', new Date(await env.currentTimeMs()).toISOString()));
afterEach(async () => console.log('T end', new Date(await env.currentTimeMs()).toISOString()));
afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await harness?.close();
});

async function waitFor(h: WorkflowHandle, p: (s: UpgradeStatus) => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await h.query(statusQuery);
    if (p(s)) return s;
    if (Date.now() > deadline) throw new Error('never: ' + JSON.stringify({ stage: s.stage, outcome: s.outcome }));
    await new Promise((r) => setTimeout(r, 20));
  }
}
async function intoWindow(hs: WorkflowHandle[]) {
  const planned = await Promise.all(hs.map((h) => waitFor(h, (s) => s.stage === 'waiting-for-window')));
  const start = Math.max(...planned.map((p) => Date.parse(p.window!.startAt)));
  await env.sleep(start - (await env.currentTimeMs()) - 60_000);
  return env.sleep(120_000);
}
const versions = (cp: string) => Promise.all(['dashboard', 'gateway', 'dp-eu'].map((id) => harness.version(cp, id)));
const stepLine = (s: UpgradeStatus) => s.steps.map((x) => `${x.name} [${x.status}]${x.detail ? ' ' + x.detail.slice(0, 140) : ''}`);

it('OLD: Temporal cancel while the completion email is retried', async () => {
  flaky.failing.add('cp-fin/completed');
  const h = await env.client.workflow.start(controlPlaneUpgrade, { workflowId: upgradeWorkflowId('cp-fin', R582.id), taskQueue: TASK_QUEUE, args: [{ controlPlaneId: 'cp-fin', release: R582 }] });
  const skipping = intoWindow([h]);
  const done = await waitFor(h, (s) => s.outcome === 'completed');
  await skipping;
  await waitFor(h, () => flaky.refused.length > 0);
  console.log('before cancel', JSON.stringify({ outcome: done.outcome, stage: done.stage, versions: await versions('cp-fin') }));
  console.log('T before cancel', new Date(await env.currentTimeMs()).toISOString());
  await h.cancel();
  const r = await h.result().then((x) => x, (e: unknown) => ({ error: String(e) }));
  console.log('T after result', new Date(await env.currentTimeMs()).toISOString());
  const s = await h.query(statusQuery);
  console.log('OLD finished-then-Temporal-cancel', JSON.stringify({ result: 'outcome' in r ? r.outcome : r, outcome: s.outcome, reason: s.reason, versions: await versions('cp-fin'), notices: (await harness.notices('cp-fin')).map((n) => n.noticeKind), alerts: harness.alerts('cp-fin').map((a) => `${a.severity}: ${a.summary}`), steps: stepLine(s) }, null, 1));
  flaky.failing.clear();
});

it('OLD: cancel signal while the completion email is retried', async () => {
  flaky.failing.add('cp-cancel-sig/completed');
  const h = await env.client.workflow.start(controlPlaneUpgrade, { workflowId: upgradeWorkflowId('cp-cancel-sig', R582.id), taskQueue: TASK_QUEUE, args: [{ controlPlaneId: 'cp-cancel-sig', release: R582 }] });
  const skipping = intoWindow([h]);
  await waitFor(h, (s) => s.outcome === 'completed');
  await skipping;
  await h.signal(cancelSignal, { reason: 'too late', by: 'sre' });
  await new Promise((r) => setTimeout(r, 1000));
  const s = await h.query(statusQuery);
  console.log('OLD finished-then-cancel-signal', JSON.stringify({ outcome: s.outcome, stage: s.stage, cancel: s.cancel, versions: await versions('cp-cancel-sig'), notices: (await harness.notices('cp-cancel-sig')).map((n) => n.noticeKind), alerts: harness.alerts('cp-cancel-sig').map((a) => a.summary) }, null, 1));
  flaky.failing.clear();
  await h.terminate('repro over');
});

it('OLD: two releases, two workflows for one control plane', async () => {
  const older = await env.client.workflow.start(controlPlaneUpgrade, { workflowId: upgradeWorkflowId('cp-two', R581.id), taskQueue: TASK_QUEUE, args: [{ controlPlaneId: 'cp-two', release: R581 }] });
  const newer = await env.client.workflow.start(controlPlaneUpgrade, { workflowId: upgradeWorkflowId('cp-two', R582.id), taskQueue: TASK_QUEUE, args: [{ controlPlaneId: 'cp-two', release: R582 }] });
  const skipping = intoWindow([older, newer]);
  const [a, b] = await Promise.all([older, newer].map((h) => waitFor(h, (s) => s.outcome !== undefined, 90_000)));
  await skipping;
  console.log('OLD two workflows', JSON.stringify({ older: { outcome: a!.outcome, reason: a!.reason, steps: stepLine(a!) }, newer: { outcome: b!.outcome, reason: b!.reason, steps: stepLine(b!) }, finalVersions: await versions('cp-two'), notices: (await harness.notices('cp-two')).map((n) => `${n.noticeKind} ${n.key}`), alerts: harness.alerts('cp-two').map((a) => `${a.severity}: ${a.summary.slice(0, 200)}`) }, null, 1));
});
