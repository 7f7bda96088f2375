import { ApplicationFailure } from '@temporalio/activity';
import {
  controlPlaneActivities,
  verdictOf,
  type ControlPlaneProbe,
  type MessengerPort,
  type OpenRelease,
} from '../../activities/controlPlanes';
import type { ActivityDeps } from '../../activities/deps';
import type { InventoryPort } from '../../activities/ports';
import { DEFAULT_POLICY } from '../../domain/policy';
import type { Release } from '../../domain/release';
import { parseRolloutPolicy } from '../../domain/rollout';
import type {
  AttemptRecord,
  ControlPlaneStatus,
  ReleaseOffer,
  SlotGrant,
  UpgradeStatus,
  Withdrawal,
} from '../../workflows/messages';
import { controlPlane, inventory } from './integrations/fixtures';

const release: Release = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes',
};
const rollout = parseRolloutPolicy({});

/** A paged InventoryPort over a fixed list (page size from the request, cursor = index of the next item). */
function fakeInventory(cps: Record<string, unknown>[]): InventoryPort {
  const inv = inventory(cps);
  const org = inv.orgs[0]!;
  const records = inv.controlPlanes.map((controlPlane) => ({ controlPlane, org }));
  return {
    async getControlPlane(id) {
      return records.find((r) => r.controlPlane.id === id);
    },
    async listControlPlanes({ cursor, limit }) {
      const from = cursor ? Number(cursor) : 0;
      const items = records.slice(from, from + limit);
      return { items, ...(from + limit < records.length ? { nextCursor: String(from + limit) } : {}) };
    },
  };
}

/** Records offers, withdrawals and grants; `failIds` fail, `goneIds` have no workflow; holding/openReleases/inspect answer what the test set. */
function fakeMessenger(
  opts: {
    failIds?: string[];
    goneIds?: string[];
    holding?: string[];
    open?: OpenRelease[];
    probes?: ControlPlaneProbe[];
  } = {},
) {
  const offers: { ids: string[]; offer: ReleaseOffer }[] = [];
  const withdrawals: { ids: string[]; withdrawal: Withdrawal }[] = [];
  const grants: { ids: string[]; grant: SlotGrant }[] = [];
  const signals: { fleetId: string; message: unknown }[] = [];
  const holdingAsked: string[] = [];
  const messenger: MessengerPort = {
    async offer(ids, offer) {
      offers.push({ ids, offer });
      const failed = ids.filter((id) => opts.failIds?.includes(id)).map((id) => ({ id, error: 'boom' }));
      return { offered: ids.filter((id) => !opts.failIds?.includes(id)), failed };
    },
    async signalFleet(fleetId, message) {
      signals.push({ fleetId, message });
      return fleetId === 'fleet/closed' ? { delivered: false, fleetStatus: 'COMPLETED' } : { delivered: true };
    },
    async inspect(ids) {
      return ids.map((id) => opts.probes?.find((p) => p.controlPlaneId === id) ?? { controlPlaneId: id, found: false });
    },
    async openReleases() {
      return opts.open ?? [];
    },
    async holding(releaseId) {
      holdingAsked.push(releaseId);
      return new Set(opts.holding ?? []);
    },
    async withdraw(ids, withdrawal) {
      withdrawals.push({ ids, withdrawal });
      return signalled(ids);
    },
    async grant(ids, grant) {
      grants.push({ ids, grant });
      return signalled(ids);
    },
  };
  const signalled = (ids: string[]) => {
    const gone = ids.filter((id) => opts.goneIds?.includes(id));
    const failed = ids.filter((id) => opts.failIds?.includes(id)).map((id) => ({ id, error: 'boom' }));
    const sent = ids.filter((id) => !gone.includes(id) && !failed.some((f) => f.id === id));
    return { sent, gone, ...(failed.length > 0 ? { failed } : {}) };
  };
  return { messenger, offers, withdrawals, grants, signals, holdingAsked };
}

function deps(inv: InventoryPort, messenger?: MessengerPort): ActivityDeps {
  const unused = new Proxy({}, { get: () => () => Promise.reject(new Error('not used in this test')) });
  return {
    inventory: inv,
    platform: unused as ActivityDeps['platform'],
    health: unused as ActivityDeps['health'],
    notifier: unused as ActivityDeps['notifier'],
    alerter: unused as ActivityDeps['alerter'],
    policy: DEFAULT_POLICY,
    messenger,
  };
}

