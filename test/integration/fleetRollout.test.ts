// fleetRollout with the real control-plane workflows on the real dev server, for what needs Temporal visibility (the
// time-skipping server has none): a newer LTS release supersedes an older rollout of its line; a security release does
// not take over an LTS rollout, and the control planes it could not list yet get it by the follow-up once they are on
// the affected line; the catch-up workflow offers open releases to late opt-ins and control planes added after the
// listing; the catch-up Schedule. Each test gets its own dev server: catch-up and the follow-up see every open release
// of the namespace.
import fs from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { ComponentRef } from '../../domain/model';
import type { Release } from '../../domain/release';
import type { RolloutPolicyInput } from '../../domain/rollout';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import { TemporalRolloutDirectory } from '../../integrations/temporalRolloutDirectory';
import { CATCH_UP_SCHEDULE_ID, CATCH_UP_WORKFLOW_ID, ensureCatchUpSchedule } from '../../client/catchUpSchedule';
import { startFleetUpgrade } from '../../client/startFleet';
import { workflowsPath } from '../../worker/worker';
import { workflowBundleOptions } from '../../worker/workflowBundle';
import { catchUp, type fleetRollout } from '../../workflows';
import type { CatchUpResult } from '../../workflows/catchUp';
import {
  cancelSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  upgradeNowUpdate,
  type ControlPlaneStatus,
  type FleetStatus,
} from '../../workflows/messages';
import { controlPlane, FleetHarness, org, TEST_POLICY, weekdayIn, type InventoryInput } from '../helpers/fleetHarness';
import { recordHistory } from '../helpers/recordHistory';
import { devServerEnv } from '../helpers/temporalServers';

const TASK_QUEUE = 'fleet-rollout-dev';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const DAY_MINUTES = 24 * 60;

/** HH:MM of an instant in Berlin, as the inventory's window start. */
function berlinClock(ms: number): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Berlin',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(ms));
}

/** A window open now (from an hour ago, ten hours long), every day: an upgrade without notice starts at once. */
const openWindow = {
  timeZone: 'Europe/Berlin',
  start: berlinClock(Date.now() - 60 * MINUTE),
  durationMinutes: 600,
  weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
};
/** A window only on the weekday four days from now. */
const lateWindow = {
  timeZone: 'Europe/Berlin',
  start: '00:00',
  durationMinutes: 1440,
  weekly: { days: [weekdayIn(Date.now() + 4 * DAY, 'Europe/Berlin')] },
};
const cp = (id: string, extra: Record<string, unknown> = {}) => controlPlane(id, { window: openWindow, ...extra });
const on = (version: string) => ({
  dashboard: { version },
  gateway: { version },
  dataPlanes: [{ id: 'dp-eu', version }],
});

/** Every control plane any test uses (the simulated platform knows them all); each test lists its own. */
const ALL = [
  cp('f-a'),
  cp('f-b'),
  cp('f-c', on('5.8.1')),
  cp('f-d'),
  cp('f-e'),
  cp('c-on'),
  cp('c-late', { autoUpgrade: false }),
  cp('c-wait', { window: lateWindow }),
  cp('c-new'),
  cp('k-1'),
  cp('s-1', { window: lateWindow }),
  cp('s-2', { window: lateWindow }),
  ...Array.from({ length: 8 }, (_, i) => cp(`y-${i + 1}`, { dataPlanes: [] })),
];

/** No notice period: an upgrade starts as soon as its window is open (LTS overridden per test). */
const NO_NOTICE = {
  ...TEST_POLICY,
  noticeLeadMinutes: { production: 0, staging: 0, development: 0 },
  securityNoticeLeadMinutes: { production: 0, staging: 0, development: 0 },
};

let env: TestWorkflowEnvironment;
let worker: Worker | undefined;
let workerRun: Promise<void> | undefined;
let harness: FleetHarness;
let bundle: WorkflowBundle;
let inventory: InventoryInput;
let mtime = Date.now();
/** Whether the inventory records the versions the platform deploys (see followPlatform); a test may turn it off. */
let inventoryFollowsPlatform = true;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('WARN')));
  harness = new FleetHarness({ orgs: [org()], controlPlanes: ALL });
  await harness.start({ rolloutMs: 20 });
  followPlatform(harness.deps.platform);
});

