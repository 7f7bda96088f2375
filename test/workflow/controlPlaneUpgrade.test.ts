// controlPlaneUpgrade on the real time-skipping test server, with real adapters (simulated fleet over HTTP).
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { controlPlaneUpgrade } from '../../workflows';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  cancelSignal,
  deferUpdate,
  upgradeNowUpdate,
  pauseSignal,
  resumeSignal,
  statusQuery,
  upgradeWorkflowId,
  type UpgradeStatus,
} from '../../workflows/messages';
import type { Release } from '../../domain/release';
import { timeSkippingEnv } from '../helpers/temporalServers';
import { controlPlane, FleetHarness, LTS_RELEASE, org, weekdayIn } from '../helpers/fleetHarness';

const TASK_QUEUE = 'cpu-test';
const DAY = 24 * 60 * 60 * 1000;
const RECORD_DIR = process.env.RECORD_HISTORIES ? path.resolve(__dirname, '../replay/histories') : undefined;

let env: TestWorkflowEnvironment;
let worker: Worker;
let harness: FleetHarness;
let workerRun: Promise<void>;
let startMs: number;

const SECURITY: Release = {
  id: 'sec-5.3.9',
  kind: 'security',
  targets: { dashboard: '5.3.9', gateway: '5.3.9' },
  affected: '>=5.3.5 <5.3.9',
  notesUrl: 'https://tyk.io/docs/release-notes/5.3.9',
};

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await timeSkippingEnv();
  startMs = await env.currentTimeMs();
  const sixDaysOut = weekdayIn(startMs + 6 * DAY, 'America/New_York');
  harness = new FleetHarness({
    orgs: [org()],
    controlPlanes: [
      controlPlane('cp-six-days', {
        window: { timeZone: 'America/New_York', start: '02:00', durationMinutes: 240, weekly: { days: [sixDaysOut] } },
      }),
      controlPlane('cp-pause'),
      controlPlane('cp-pause-mid'),
      controlPlane('cp-cancel-early'),
      controlPlane('cp-cancel-late'),
      controlPlane('cp-temporal-cancel'),
      controlPlane('cp-fail-dashboard', { simulate: { faults: { dashboard: 'fail-after-upgrade' } } }),
      controlPlane('cp-fail-gateway', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
      controlPlane('cp-fail-dp', {
        dataPlanes: [
          { id: 'dp-us', version: '5.3.4' },
          { id: 'dp-ap', version: '5.3.4' },
        ],
        simulate: { faults: { 'dp-ap': 'fail-after-upgrade' } },
      }),
      controlPlane('cp-rollout-error', { simulate: { faults: { gateway: 'upgrade-error' } } }),
      controlPlane('cp-warn', { simulate: { faults: { gateway: 'warn-after-upgrade' } } }),
      controlPlane('cp-warn-cancel', { simulate: { faults: { gateway: 'warn-after-upgrade' } } }),
      controlPlane('cp-gone-at-end'),
      controlPlane('cp-degraded-restore', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
      controlPlane('cp-unhealthy', { simulate: { faults: { 'dp-eu': 'unreachable' } } }),
      controlPlane('cp-moved', {
        window: { timeZone: 'Asia/Kolkata', start: '01:30', durationMinutes: 180, weekly: { days: [sixDaysOut] } },
      }),
      controlPlane('cp-opt-out-later'),
      controlPlane('cp-not-opted', { autoUpgrade: false }),
      controlPlane('cp-hybrid', { hybrid: true }),
      controlPlane('cp-plugins', { plugins: true }),
      controlPlane('cp-current', { dashboard: { version: '5.8.2' }, gateway: { version: '5.8.2' }, dataPlanes: [] }),
      controlPlane('cp-non-lts', { dashboard: { version: '5.5.1' }, gateway: { version: '5.5.1' }, dataPlanes: [] }),
      controlPlane('cp-defer'),
      controlPlane('cp-defer-security', { dashboard: { version: '5.3.5' }, gateway: { version: '5.3.5' } }),
      controlPlane('cp-now', { tier: 'production' }),
      controlPlane('cp-blocked', { config: { use_db_app_configs: true } }),
      controlPlane('cp-migrated', { config: { analytics_config: { enable_geo_ip: true } } }),
      controlPlane('cp-patched', { dashboard: { version: '5.3.2' }, gateway: { version: '5.3.2' }, dataPlanes: [] }),
    ],
  });
  await harness.start({ rolloutMs: 150 });
  worker = await harness.createWorker(env, TASK_QUEUE);
  workerRun = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await harness?.close();
});