const FLEET = 'fleet/lts-5.8.2';
// Canary by label; main-wave ones eligible, blocked by a removed Gateway key, and ineligible for several reasons.
const fleet = [
  controlPlane('cp-canary', { labels: ['canary'] }),
  controlPlane('cp-main'),
  controlPlane('cp-blocked', { config: { use_db_app_configs: true } }),
  controlPlane('cp-optout', { autoUpgrade: false }),
  controlPlane('cp-hybrid', { hybrid: true, labels: ['canary'] }),
  controlPlane('cp-current', { dashboard: { version: '5.8.2' }, gateway: { version: '5.8.2' } }),
];

describe('offerFleetPage', () => {
  it('on the first pass offers the wave it tracks, counts every reason and offers the ineligible ones untracked', async () => {
    const { messenger, offers } = fakeMessenger();
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    const result = await acts.offerFleetPage({
      release,
      rollout,
      wave: 'canary',
      fleetWorkflowId: FLEET,
      pageSize: 10,
      countEligibility: true,
    });
    expect(result).toEqual({
      offered: ['cp-canary'],
      failed: [],
      due: [],
      reasons: { eligible: 2, 'config-incompatible': 1, 'not-opted-in': 1, hybrid: 1, 'already-at-target': 1 },
      listed: 6,
      statusOffers: { offered: 3, failed: [] },
    });
    // Every offer names the fleet and the control plane's own wave; the blocked main-wave one waits for its wave.
    expect(offers.map((o) => [o.ids, o.offer.fleet])).toEqual([
      [['cp-canary'], { workflowId: FLEET, wave: 'canary' }],
      [['cp-hybrid'], { workflowId: FLEET, wave: 'canary' }],
      [['cp-optout', 'cp-current'], { workflowId: FLEET, wave: 'main' }],
    ]);
    for (const { offer } of offers) {
      expect(offer).toMatchObject({ release, source: 'fleet' });
      expect(Date.parse(offer.offeredAt)).not.toBeNaN();
    }
  });

  it('on later passes offers only the tracked control planes of the wave, and pages on', async () => {
    const { messenger, offers } = fakeMessenger({ failIds: ['cp-blocked'] });
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    const input = { release, rollout, wave: 'main' as const, fleetWorkflowId: FLEET, countEligibility: false };
    const first = await acts.offerFleetPage({ ...input, pageSize: 4 });
    expect(first).toEqual({
      offered: ['cp-main'],
      failed: [{ id: 'cp-blocked', error: 'boom' }],
      due: [],
      reasons: {},
      listed: 4,
      nextCursor: '4',
    });
    const second = await acts.offerFleetPage({ ...input, pageSize: 4, cursor: first.nextCursor });
    expect(second).toEqual({ offered: [], failed: [], due: [], reasons: {}, listed: 2 });
    expect(offers).toHaveLength(1);
    expect(offers[0]!.offer.fleet).toEqual({ workflowId: FLEET, wave: 'main' });
  });

  it('says which offered control planes may start now: window open and no notice period (the fleet paces those)', async () => {
    const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    const weekly = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] };
    const open = { timeZone: 'UTC', start: hhmm(Date.now() - 60 * 60_000), durationMinutes: 240, weekly };
    const later = { timeZone: 'UTC', start: hhmm(Date.now() + 120 * 60_000), durationMinutes: 60, weekly };
    const cps = [
      controlPlane('dev-open', { tier: 'development', window: open }),
      controlPlane('dev-later', { tier: 'development', window: later }),
      controlPlane('prod-open', { tier: 'production', window: open }),
    ];
    // Development upgrades need no notice here; production keeps the default week.
    const policy = { ...DEFAULT_POLICY, noticeLeadMinutes: { ...DEFAULT_POLICY.noticeLeadMinutes, development: 0 } };
    const { messenger } = fakeMessenger();
    const acts = controlPlaneActivities({ ...deps(fakeInventory(cps), messenger), policy });
    const page = await acts.offerFleetPage({
      release,
      rollout,
      wave: 'main',
      fleetWorkflowId: FLEET,
      pageSize: 10,
      countEligibility: false,
    });
    expect(page.offered).toEqual(['dev-open', 'dev-later', 'prod-open']);
    expect(page.due).toEqual(['dev-open']);
  });

  it('fails without retries, naming the setting, when the worker has no messenger', async () => {
    const acts = controlPlaneActivities(deps(fakeInventory(fleet)));
    const err = await acts
      .offerFleetPage({ release, rollout, wave: 'main', fleetWorkflowId: FLEET, pageSize: 5, countEligibility: false })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'NotConfigured', nonRetryable: true });
    expect((err as Error).message).toMatch(/offerFleetPage needs ActivityDeps\.messenger/);
  });
});