beforeEach(async () => {
  env = await devServerEnv();
});

afterEach(async () => {
  inventoryFollowsPlatform = true;
  worker?.shutdown();
  await workerRun;
  worker = undefined;
  await env?.teardown();
});

afterAll(async () => {
  await harness?.close();
});

async function startWorker(policy = NO_NOTICE): Promise<void> {
  const deps: ActivityDeps = {
    ...harness.deps,
    policy,
    messenger: new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE }),
    rollouts: new TemporalRolloutDirectory(env.client),
  };
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: createActivities(deps),
  });
  workerRun = worker.run();
}

/** The inventory lists these control planes (as in ALL unless changed since). */
function useFleet(ids: string[]): void {
  inventory = { orgs: [org()], controlPlanes: ALL.filter((c) => ids.includes(String(c.id))) };
  writeInventory();
}

function writeInventory(): void {
  harness.writeInventory(inventory);
  // A new mtime every write: the file inventory re-reads on a changed fingerprint (mtime, size, inode).
  mtime += 1000;
  fs.utimesSync(harness.inventoryPath, new Date(mtime), new Date(mtime));
}

function updateControlPlane(id: string, patch: Record<string, unknown>): void {
  inventory = {
    ...inventory,
    controlPlanes: inventory.controlPlanes.map((c) => (c.id === id ? { ...c, ...patch } : c)),
  };
  writeInventory();
}

/**
 * The inventory follows what the platform runs, as a real one does (Tyk Cloud records the versions it deploys): the
 * follow-up and catch-up judge eligibility on the inventory.
 */
function followPlatform(platform: ActivityDeps['platform']): void {
  const setVersion = (c: ComponentRef, version: string) => {
    if (!inventoryFollowsPlatform || !inventory?.controlPlanes.some((x) => x.id === c.controlPlaneId)) return;
    updateControlPlane(
      c.controlPlaneId,
      patchOf(
        inventory.controlPlanes.find((x) => x.id === c.controlPlaneId)!,
        c,
        version,
      ),
    );
  };
  const upgrade = platform.upgrade.bind(platform);
  const restore = platform.restore.bind(platform);
  platform.upgrade = async (c, ...rest) => {
    const r = await upgrade(c, ...rest);
    setVersion(c, r.to);
    return r;
  };
  platform.restore = async (c, ...rest) => {
    const r = await restore(c, ...rest);
    setVersion(c, r.to);
    return r;
  };
}

function patchOf(current: Record<string, unknown>, c: ComponentRef, version: string): Record<string, unknown> {
  if (c.kind !== 'data-plane') return { [c.kind]: { ...(current[c.kind] as object), version } };
  const dps = (current.dataPlanes ?? []) as { id: string }[];
  return { dataPlanes: dps.map((dp) => (dp.id === c.id ? { ...dp, version } : dp)) };
}

function lts(version: string): Release {
  return {
    id: `lts-${version}`,
    kind: 'lts',
    targets: { dashboard: version, gateway: version },
    notesUrl: `https://tyk.io/docs/release-notes/${version}`,
  };
}

function security(version: string, affected: string): Release {
  return { ...lts(version), id: `sec-${version}`, kind: 'security', affected };
}

async function startFleet(
  release: Release,
  rollout: Partial<RolloutPolicyInput> = {},
): Promise<WorkflowHandle<typeof fleetRollout>> {
  const started = await startFleetUpgrade(env.client, {
    taskQueue: TASK_QUEUE,
    release,
    rollout: { canary: { labels: [] }, bakeMinutes: 0, ...rollout },
  });
  expect(started.result).toBe('started');
  return env.client.workflow.getHandle<typeof fleetRollout>(started.workflowId);
}

const cpStatus = (id: string): Promise<ControlPlaneStatus> =>
  env.client.workflow.getHandle(controlPlaneWorkflowId(id)).query(controlPlaneStatusQuery);