function start(
  controlPlaneId: string,
  release: Release = LTS_RELEASE,
): Promise<WorkflowHandle<typeof controlPlaneUpgrade>> {
  return env.client.workflow.start(controlPlaneUpgrade, {
    workflowId: upgradeWorkflowId(controlPlaneId, release.id),
    taskQueue: TASK_QUEUE,
    args: [{ controlPlaneId, release }],
  });
}

async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (!RECORD_DIR) return;
  fs.mkdirSync(RECORD_DIR, { recursive: true });
  const history = await handle.fetchHistory();
  fs.writeFileSync(path.join(RECORD_DIR, `${name}.json`), historyToJSON(history) + '\n');
}

/** Polls the status query (real time) until `predicate` holds. */
async function waitForStatus(
  handle: WorkflowHandle,
  predicate: (s: UpgradeStatus) => boolean,
  timeoutMs = 20_000,
): Promise<UpgradeStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await handle.query(statusQuery);
    if (predicate(s)) return s;
    if (Date.now() > deadline) throw new Error(`status never matched; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Lets server time run into the planned window while the test watches. Skips to a minute before the start, then
 * returns a running two-minute skip: the workflow wakes during it, and a pause (no timer) cannot make the server
 * jump further, as a pending result() would.
 */
async function skipIntoWindow(handle: WorkflowHandle): Promise<void> {
  const planned = await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
  await env.sleep(Date.parse(planned.window!.startAt) - (await env.currentTimeMs()) - 60_000);
  await env.sleep(120_000);
}

/** The reason a rejected Update gives (the validator's message), or fails the test if it was accepted. */
async function rejection(update: Promise<unknown>): Promise<string> {
  const err = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String(((err as Error).cause as Error | undefined)?.message);
}

async function versions(cpId: string, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map((id) => harness.version(cpId, id)));
}

async function failureOf(handle: WorkflowHandle): Promise<WorkflowFailedError> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

describe('controlPlaneUpgrade (time-skipping server)', () => {
  it('waits six days for the window, changes nothing before it, notices ahead, then upgrades in order', async () => {
    const handle = await start('cp-six-days');
    await env.sleep('5 days');
    const waiting = await handle.query(statusQuery);
    expect(waiting.stage).toBe('waiting-for-window');
    expect(await versions('cp-six-days', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    const notices = await harness.notices('cp-six-days');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled']);
    // The notice went out at least the development tier's one-day lead before the window.
    const windowStart = Date.parse(waiting.window!.startAt);
    expect(windowStart - startMs).toBeGreaterThanOrEqual(DAY);
    expect(windowStart - startMs).toBeGreaterThan(5 * DAY);
    expect(notices[0]!.text).toContain('America/New_York');
    expect(notices[0]!.text).toContain('UTC');

    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect(await versions('cp-six-days', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    const upgrades = result.status.steps.filter((s) => s.name.startsWith('upgrade')).map((s) => s.name);
    expect(upgrades).toEqual([
      'upgrade dashboard 5.3.4 → 5.8.2',
      'upgrade gateway 5.3.4 → 5.8.2',
      'upgrade data plane dp-eu 5.3.4 → 5.8.2',
    ]);
    expect(result.status.steps.every((s) => s.status === 'done')).toBe(true);
    expect((await harness.notices('cp-six-days')).map((n) => n.noticeKind)).toEqual(['scheduled', 'completed']);
    const desc = await handle.describe();
    expect(desc.typedSearchAttributes.get({ name: 'UpgradeStage', type: 'KEYWORD' } as never)).toBe('completed');
    await recordHistory(handle, 'completed');
  });

  it('holds at the window while paused and continues on resume', async () => {
    const handle = await start('cp-pause');
    await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    await handle.signal(pauseSignal, { reason: 'customer asked', by: 'sre-jo' });
    const planned = (await handle.query(statusQuery)).window!;
    await env.sleep(Date.parse(planned.startAt) - (await env.currentTimeMs()) + 60_000);
    const held = await handle.query(statusQuery);
    expect(held.paused).toBe(true);
    expect(held.pause).toMatchObject({ reason: 'customer asked', by: 'sre-jo' });
    expect(held.steps.some((s) => s.name.startsWith('upgrade'))).toBe(false);
    expect(await harness.version('cp-pause', 'dashboard')).toBe('5.3.4');
    await handle.signal(resumeSignal, {});
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect(result.status.paused).toBe(false);
    expect(await versions('cp-pause', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.8.2', '5.8.2', '5.8.2']);
  });

  it('pause during a step lets that step finish and holds before the next', async () => {
    const handle = await start('cp-pause-mid');
    const skipping = skipIntoWindow(handle);
    await waitForStatus(handle, (s) => s.stage === 'dashboard', 60_000);
    await handle.signal(pauseSignal, 'hold after the dashboard');
    const held = await waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name.startsWith('upgrade dashboard') && x.status === 'done'),
    );
    await new Promise((r) => setTimeout(r, 500));
    const still = await handle.query(statusQuery);
    expect(still.paused).toBe(true);
    expect(held.pause?.reason).toBe('hold after the dashboard');
    expect(still.steps.some((s) => s.name.startsWith('upgrade gateway'))).toBe(false);
    expect(await versions('cp-pause-mid', ['dashboard', 'gateway'])).toEqual(['5.8.2', '5.3.4']);
    await skipping;
    await handle.signal(resumeSignal);
    expect((await handle.result()).outcome).toBe('completed');
  });

  it('cancel before any change ends cleanly and tells the customer', async () => {
    const handle = await start('cp-cancel-early');
    await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    await handle.signal(cancelSignal, { reason: 'customer migration freeze', by: 'sre-jo' });
    const result = await handle.result();
    expect(result.outcome).toBe('cancelled');
    expect(result.status.cancel).toMatchObject({ reason: 'customer migration freeze', by: 'sre-jo' });
    expect(result.status.steps.some((s) => s.name.startsWith('roll back'))).toBe(false);
    const notices = await harness.notices('cp-cancel-early');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(notices[1]!.text).toContain('customer migration freeze');
    expect(harness.alerts('cp-cancel-early')).toEqual([]);
    await recordHistory(handle, 'cancelled-before-change');
  });

  it('cancel after a change rolls back first', async () => {
    const handle = await start('cp-cancel-late');
    const skipping = skipIntoWindow(handle);
    await waitForStatus(handle, (s) => s.stage === 'dashboard', 60_000);
    await handle.signal(pauseSignal);
    await waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name.startsWith('upgrade dashboard') && x.status === 'done'),
    );
    expect(await harness.version('cp-cancel-late', 'dashboard')).toBe('5.8.2');
    await skipping;
    await handle.signal(cancelSignal, { reason: 'bad timing' });
    const r = await handle.result();
    expect(r.outcome).toBe('cancelled');
    expect(r.status.steps.filter((s) => s.name.startsWith('roll back')).map((s) => [s.name, s.status])).toEqual([
      ['roll back dashboard to 5.3.4', 'done'],
    ]);
    expect(await versions('cp-cancel-late', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.3.4', '5.3.4', '5.3.4']);
    expect((await harness.notices('cp-cancel-late')).map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(harness.alerts('cp-cancel-late').map((a) => a.severity)).toEqual(['info']);
  });

  it('a Temporal cancellation request behaves like the cancel signal', async () => {
    const handle = await start('cp-temporal-cancel');
    const result = handle.result();
    await waitForStatus(handle, (s) => s.stage === 'gateway', 60_000);
    await handle.cancel();
    const r = await result;
    expect(r.outcome).toBe('cancelled');
    expect(r.status.reason).toContain('cancelled via Temporal');
    const rollbacks = r.status.steps.filter((s) => s.name.startsWith('roll back')).map((s) => s.name);
    expect(rollbacks[rollbacks.length - 1]).toBe('roll back dashboard to 5.3.4');
    expect(await versions('cp-temporal-cancel', ['dashboard', 'gateway', 'dp-eu'])).toEqual([
      '5.3.4',
      '5.3.4',
      '5.3.4',
    ]);
    await recordHistory(handle, 'cancelled-after-change');
  });

  it.each([
    ['cp-fail-dashboard', 'upgrade dashboard 5.3.4 → 5.8.2', ['roll back dashboard to 5.3.4']],
    [
      'cp-fail-gateway',
      'upgrade gateway 5.3.4 → 5.8.2',
      ['roll back gateway to 5.3.4', 'roll back dashboard to 5.3.4'],
    ],
    [
      'cp-fail-dp',
      'upgrade data plane dp-ap 5.3.4 → 5.8.2',
      [
        'roll back data plane dp-ap to 5.3.4',
        'roll back data plane dp-us to 5.3.4',
        'roll back gateway to 5.3.4',
        'roll back dashboard to 5.3.4',
      ],
    ],
  ])(
    '%s: a failed verification rolls back newest first, alerts and tells the customer',
    async (cpId, failedStep, rollbacks) => {
      const handle = await start(cpId);
      const err = await failureOf(handle);
      const cause = err.cause as Error & { type?: string; details?: unknown[] };
      expect(cause.type).toBe('UpgradeFailed');
      expect(cause.message).toContain(`${failedStep} failed`);
      // Tyk answered `fail` on the new version: compensation starts at once, the probes are the step's evidence.
      expect(cause.message).toContain('answered fail on 5.8.2: redis: fail');
      const failed = (await handle.query(statusQuery)).steps.find((s) => s.name === failedStep)!;
      expect(failed.status).toBe('failed');
      expect(failed.evidence?.at(-1)).toMatchObject({ status: 'fail', version: '5.8.2', httpStatus: 503 });
      const status = await handle.query(statusQuery);
      expect(status.stage).toBe('rolled-back');
      expect(status.outcome).toBe('rolled-back');
      expect(status.steps.filter((s) => s.name.startsWith('roll back')).map((s) => s.name)).toEqual(rollbacks);
      expect(status.steps.filter((s) => s.name.startsWith('roll back')).every((s) => s.status === 'done')).toBe(true);
      const ids = ['dashboard', 'gateway', ...(cpId === 'cp-fail-dp' ? ['dp-us', 'dp-ap'] : ['dp-eu'])];
      expect(new Set(await versions(cpId, ids))).toEqual(new Set(['5.3.4']));
      const alerts = harness.alerts(cpId);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]!.severity).toBe('error');
      expect(alerts[0]!.summary).toContain('rolled back');
      const notices = await harness.notices(cpId);
      expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'rolled-back']);
      if (cpId === 'cp-fail-gateway') await recordHistory(handle, 'rolled-back');
    },
  );

  it('a Tyk warn after a step pauses the upgrade and pages; resume re-verifies, continues and resolves the page', async () => {
    const handle = await start('cp-warn');
    const skipping = skipIntoWindow(handle);
    const paused = await waitForStatus(handle, (s) => s.paused && s.stage === 'gateway', 60_000);
    expect(paused.pause).toMatchObject({ by: 'nightshift health check' });
    expect(paused.pause!.reason).toContain(
      'health check warn after upgrading gateway to 5.8.2: warn on 5.8.2: redis: warn',
    );
    const gatewayStep = paused.steps.find((s) => s.name === 'upgrade gateway 5.3.4 → 5.8.2')!;
    expect(gatewayStep.status).toBe('running');
    expect(gatewayStep.evidence?.at(-1)).toMatchObject({ status: 'warn', version: '5.8.2' });
    // Held: nothing after the gateway starts, nothing is rolled back, the SRE is paged once.
    await new Promise((r) => setTimeout(r, 300));
    const held = await handle.query(statusQuery);
    expect(held.steps.some((s) => s.name.startsWith('upgrade data plane') || s.name.startsWith('roll back'))).toBe(
      false,
    );
    expect(await versions('cp-warn', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.8.2', '5.8.2', '5.3.4']);
    const page = harness.alerts('cp-warn');
    expect(page).toEqual([expect.objectContaining({ severity: 'critical', action: 'trigger' })]);
    expect(page[0]!.summary).toContain('PAUSED');

    // The SRE fixes redis and resumes: the soak runs again, passes, and the page is resolved with the same key.
    harness.fleet.setFault('cp-warn', 'gateway', null);
    await skipping;
    await handle.signal(resumeSignal, { reason: 'redis fixed', by: 'sre-jo' });
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    const done = result.status.steps.find((s) => s.name === 'upgrade gateway 5.3.4 → 5.8.2')!;
    expect(done.status).toBe('done');
    expect(done.evidence!.filter((p) => p.status === 'pass' && p.version === '5.8.2').length).toBeGreaterThanOrEqual(2);
    const alerts = harness.alerts('cp-warn');
    // Its own incident: a later failure of the same upgrade must page afresh, not land in an acknowledged one.
    const healthKey = `${upgradeWorkflowId('cp-warn', LTS_RELEASE.id)}/health`;
    expect(alerts.map((a) => [a.action, a.severity, a.dedupKey])).toEqual([
      ['trigger', 'critical', healthKey],
      ['resolve', 'critical', healthKey],
    ]);
    expect(await versions('cp-warn', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    await recordHistory(handle, 'health-warn-resumed');
  });

  it('cancel while paused on a Tyk warn rolls back and resolves the page', async () => {
    const handle = await start('cp-warn-cancel');
    const skipping = skipIntoWindow(handle);
    await waitForStatus(handle, (s) => s.paused && s.stage === 'gateway', 60_000);
    await skipping;
    await handle.signal(cancelSignal, { reason: 'redis degraded, not now', by: 'sre-jo' });
    const r = await handle.result();
    expect(r.outcome).toBe('cancelled');
    expect(r.status.steps.filter((s) => s.name.startsWith('roll back')).map((s) => [s.name, s.status])).toEqual([
      ['roll back gateway to 5.3.4', 'done'],
      ['roll back dashboard to 5.3.4', 'done'],
    ]);
    expect(await versions('cp-warn-cancel', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.3.4']);
    const id = upgradeWorkflowId('cp-warn-cancel', LTS_RELEASE.id);
    expect(harness.alerts('cp-warn-cancel').map((a) => [a.action, a.severity, a.dedupKey])).toEqual([
      ['trigger', 'critical', `${id}/health`],
      ['resolve', 'critical', `${id}/health`],
      ['trigger', 'info', id],
    ]);
    expect(r.status.paused).toBe(false);
  });

  it('a component restored to its old version that answers warn is rolled back, and the alert says so', async () => {
    const handle = await start('cp-degraded-restore');
    const skipping = skipIntoWindow(handle);
    await waitForStatus(handle, (s) => s.stage === 'gateway', 60_000);
    // Redis behind the Dashboard degrades while the Gateway is upgraded (and fails): the Dashboard's rollback lands
    // on a component that is back on 5.3.4 but answers warn.
    harness.fleet.setFault('cp-degraded-restore', 'dashboard', 'degraded');
    await skipping;
    await failureOf(handle);
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('rolled-back');
    const dashboard = status.steps.find((s) => s.name === 'roll back dashboard to 5.3.4')!;
    expect(dashboard).toMatchObject({ status: 'done' });
    expect(dashboard.detail).toBe(
      'restored to 5.3.4, but health is warn on 5.3.4: redis: warn (simulated fault degraded: redis slow)',
    );
    const alerts = harness.alerts('cp-degraded-restore');
    expect(alerts.map((a) => a.severity)).toEqual(['error']);
    expect(alerts[0]!.summary).toContain('failed and was rolled back');
    expect(alerts[0]!.summary).toContain('after the rollback dashboard restored to 5.3.4, but health is warn');
    expect(alerts[0]!.summary).not.toContain('ROLLBACK INCOMPLETE');
    const notices = await harness.notices('cp-degraded-restore');
    expect(notices.at(-1)!.text).toContain('The previous versions are running again.');
  });

  it('an email that cannot be delivered after the change neither rolls back nor stops the upgrade', async () => {
    const handle = await start('cp-gone-at-end');
    const skipping = skipIntoWindow(handle);
    await waitForStatus(handle, (s) => s.stage === 'dashboard', 60_000);
    await handle.signal(pauseSignal, 'hold');
    await waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name.startsWith('upgrade dashboard') && x.status === 'done'),
    );
    // The customer's record disappears mid-upgrade: the completed notice has nobody to go to.
    harness.removeControlPlane('cp-gone-at-end');
    await skipping;
    await handle.signal(resumeSignal);
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect(result.status.steps.some((s) => s.name.startsWith('roll back'))).toBe(false);
    expect(result.status.deliveryFailures).toEqual([
      'customer notice: not delivered: cannot notify: control plane cp-gone-at-end is not in the inventory',
    ]);
    expect(await versions('cp-gone-at-end', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.8.2', '5.8.2', '5.8.2']);
  });

  it('a rollout the platform reports failed is not retried and is rolled back', async () => {
    const handle = await start('cp-rollout-error');
    const err = await failureOf(handle);
    expect(err.cause?.message).toContain('upgrade gateway 5.3.4 → 5.8.2 failed');
    expect(err.cause?.message).toContain('progress deadline exceeded');
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('rolled-back');
    // One attempt only: RolloutFailed is non-retryable.
    expect(status.steps.filter((s) => s.name.startsWith('upgrade gateway'))).toHaveLength(1);
    expect(status.steps.filter((s) => s.name.startsWith('roll back')).map((s) => s.name)).toEqual([
      'roll back gateway to 5.3.4',
      'roll back dashboard to 5.3.4',
    ]);
    expect(await versions('cp-rollout-error', ['dashboard', 'gateway', 'dp-eu'])).toEqual(['5.3.4', '5.3.4', '5.3.4']);
  });

  it('an unhealthy component at pre-flight stops the upgrade before any change', async () => {
    const handle = await start('cp-unhealthy');
    const err = await failureOf(handle);
    expect(err.cause?.message).toContain('pre-flight');
    expect(err.cause?.message).toContain('dp-eu: unreachable');
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('failed');
    expect(status.steps.some((s) => s.name.startsWith('upgrade') || s.name.startsWith('roll back'))).toBe(false);
    expect(harness.alerts('cp-unhealthy').map((a) => [a.severity, a.summary.includes('before any change')])).toEqual([
      ['error', true],
    ]);
    const notices = await harness.notices('cp-unhealthy');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(notices[1]!.text).toContain('Nothing was changed');
    expect(await versions('cp-unhealthy', ['dashboard', 'gateway'])).toEqual(['5.3.4', '5.3.4']);
  });

  it('re-plans and re-notifies when the customer moves the window while it waits', async () => {
    const handle = await start('cp-moved');
    const first = await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    const now = await env.currentTimeMs();
    const newDay = weekdayIn(now + 3 * DAY, 'Asia/Kolkata');
    harness.updateControlPlane('cp-moved', {
      window: { timeZone: 'Asia/Kolkata', start: '22:00', durationMinutes: 180, weekly: { days: [newDay] } },
    });
    await env.sleep('13 hours');
    const moved = await waitForStatus(handle, (s) => s.notices.some((n) => n.kind === 'rescheduled'));
    expect(moved.window!.startAt).not.toBe(first.window!.startAt);
    expect(moved.window!.localText).toContain('22:00');
    expect(moved.reason).toContain('does not leave');
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect((await harness.notices('cp-moved')).map((n) => n.noticeKind)).toEqual([
      'scheduled',
      'rescheduled',
      'completed',
    ]);
  });

  it('stops with a reason and tells the customer when Auto Upgrade is turned off while it waits', async () => {
    const handle = await start('cp-opt-out-later');
    await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    harness.updateControlPlane('cp-opt-out-later', { autoUpgrade: false });
    const result = await handle.result();
    expect(result.outcome).toBe('skipped');
    expect(result.status.skipReason).toBe('not-opted-in');
    expect((await harness.notices('cp-opt-out-later')).map((n) => n.noticeKind)).toEqual(['scheduled', 'cancelled']);
    expect(await harness.version('cp-opt-out-later', 'dashboard')).toBe('5.3.4');
  });

  it.each([
    ['cp-not-opted', LTS_RELEASE, 'not-opted-in'],
    ['cp-hybrid', LTS_RELEASE, 'hybrid'],
    ['cp-plugins', LTS_RELEASE, 'plugins'],
    ['cp-current', LTS_RELEASE, 'already-at-target'],
    ['cp-non-lts', LTS_RELEASE, 'not-on-older-lts-line'],
    ['cp-patched', SECURITY, 'not-affected'],
    ['cp-missing', LTS_RELEASE, 'control-plane-not-found'],
  ] as const)('%s is skipped (%s) with no change and no email', async (cpId, release, reason) => {
    const handle = await start(cpId, release);
    const result = await handle.result();
    expect(result.outcome).toBe('skipped');
    expect(result.status.skipReason).toBe(reason);
    expect(result.status.reason).toBeTruthy();
    expect(result.status.notices).toEqual([]);
    expect(await harness.notices(cpId)).toEqual([]);
    if (reason === 'hybrid') await recordHistory(handle, 'skipped');
  });

  it('a customer deferral re-plans past the deferred days, re-notifies and is limited to two for LTS', async () => {
    const handle = await start('cp-defer');
    const first = await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    const before = Date.parse(first.window!.startAt);
    const accepted = await handle.executeUpdate(deferUpdate, { args: [{ days: 3, reason: 'launch week', by: 'ada' }] });
    expect(Date.parse(accepted.window.startAt)).toBeGreaterThanOrEqual(before + 3 * DAY);
    expect(accepted.deferralsLeft).toBe(1);
    expect(await rejection(handle.executeUpdate(deferUpdate, { args: [{ days: 9 }] }))).toBe(
      'days = 9: a whole number of days from 1 to 7',
    );
    await handle.executeUpdate(deferUpdate, { args: [{ days: 1 }] });
    expect(await rejection(handle.executeUpdate(deferUpdate, { args: [{ days: 1 }] }))).toBe(
      'no deferrals left: all 2 allowed for this release are used',
    );
    const st = await handle.query(statusQuery);
    expect(st.deferrals).toEqual([
      expect.objectContaining({ days: 3, reason: 'launch week', by: 'ada' }),
      expect.objectContaining({ days: 1 }),
    ]);
    const kinds = (await harness.notices('cp-defer')).map((n) => n.noticeKind);
    expect(kinds).toEqual(['scheduled', 'rescheduled', 'rescheduled']);
    expect((await harness.notices('cp-defer'))[1]!.text).toContain('Deferred by 3 day(s) at your request: launch week');
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect(Date.parse(result.status.window!.startAt)).toBeGreaterThanOrEqual(before + 4 * DAY);
    await recordHistory(handle, 'deferred');
  });

  it('security releases cannot be deferred; the caller gets the reason and nothing changes', async () => {
    const handle = await start('cp-defer-security', SECURITY);
    const planned = await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    expect(await rejection(handle.executeUpdate(deferUpdate, { args: [{ days: 1 }] }))).toBe(
      'security releases cannot be deferred (sec-5.3.9 is security)',
    );
    const after = await handle.query(statusQuery);
    expect(after.window).toEqual(planned.window);
    expect(after.deferrals).toEqual([]);
    await handle.signal(cancelSignal, 'test over');
    expect((await handle.result()).outcome).toBe('cancelled');
  });

  it('upgradeNow skips a production week of notice, sends a starting notice first and records who asked', async () => {
    const handle = await start('cp-now');
    const planned = await waitForStatus(handle, (s) => s.stage === 'waiting-for-window');
    expect(Date.parse(planned.window!.startAt) - (await env.currentTimeMs())).toBeGreaterThan(6 * DAY);
    const ack = await handle.executeUpdate(upgradeNowUpdate, { args: [{ reason: 'CVE-2026-1234', by: 'sre-kim' }] });
    expect(ack).toEqual({ accepted: true, from: 'waiting-for-window' });
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect(result.status.override).toMatchObject({ reason: 'CVE-2026-1234', by: 'sre-kim' });
    // Upgraded well before the planned window (the server's clock may have skipped on since, so compare steps).
    const lastStep = Math.max(...result.status.steps.map((x) => Date.parse(x.endedAt!)));
    expect(Date.parse(planned.window!.startAt) - lastStep).toBeGreaterThan(5 * DAY);
    const notices = await harness.notices('cp-now');
    expect(notices.map((n) => n.noticeKind)).toEqual(['scheduled', 'starting', 'completed']);
    expect(notices[1]!.text).toContain('CVE-2026-1234');
    await recordHistory(handle, 'upgrade-now');
    // A finished upgrade takes no more overrides.
    await expect(handle.executeUpdate(upgradeNowUpdate, { args: [{ by: 'x' }] })).rejects.toThrow();
  });

  it('a removed configuration key blocks the upgrade: nothing changes, the customer and SRE are told what to do', async () => {
    const result = await start('cp-blocked').then((h) => h.result());
    expect(result.outcome).toBe('skipped');
    expect(result.status.skipReason).toBe('config-incompatible');
    expect(result.status.reason).toContain('use_db_app_configs');
    const notices = await harness.notices('cp-blocked');
    expect(notices.map((n) => n.noticeKind)).toEqual(['action-needed']);
    expect(notices[0]!.text).toContain('use_db_app_configs');
    expect(harness.alerts('cp-blocked')).toEqual([expect.objectContaining({ severity: 'warning' })]);
    expect(await harness.version('cp-blocked', 'gateway')).toBe('5.3.4');
  });

  it('a renamed configuration key is migrated with the gateway upgrade', async () => {
    const result = await start('cp-migrated').then((h) => h.result());
    expect(result.outcome).toBe('completed');
    const gw = result.status.changes.find((c) => c.component.id === 'gateway')!;
    expect(gw.configMigrations).toEqual([
      expect.objectContaining({ key: 'analytics_config.enable_geo_ip', to: 'analytics_config.geo_ip.enabled' }),
    ]);
    const snap = await harness.platform.snapshot({ controlPlaneId: 'cp-migrated', kind: 'gateway', id: 'gateway' });
    expect(snap.config).toEqual({ analytics_config: { geo_ip: { enabled: true } } });
  });
});