function status(overrides: Partial<ControlPlaneStatus> = {}): ControlPlaneStatus {
  return {
    workflowId: 'control-plane/cp-1',
    controlPlaneId: 'cp-1',
    state: 'idle',
    installed: {},
    recent: [],
    whyNot: [],
    runs: 1,
    ...overrides,
  };
}

function attempt(releaseId: string, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    releaseId,
    targets: release.targets,
    outcome: 'completed',
    changed: true,
    startedAt: '2026-01-01T00:00:00Z',
    endedAt: '2026-01-01T01:00:00Z',
    versions: {},
    ...overrides,
  };
}

const running = (s: ControlPlaneStatus): ControlPlaneProbe => ({
  controlPlaneId: 'cp-1',
  found: true,
  running: true,
  busy: false,
  status: s,
});

describe('inspectControlPlanes verdicts', () => {
  const id = 'lts-5.8.2';
  it('calls a missing or closed workflow lost, and a busy one unknown', () => {
    expect(verdictOf({ controlPlaneId: 'cp-1', found: false }, id)).toEqual({
      controlPlaneId: 'cp-1',
      verdict: 'lost',
      reason: 'no control-plane workflow exists',
    });
    expect(
      verdictOf({ controlPlaneId: 'cp-1', found: true, running: false, executionStatus: 'TERMINATED' }, id),
    ).toEqual({ controlPlaneId: 'cp-1', verdict: 'lost', reason: 'control-plane workflow is TERMINATED' });
    const busy: ControlPlaneProbe = { controlPlaneId: 'cp-1', found: true, running: true, busy: true, why: 'task' };
    expect(verdictOf(busy, id)).toEqual({ controlPlaneId: 'cp-1', verdict: 'unknown', why: 'task' });
  });

  it('is in flight while the release is the upgrade in progress or the pending offer', () => {
    const upgrade = { releaseId: id } as UpgradeStatus;
    expect(verdictOf(running(status({ upgrade })), id).verdict).toBe('in-flight');
    const pending = { releaseId: id, targets: release.targets, source: 'fleet' as const, offeredAt: 'x' };
    const other = { releaseId: 'lts-5.8.1' } as UpgradeStatus;
    expect(verdictOf(running(status({ upgrade: other, pending })), id).verdict).toBe('in-flight');
  });

  it('is finished with the last attempt of that release', () => {
    const recent = [
      attempt(id, { outcome: 'rolled-back', reason: 'health fail' }),
      attempt('lts-5.8.1'),
      attempt(id, { outcome: 'failed-before-change', changed: false, reason: 'preflight' }),
    ];
    expect(verdictOf(running(status({ recent })), id)).toEqual({
      controlPlaneId: 'cp-1',
      verdict: 'finished',
      outcome: 'failed-before-change',
      changed: false,
      reason: 'preflight',
    });
    expect(verdictOf(running(status({ recent: [attempt(id)] })), id)).toEqual({
      controlPlaneId: 'cp-1',
      verdict: 'finished',
      outcome: 'completed',
      changed: true,
    });
  });

  it('is lost when the control plane never had the release, saying what it does instead', () => {
    expect(verdictOf(running(status({ recent: [attempt('lts-5.8.1')] })), id)).toEqual({
      controlPlaneId: 'cp-1',
      verdict: 'lost',
      reason: 'control plane has no upgrade of lts-5.8.2: it is idle',
    });
    const upgrade = { releaseId: 'sec-5.8.3' } as UpgradeStatus;
    expect(verdictOf(running(status({ upgrade })), id)).toMatchObject({
      verdict: 'lost',
      reason: 'control plane has no upgrade of lts-5.8.2: it is upgrading to sec-5.8.3',
    });
  });

  it('maps every probe of the messenger, in order', async () => {
    const probes: ControlPlaneProbe[] = [
      {
        controlPlaneId: 'cp-a',
        found: true,
        running: true,
        busy: false,
        status: status({ upgrade: { releaseId: id } as UpgradeStatus }),
      },
      { controlPlaneId: 'cp-b', found: true, running: false, executionStatus: 'COMPLETED', closedAt: 'x' },
    ];
    const { messenger } = fakeMessenger({ probes });
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    expect(await acts.inspectControlPlanes({ releaseId: id, controlPlaneIds: ['cp-a', 'cp-b', 'cp-c'] })).toEqual([
      { controlPlaneId: 'cp-a', verdict: 'in-flight' },
      { controlPlaneId: 'cp-b', verdict: 'lost', reason: 'control-plane workflow is COMPLETED' },
      { controlPlaneId: 'cp-c', verdict: 'lost', reason: 'no control-plane workflow exists' },
    ]);
  });
});