/** Polls until the predicate holds. */
async function until<T>(read: () => Promise<T>, predicate: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read().catch(() => undefined);
    if (last !== undefined && predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`never matched; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const fleetStatus = (h: WorkflowHandle) => () => h.query(fleetStatusQuery);

/**
 * From a fleet's history: for each inventory page it offered, how many control planes it had offered by then that had
 * no slot yet (offered so far minus slot grants sent so far).
 */
async function unslottedAtEachOffer(h: WorkflowHandle): Promise<number[]> {
  const { events } = await h.fetchHistory();
  const activityOf = new Map<string, string>();
  const decode = (p: { data?: Uint8Array | null } | undefined) => JSON.parse(Buffer.from(p!.data!).toString());
  let offered = 0;
  let granted = 0;
  const seen: number[] = [];
  for (const e of events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      activityOf.set(String(e.eventId), scheduled.activityType!.name!);
      if (scheduled.activityType!.name === 'offerFleetPage') seen.push(offered - granted);
      // Grants, since patch grants-by-activity: a batch per grantSlots activity.
      if (scheduled.activityType!.name === 'grantSlots')
        granted += (decode(scheduled.input!.payloads![0]) as { controlPlaneIds: string[] }).controlPlaneIds.length;
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && activityOf.get(String(completed.scheduledEventId)) === 'offerFleetPage')
      offered += (decode(completed.result!.payloads![0]) as { offered: string[] }).offered.length;
    // Grants before that patch: the fleet's own signals.
    if (e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'grant') granted++;
  }
  return seen;
}

const waitingForWindow = (id: string, releaseId: string) =>
  until(
    () => cpStatus(id),
    (s) =>
      s.upgrade?.releaseId === releaseId && s.upgrade.stage === 'waiting-for-window' && s.upgrade.notices.length === 1,
  );

/** The control plane's attempts, oldest first, as `releaseId outcome`. */
async function attempts(id: string): Promise<string[]> {
  return (await cpStatus(id)).recent.map((r) => `${r.releaseId} ${r.outcome}`);
}

async function noticeKinds(id: string): Promise<string[]> {
  return (await harness.notices(id)).map((n) => `${n.properties.release_id} ${n.noticeKind}`);
}

/** LTS upgrades wait two days for their notice; security fixes need none. */
const LTS_WAITS = {
  ...NO_NOTICE,
  noticeLeadMinutes: { production: 2 * DAY_MINUTES, staging: 2 * DAY_MINUTES, development: 2 * DAY_MINUTES },
};

/** An SRE's upgradeNow on each control plane's waiting attempt. */
async function upgradeNow(ids: string[]): Promise<void> {
  for (const id of ids)
    await env.client.workflow
      .getHandle(controlPlaneWorkflowId(id))
      .executeUpdate(upgradeNowUpdate, { args: [{ by: 'sre-kim', reason: 'test' }] });
}

/** Upgraded to 5.8.2 by the LTS rollout, then at once to 5.8.3 by the follow-up. */
async function expectFollowedUp(ids: string[]): Promise<void> {
  for (const id of ids) {
    await until(
      () => attempts(id),
      (a) => a.length === 2,
    );
    expect(await attempts(id)).toEqual(['lts-5.8.2 completed', 'sec-5.8.3 completed']);
    for (const c of ['dashboard', 'gateway', 'dp-eu']) expect(await harness.version(id, c)).toBe('5.8.3');
    expect(await noticeKinds(id)).toEqual([
      'lts-5.8.2 scheduled',
      'lts-5.8.2 starting',
      'lts-5.8.2 completed',
      'sec-5.8.3 scheduled',
      'sec-5.8.3 completed',
    ]);
    expect((await cpStatus(id)).whyNot[0]).toMatchObject({ code: 'already-at-target' });
  }
}

describe('fleetRollout with control-plane workflows (dev server)', () => {
  it('offers no faster than control planes start: the next page waits while open-window ones queue for the slots', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `y-${i + 1}`);
    useFleet(ids);
    await startWorker();
    // One slot, pages of two: at most 2 × maxConcurrent offered with an open window and no slot yet, when a page goes.
    const handle = await startFleet(lts('5.8.2'), { maxConcurrent: 1, pageSize: 2 });
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    expect(result.status.outcomes).toEqual({ completed: 8 });
    expect(result.status.inFlight).toEqual({ waitingForWindow: 0, waitingForSlot: 0, changing: 0 });
    const unslotted = await unslottedAtEachOffer(handle);
    // The first pass lists the inventory for eligibility and the canary wave (none here), four pages of two; then the
    // main wave's four pages.
    expect(unslotted).toHaveLength(8);
    expect(unslotted.filter((n) => n >= 2)).toEqual([]);
    await recordHistory(handle, 'fleet-paced');
  });

  it('does not pace a rollout whose control planes wait for their notice: every page is offered at once', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `y-${i + 1}`);
    useFleet(ids);
    // Windows open now, but two days' notice: none may start now, so none counts against the pacing.
    await startWorker(LTS_WAITS);
    const handle = await startFleet(lts('5.8.2'), { maxConcurrent: 1, pageSize: 2 });
    const s = await until(fleetStatus(handle), (f) => f.stage === 'main' && f.inFlight.waitingForWindow === 8, 30_000);
    expect(s.inFlight.starting ?? 0).toBe(0);
    expect(await unslottedAtEachOffer(handle)).toEqual([0, 0, 0, 0, 0, 2, 4, 6]);
    for (const id of ids) await waitingForWindow(id, 'lts-5.8.2');
    await handle.signal(cancelSignal, { reason: 'test done', by: 'test' });
  });

  it('a security release does not take over an LTS rollout; the follow-up brings it once they are on its line', async () => {
    await startWorker(LTS_WAITS);
    useFleet(['f-a', 'f-b', 'f-c']);
    const ltsFleet = await startFleet(lts('5.8.2'));
    for (const id of ['f-a', 'f-b', 'f-c']) await waitingForWindow(id, 'lts-5.8.2');

    const secFleet = await startFleet(security('5.8.3', '>=5.8.0 <5.8.3'));
    const sec = await secFleet.result();
    expect(sec.outcome).toBe('completed');
    // 5.3.4 is outside the affected range: not offered today.
    expect(sec.status.eligibility).toEqual({ listed: 3, eligible: 1, skipped: { 'not-affected': 2 } });
    expect(sec.status.outcomes).toEqual({ completed: 1 });
    // f-c (5.8.1) is on both releases' lists: it switched to the security fix, and told the LTS rollout.
    // The fleet completes on reports, which come before each attempt's own record (see the catch-up test).
    expect(
      await until(
        () => attempts('f-c'),
        (a) => a.length === 2,
      ),
    ).toEqual(['lts-5.8.2 superseded', 'sec-5.8.3 completed']);
    expect(await harness.version('f-c', 'gateway')).toBe('5.8.3');

    // The LTS rollout goes on for the others: they still wait for their LTS window (the security fleet's listing
    // offers them its release untracked, so that their status shows why it does not apply: that must not end the LTS
    // upgrade they wait for).
    const mid = await until(fleetStatus(ltsFleet), (s) => (s.outcomes.superseded ?? 0) >= 1);
    expect(mid.supersededBy).toBeUndefined();
    for (const id of ['f-a', 'f-b']) {
      expect(await attempts(id)).toEqual([]);
      expect((await cpStatus(id)).upgrade).toMatchObject({ releaseId: 'lts-5.8.2', stage: 'waiting-for-window' });
    }
    expect(mid.stage).toBe('main');
    expect(mid.inFlight).toMatchObject({ waitingForWindow: 2 });

    // An SRE starts them now: they reach 5.8.2, and the follow-up offers the fix at once.
    await upgradeNow(['f-a', 'f-b']);
    const done = await ltsFleet.result();
    expect(done.outcome).toBe('completed');
    expect(done.status.outcomes).toEqual({ completed: 2, superseded: 1 });
    await expectFollowedUp(['f-a', 'f-b']);
  });

  it('the follow-up offers an open security release as soon as an upgrade lands on its affected range', async () => {
    // The same path as above, without the security fleet ever listing f-d and f-e (they are out of the inventory
    // while it lists): whatever the listing does to control planes outside the range, the follow-up alone brings them
    // the fix.
    await startWorker(LTS_WAITS);
    useFleet(['f-d', 'f-e']);
    const ltsFleet = await startFleet(lts('5.8.2'));
    for (const id of ['f-d', 'f-e']) await waitingForWindow(id, 'lts-5.8.2');
    useFleet([]);
    const sec = await (await startFleet(security('5.8.3', '>=5.8.0 <5.8.3'))).result();
    expect(sec.status.eligibility.listed).toBe(0);
    useFleet(['f-d', 'f-e']);

    await upgradeNow(['f-d', 'f-e']);
    const done = await ltsFleet.result();
    expect(done.outcome).toBe('completed');
    expect(done.status.outcomes).toEqual({ completed: 2 });
    await expectFollowedUp(['f-d', 'f-e']);
  });

  it('the catch-up workflow offers an open release to a late opt-in and to a control plane added later', async () => {
    await startWorker();
    useFleet(['c-on', 'c-late', 'c-wait']);
    const fleet = await startFleet(lts('5.8.2'));
    const listed = await until(fleetStatus(fleet), (s) => s.outcomes.completed === 1);
    expect(listed.eligibility).toEqual({ listed: 3, eligible: 2, skipped: { 'not-opted-in': 1 } });
    await waitingForWindow('c-wait', 'lts-5.8.2');
    expect((await cpStatus('c-late')).whyNot[0]).toMatchObject({ code: 'not-opted-in' });

    // The customer opts in; a control plane is added. Nothing offers them the release until the catch-up runs.
    updateControlPlane('c-late', { autoUpgrade: true });
    inventory = { ...inventory, controlPlanes: [...inventory.controlPlanes, ALL.find((c) => c.id === 'c-new')!] };
    writeInventory();
    const first: CatchUpResult = await env.client.workflow.execute(catchUp, {
      workflowId: 'catch-up-test-1',
      taskQueue: TASK_QUEUE,
    });
    expect(first).toEqual({
      releases: [
        { releaseId: 'lts-5.8.2', fleetWorkflowId: fleetWorkflowId('lts-5.8.2'), running: true, listed: 4, offered: 2 },
      ],
      failed: 0,
    });
    // The fleet still runs: they join its main wave (slots, failure budget) and it counts them.
    const joined = await until(fleetStatus(fleet), (s) => s.outcomes.completed === 3);
    expect(joined.waves.main).toMatchObject({ started: 4, finished: 3 });
    for (const id of ['c-late', 'c-new']) {
      // The report reaches the fleet before the attempt ends (its completion email comes after, at a lower priority
      // on the task queue): wait for the attempt's own record.
      expect(
        await until(
          () => attempts(id),
          (a) => a.includes('lts-5.8.2 completed'),
        ),
      ).toContain('lts-5.8.2 completed');
      expect(await harness.version(id, 'gateway')).toBe('5.8.2');
    }

    // Run again: nobody is missing the release any more.
    const second: CatchUpResult = await env.client.workflow.execute(catchUp, {
      workflowId: 'catch-up-test-2',
      taskQueue: TASK_QUEUE,
    });
    expect(second.releases.map((r) => r.offered)).toEqual([0]);

    await fleet.signal(cancelSignal, { reason: 'test over', by: 'test' });
    const result = await fleet.result();
    expect(result.outcome).toBe('cancelled');
    expect(result.status.outcomes).toEqual({ completed: 3, cancelled: 1 });
  });

  it('a newer LTS release of the line supersedes an older rollout; waiting control planes end superseded', async () => {
    await startWorker();
    useFleet(['s-1', 's-2']);
    const older = await startFleet(lts('5.8.1'));
    for (const id of ['s-1', 's-2']) await waitingForWindow(id, 'lts-5.8.1');
    const newer = await startFleet(lts('5.8.3'));

    const olderResult = await older.result();
    expect(olderResult.outcome).toBe('superseded');
    expect(olderResult.status.supersededBy).toBe('lts-5.8.3');
    expect(olderResult.status.outcomes).toEqual({ superseded: 2 });
    for (const id of ['s-1', 's-2']) {
      const st = await waitingForWindow(id, 'lts-5.8.3');
      expect(st.recent.map((r) => `${r.releaseId} ${r.outcome}`)).toEqual(['lts-5.8.1 superseded']);
      expect(st.upgrade!.changes.map((c) => `${c.component.id} ${c.from}→${c.to}`)).toEqual([
        'dashboard 5.3.4→5.8.3',
        'gateway 5.3.4→5.8.3',
        'dp-eu 5.3.4→5.8.3',
      ]);
      // No cancellation email for the superseded upgrade: the newer release's notice replaces it.
      expect(await noticeKinds(id)).toEqual(['lts-5.8.1 scheduled', 'lts-5.8.3 scheduled']);
      expect(await harness.version(id, 'gateway')).toBe('5.3.4');
    }
    const running: FleetStatus = await newer.query(fleetStatusQuery);
    expect(running.inFlight).toMatchObject({ waitingForWindow: 2 });
    await newer.signal(cancelSignal, { reason: 'test over', by: 'test' });
    expect((await newer.result()).outcome).toBe('cancelled');
  });

  it('a control plane declines a catch-up offer of a release it completed (file inventory not updated)', async () => {
    // The embedded default's file inventory keeps the versions it was given: nothing writes what nightshift deployed.
    inventoryFollowsPlatform = false;
    await startWorker();
    useFleet(['k-1']);
    const fleet = await startFleet(lts('5.8.2'));
    expect((await fleet.result()).status.outcomes).toEqual({ completed: 1 });
    expect(await harness.version('k-1', 'gateway')).toBe('5.8.2');
    await until(
      () => cpStatus('k-1'),
      (s) => s.state === 'idle' && s.recent.length === 1,
    );
    const again: CatchUpResult = await env.client.workflow.execute(catchUp, {
      workflowId: 'catch-up-test-3',
      taskQueue: TASK_QUEUE,
    });
    // The inventory still says 5.3.4, so the catch-up offers it; the control plane knows it installed the release and
    // declines: no second attempt, no second pair of emails for an upgrade already done.
    expect(again.releases.map((r) => `${r.releaseId} offered ${r.offered}`)).toEqual(['lts-5.8.2 offered 1']);
    await new Promise((r) => setTimeout(r, 3000));
    expect({ attempts: await attempts('k-1'), notices: await noticeKinds('k-1') }).toEqual({
      attempts: ['lts-5.8.2 completed'],
      notices: ['lts-5.8.2 scheduled', 'lts-5.8.2 completed'],
    });
    expect((await cpStatus('k-1')).state).toBe('idle');
  });

  it('the catch-up Schedule exists after ensureCatchUpSchedule, twice is a no-op, and it runs the catch-up', async () => {
    await startWorker();
    useFleet([]);
    expect((await ensureCatchUpSchedule(env.client, { taskQueue: TASK_QUEUE })).result).toBe('created');
    expect((await ensureCatchUpSchedule(env.client, { taskQueue: TASK_QUEUE })).result).toBe('unchanged');
    const schedule = env.client.schedule.getHandle(CATCH_UP_SCHEDULE_ID);
    const described = await schedule.describe();
    expect(described.action).toMatchObject({ workflowType: 'catchUp', workflowId: CATCH_UP_WORKFLOW_ID });
    expect(described.spec.intervals?.map((i) => i.every)).toEqual([60 * MINUTE]);

    await schedule.trigger();
    const run = await until(
      async () => (await schedule.describe()).info.recentActions,
      (actions) => actions.length > 0,
    );
    const handle = env.client.workflow.getHandle(
      run[0]!.action.workflow.workflowId,
      run[0]!.action.workflow.firstExecutionRunId,
    );
    expect(await handle.result()).toEqual({ releases: [], failed: 0 });
  });
});
