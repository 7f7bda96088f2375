// controlPlane with its activities mocked inline: who is not upgraded, who must act first, and offers that replace or
// end an upgrade before anything changed. assessControlPlane answers with the domain's decision for the control plane
// each test declares.
import type { ControlPlane } from '../../../domain/inventory';
import type { SkipReason } from '../../../domain/model';
import {
  ActivityLog,
  assessment,
  controlPlane,
  delivered,
  HOUR,
  LTS_582,
  mockActivities,
  release,
  upgradeActivities,
  windowPlan,
} from './builders';
import { scenarioServer } from './scenarioServer';

const server = scenarioServer();

const notUpgraded: [string, ControlPlane, SkipReason][] = [
  ['not opted in to Auto Upgrade', controlPlane({ id: 'cp-not-opted', autoUpgrade: false }), 'not-opted-in'],
  ['a hybrid deployment', controlPlane({ id: 'cp-hybrid', hybrid: true }), 'hybrid'],
  ['a deployment with plugins', controlPlane({ id: 'cp-plugins', plugins: true }), 'plugins'],
  [
    'already on the target',
    controlPlane({
      id: 'cp-current',
      dashboard: { version: '5.8.2' },
      gateway: { version: '5.8.2' },
      dataPlanes: [{ id: 'dp-eu', version: '5.8.2' }],
    }),
    'already-at-target',
  ],
];

for (const [what, cp, reason] of notUpgraded)
  server.it(`${what}: skipped after the assessment, nobody told, the reason in the status`, async (s) => {
    const log = new ActivityLog();
    // Only the assessment: a window, a notice or a change would be an unexpected call.
    const activities = mockActivities(log, { assessControlPlane: async (_id, rel) => assessment(cp, rel) });

    await s.withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ outcome: 'skipped', skipReason: reason, changed: false });
      expect(log.trail()).toEqual(['assessControlPlane']);
      const idle = await wf.status();
      expect(idle.state).toBe('idle');
      expect(idle.whyNot).toEqual([expect.objectContaining({ code: reason, detail: attempt!.reason })]);
      await wf.close();
    });
  });

server.it('a Gateway key the target removed: the customer is asked to act, an SRE warned, no window', async (s) => {
  const cp = controlPlane({ id: 'cp-blocked', config: { use_db_app_configs: true } });
  const log = new ActivityLog();
  const activities = mockActivities(log, {
    assessControlPlane: async (_id, rel) => assessment(cp, rel),
    sendNotice: async (request) => delivered(request),
    alertSre: async () => undefined,
  });

  await s.withWorker(activities, async (offer) => {
    const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt).toMatchObject({ outcome: 'skipped', skipReason: 'config-incompatible', changed: false });
    expect(log.trail()).toEqual(['assessControlPlane', 'sendNotice action-needed', 'alertSre warning trigger']);
    const notice = log.inputs('sendNotice')[0]!;
    expect(notice.reason).toContain('use_db_app_configs');
    expect(notice.window).toBeUndefined();
    // What the upgrade would change once the key is gone.
    expect(notice.changes.map((c) => c.component.id)).toEqual(['dashboard', 'gateway', 'dp-eu']);
    expect(log.inputs('alertSre')[0]!.summary).toContain('blocked by configuration');
    await wf.close();
  });
});

server.it('opted out while waiting: found at the next 12-hour check, stopped, the customer told', async (s) => {
  const fields = { id: 'cp-opts-out' };
  let current = controlPlane(fields);
  const log = new ActivityLog();
  const activities = mockActivities(log, {
    ...upgradeActivities(current, LTS_582, (t) => windowPlan(current, t + 30 * HOUR)),
    assessControlPlane: async (_id, rel) => assessment(current, rel),
  });

  await s.withWorker(activities, async (offer) => {
    const wf = await offer(current.id, { release: LTS_582, source: 'sre' });
    await wf.waitFor((st) => st.upgrade?.stage === 'waiting-for-window', 'waiting for the window');
    current = controlPlane({ ...fields, autoUpgrade: false });
    const offeredAt = log.of('assessControlPlane')[0]!.at;
    await s.skipTo(offeredAt + 12 * HOUR + 1000);

    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt).toMatchObject({ outcome: 'skipped', skipReason: 'not-opted-in', changed: false });
    expect(log.trail()).toEqual([
      'assessControlPlane',
      'planWindow',
      'sendNotice scheduled',
      'assessControlPlane',
      'sendNotice cancelled',
    ]);
    expect(log.of('assessControlPlane')[1]!.at - offeredAt).toBeGreaterThanOrEqual(12 * HOUR);
    expect(log.inputs('sendNotice')[1]!.reason).toContain('The upgrade is no longer needed');
    await wf.close();
  });
});

server.it('a newer release offered while the upgrade waits replaces it before anything changed', async (s) => {
  const cp = controlPlane({ id: 'cp-newer-offer' });
  const lts581 = release({ id: 'lts-5.8.1', targets: { dashboard: '5.8.1', gateway: '5.8.1' } });
  const log = new ActivityLog();
  const activities = mockActivities(log, {
    ...upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR)),
    assessControlPlane: async (_id, rel) => assessment(cp, rel),
  });

  await s.withWorker(activities, async (offer) => {
    const wf = await offer(cp.id, { release: lts581, source: 'sre' });
    await wf.waitFor(
      (st) => st.upgrade?.releaseId === 'lts-5.8.1' && st.upgrade.stage === 'waiting-for-window',
      '5.8.1',
    );
    await offer(cp.id, { release: LTS_582, source: 'sre' });

    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt).toMatchObject({ releaseId: 'lts-5.8.1', outcome: 'superseded', changed: false });
    expect(attempt!.reason).toBe('superseded by release lts-5.8.2 before anything changed');
    const next = await wf.waitFor(
      (st) => st.upgrade?.releaseId === 'lts-5.8.2' && st.upgrade.stage === 'waiting-for-window',
      '5.8.2 waiting',
    );
    expect(next.upgrade!.changes.map((c) => c.to)).toEqual(['5.8.2', '5.8.2', '5.8.2']);
    // Each attempt is assessed against its own release.
    expect(log.of('assessControlPlane').map((c) => (c.args[1] as { id: string }).id)).toEqual([
      'lts-5.8.1',
      'lts-5.8.2',
    ]);
    expect(log.trail()).toEqual([
      'assessControlPlane',
      'planWindow',
      'sendNotice scheduled',
      'assessControlPlane',
      'planWindow',
      'sendNotice scheduled',
    ]);
    await wf.close();
  });
});