describe('fleet messages, follow-up and catch-up', () => {
  it('passes reports, slot asks and returns to the fleet and says when it is gone', async () => {
    const { messenger, signals } = fakeMessenger();
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    const report = {
      controlPlaneId: 'cp-1',
      releaseId: 'lts-5.8.2',
      outcome: 'completed' as const,
      changed: true,
      at: '2026-01-01T00:00:00Z',
    };
    expect(await acts.reportToFleet({ fleetWorkflowId: FLEET, report })).toEqual({ delivered: true });
    const ask = { controlPlaneId: 'cp-1', releaseId: 'lts-5.8.2', until: '2026-01-01T02:00:00Z' };
    expect(await acts.askFleetForSlot({ fleetWorkflowId: 'fleet/closed', ask })).toEqual({
      delivered: false,
      fleetStatus: 'COMPLETED',
    });
    await acts.returnFleetSlot({ fleetWorkflowId: FLEET, controlPlaneId: 'cp-1', releaseId: 'lts-5.8.2' });
    expect(signals).toEqual([
      { fleetId: FLEET, message: { kind: 'report', report } },
      { fleetId: 'fleet/closed', message: { kind: 'ask-slot', ask } },
      { fleetId: FLEET, message: { kind: 'return-slot', controlPlaneId: 'cp-1', releaseId: 'lts-5.8.2' } },
    ]);
  });

  it('finds the newest open release the control plane is eligible for, with its fleet only while that runs', async () => {
    const open = (r: Release, isRunning: boolean): OpenRelease => ({
      release: r,
      fleetWorkflowId: `fleet/${r.id}`,
      running: isRunning,
      startedAt: '2026-01-01T00:00:00Z',
    });
    const r581 = { ...release, id: 'lts-5.8.1', targets: { dashboard: '5.8.1', gateway: '5.8.1' } };
    const r583 = { ...release, id: 'lts-5.8.3', targets: { dashboard: '5.8.3', gateway: '5.8.3' } };
    const sec = {
      ...release,
      id: 'sec-5.9.1',
      kind: 'security' as const,
      affected: '>=5.9.0 <5.9.1',
      targets: { dashboard: '5.9.1', gateway: '5.9.1' },
    };
    const { messenger } = fakeMessenger({
      open: [open(r581, true), open(sec, true), open(r583, false), open(release, true)],
    });
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    // sec-5.9.1 is newest but does not affect 5.3.4; lts-5.8.3 is next, its fleet completed.
    expect(await acts.findFollowUpRelease({ controlPlaneId: 'cp-main', exceptReleaseIds: [] })).toEqual({
      release: r583,
    });
    expect(await acts.findFollowUpRelease({ controlPlaneId: 'cp-main', exceptReleaseIds: ['lts-5.8.3'] })).toEqual({
      release,
      fleetWorkflowId: 'fleet/lts-5.8.2',
    });
    expect(await acts.findFollowUpRelease({ controlPlaneId: 'cp-optout', exceptReleaseIds: [] })).toBeUndefined();
    expect(await acts.findFollowUpRelease({ controlPlaneId: 'cp-gone', exceptReleaseIds: [] })).toBeUndefined();
  });

  it('catches up the eligible control planes no running workflow holds, asking visibility once per page', async () => {
    const { messenger, offers, holdingAsked } = fakeMessenger({ holding: ['cp-canary'] });
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    const result = await acts.catchUpPage({ release, fleetWorkflowId: FLEET, pageSize: 10 });
    expect(result).toEqual({ listed: 6, offered: ['cp-main'], failed: [] });
    expect(holdingAsked).toEqual(['lts-5.8.2']);
    expect(offers).toHaveLength(1);
    expect(offers[0]!.offer).toMatchObject({ release, source: 'catch-up', fleet: { workflowId: FLEET, wave: 'main' } });

    const without = fakeMessenger();
    const noFleet = controlPlaneActivities(deps(fakeInventory(fleet), without.messenger));
    expect(await noFleet.catchUpPage({ release, pageSize: 2, cursor: '4' })).toEqual({
      listed: 2,
      offered: [],
      failed: [],
    });
    expect(without.holdingAsked).toEqual([]);
    await noFleet.catchUpPage({ release, pageSize: 2 });
    expect(without.offers[0]!.ids).toEqual(['cp-canary', 'cp-main']);
    expect(without.offers[0]!.offer).not.toHaveProperty('fleet');
  });
});

describe('withdrawRelease', () => {
  const withdrawal: Withdrawal = {
    releaseId: 'lts-5.8.2',
    supersededBy: 'lts-5.8.3',
    reason: 'superseded',
    by: 'fleet',
  };

  it('withdraws the release from every control plane, telling the ones without a workflow apart', async () => {
    const { messenger, withdrawals } = fakeMessenger({ goneIds: ['cp-gone'], failIds: ['cp-bad'] });
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    expect(
      await acts.withdrawRelease({ controlPlaneIds: ['cp-main', 'cp-gone', 'cp-bad', 'cp-canary'], withdrawal }),
    ).toEqual({ sent: ['cp-main', 'cp-canary'], gone: ['cp-gone'], failed: [{ id: 'cp-bad', error: 'boom' }] });
    expect(withdrawals).toEqual([{ ids: ['cp-main', 'cp-gone', 'cp-bad', 'cp-canary'], withdrawal }]);
  });

  it('asks the messenger nothing for no control planes', async () => {
    const { messenger, withdrawals } = fakeMessenger();
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    expect(await acts.withdrawRelease({ controlPlaneIds: [], withdrawal })).toEqual({ sent: [], gone: [] });
    expect(withdrawals).toEqual([]);
  });

  it('lets the messenger’s error through as retryable, and fails without retries when there is no messenger', async () => {
    const { messenger } = fakeMessenger();
    messenger.withdraw = () => Promise.reject(new Error('no withdrawal delivered (1 control planes): unavailable'));
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    const unreachable = await acts
      .withdrawRelease({ controlPlaneIds: ['cp-main'], withdrawal })
      .catch((e: unknown) => e);
    expect(unreachable).not.toBeInstanceOf(ApplicationFailure);
    expect((unreachable as Error).message).toMatch(/^no withdrawal delivered/);
    const err = await controlPlaneActivities(deps(fakeInventory(fleet)))
      .withdrawRelease({ controlPlaneIds: ['cp-main'], withdrawal })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'NotConfigured', nonRetryable: true });
    expect((err as Error).message).toMatch(/withdrawRelease needs ActivityDeps\.messenger/);
  });
});

describe('grantSlots', () => {
  const grant: SlotGrant = { releaseId: 'lts-5.8.2', grantedAt: '2026-12-04T02:00:00.000Z' };

  it('grants every slot in one batch, telling the control planes without a workflow apart', async () => {
    const { messenger, grants } = fakeMessenger({ goneIds: ['cp-gone'], failIds: ['cp-bad'] });
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    expect(await acts.grantSlots({ controlPlaneIds: ['cp-main', 'cp-gone', 'cp-bad'], grant })).toEqual({
      sent: ['cp-main'],
      gone: ['cp-gone'],
      failed: [{ id: 'cp-bad', error: 'boom' }],
    });
    expect(grants).toEqual([{ ids: ['cp-main', 'cp-gone', 'cp-bad'], grant }]);
    expect(await acts.grantSlots({ controlPlaneIds: [], grant })).toEqual({ sent: [], gone: [] });
    expect(grants).toHaveLength(1);
  });

  it('lets an unreachable service through as retryable, and fails without retries when there is no messenger', async () => {
    const { messenger } = fakeMessenger();
    messenger.grant = () => Promise.reject(new Error('no slot grant delivered (1 control planes): unavailable'));
    const acts = controlPlaneActivities(deps(fakeInventory(fleet), messenger));
    const unreachable = await acts.grantSlots({ controlPlaneIds: ['cp-main'], grant }).catch((e: unknown) => e);
    expect(unreachable).not.toBeInstanceOf(ApplicationFailure);
    const err = await controlPlaneActivities(deps(fakeInventory(fleet)))
      .grantSlots({ controlPlaneIds: ['cp-main'], grant })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'NotConfigured', nonRetryable: true });
  });
});
