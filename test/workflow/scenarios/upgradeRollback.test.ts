// controlPlane with its activities mocked inline: upgrades that fail, and what is undone (newest change first).
import { ApplicationFailure } from '@temporalio/activity';
import { abandonRollbackSignal } from '../../../workflows/messages';
import {
  ActivityLog,
  controlPlane,
  HOUR,
  LTS_582,
  MINUTE,
  mockActivities,
  passed,
  upgradeActivities,
  verificationFailed,
  windowPlan,
} from './builders';
import { scenarioServer, type ControlPlaneRun, type Offer, type Scenario } from './scenarioServer';

const server = scenarioServer();

/** Offers LTS 5.8.2 and lets server time run into the planned window. */
async function upgradeInWindow(s: Scenario, offer: Offer, id: string): Promise<ControlPlaneRun> {
  const wf = await offer(id, { release: LTS_582, source: 'sre' });
  const waiting = await wf.waitFor((st) => st.upgrade?.stage === 'waiting-for-window', 'waiting for the window');
  await s.skipTo(Date.parse(waiting.upgrade!.window!.startAt) + MINUTE);
  return wf;
}

const upToTheWindow = [
  'assessControlPlane',
  'planWindow',
  'sendNotice scheduled',
  'assessControlPlane',
  'checkWindow',
  'assessControlPlane',
  'checkWindow',
];

server.it('a Gateway that fails its verification is rolled back, then the Dashboard', async (s) => {
  const cp = controlPlane({ id: 'cp-gateway-fails' });
  const log = new ActivityLog();
  const activities = mockActivities(log, {
    ...upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR)),
    verifyComponent: async ({ component, expectedVersion }) => {
      if (component.id === 'gateway' && expectedVersion === '5.8.2') throw verificationFailed(component, '5.8.2');
      return passed();
    },
    alertSre: async () => undefined,
  });

  await s.withWorker(activities, async (offer) => {
    const wf = await upgradeInWindow(s, offer, cp.id);
    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt).toMatchObject({ outcome: 'rolled-back', changed: true });
    expect(attempt!.reason).toContain('answered fail on 5.8.2');
    expect(attempt!.versions).toEqual({ dashboard: '5.3.4', gateway: '5.3.4', 'dp-eu': '5.3.4' });

    expect(log.trail()).toEqual([
      ...upToTheWindow,
      'assessControlPlane',
      'checkWindow',
      'probeComponents',
      'snapshotComponents',
      'upgradeComponent dashboard',
      'verifyComponent dashboard@5.8.2',
      'upgradeComponent gateway',
      'verifyComponent gateway@5.8.2',
      // Newest change first, each restore verified on the old version; the data plane was never touched.
      'restoreComponent gateway@5.3.4',
      'verifyComponent gateway@5.3.4',
      'restoreComponent dashboard@5.3.4',
      'verifyComponent dashboard@5.3.4',
      'alertSre error trigger',
      'sendNotice rolled-back',
    ]);
    expect(log.inputs('alertSre')[0]!.summary).toContain('failed and was rolled back');
    expect(log.inputs('sendNotice').at(-1)!.reason).toContain('The previous versions are running again.');

    const after = await wf.status();
    expect(after.whyNot).toEqual([expect.objectContaining({ code: 'last-upgrade-failed' })]);
    const result = await wf.close();
    expect(result.recent.map((r) => r.outcome)).toEqual(['rolled-back']);
    expect(result.installed).toEqual({ dashboard: '5.3.4', gateway: '5.3.4', 'dp-eu': '5.3.4' });
  });
});

server.it('a data plane whose rollout fails: every change undone, newest first', async (s) => {
  const cp = controlPlane({
    id: 'cp-dp-fails',
    dataPlanes: [
      { id: 'dp-eu', version: '5.3.4' },
      { id: 'dp-us', version: '5.3.4' },
    ],
  });
  const log = new ActivityLog();
  const happy = upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR));
  const activities = mockActivities(log, {
    ...happy,
    upgradeComponent: async (input) => {
      if (input.component.id === 'dp-us')
        throw ApplicationFailure.nonRetryable(
          'ProgressDeadlineExceeded: dp-us pods never became ready',
          'RolloutFailed',
        );
      return happy.upgradeComponent!(input);
    },
    alertSre: async () => undefined,
  });

  await s.withWorker(activities, async (offer) => {
    const wf = await upgradeInWindow(s, offer, cp.id);
    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt).toMatchObject({ outcome: 'rolled-back', changed: true });
    expect(attempt!.reason).toContain('ProgressDeadlineExceeded');

    const changes = log.trail().filter((t) => /^(upgrade|restore)Component/.test(t));
    expect(changes).toEqual([
      'upgradeComponent dashboard',
      'upgradeComponent gateway',
      'upgradeComponent dp-eu',
      'upgradeComponent dp-us',
      // The failed rollout may have half-happened: it is restored too, first.
      'restoreComponent dp-us@5.3.4',
      'restoreComponent dp-eu@5.3.4',
      'restoreComponent gateway@5.3.4',
      'restoreComponent dashboard@5.3.4',
    ]);
    // Not retried: the platform said it cannot succeed.
    expect(log.of('upgradeComponent').map((c) => c.attempt)).toEqual([1, 1, 1, 1]);
    await wf.close();
  });
});

server.it('an unhealthy component before any change: nothing touched, retried later', async (s) => {
  const cp = controlPlane({ id: 'cp-sick-before' });
  const log = new ActivityLog();
  const activities = mockActivities(log, {
    ...upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR)),
    probeComponents: async (components) =>
      components.map((component) => ({
        component,
        status: component.id === 'dp-eu' ? 'unreachable' : 'pass',
        ...(component.id === 'dp-eu' ? { error: 'connect ECONNREFUSED' } : {}),
        at: new Date().toISOString(),
      })),
    alertSre: async () => undefined,
  });

  await s.withWorker(activities, async (offer) => {
    const wf = await upgradeInWindow(s, offer, cp.id);
    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt).toMatchObject({ outcome: 'failed-before-change', changed: false });
    expect(attempt!.reason).toContain('dp-eu: unreachable (connect ECONNREFUSED)');
    expect(log.trail().slice(upToTheWindow.length)).toEqual([
      'assessControlPlane',
      'checkWindow',
      'probeComponents',
      'alertSre error trigger',
      'sendNotice cancelled',
    ]);
    expect(log.inputs('sendNotice').at(-1)!.reason).toContain('Nothing was changed.');

    const after = await wf.status();
    const retryAt = Date.parse(attempt!.endedAt) + 6 * HOUR;
    expect(after.whyNot).toEqual([
      expect.objectContaining({ code: 'retry-later', until: new Date(retryAt).toISOString() }),
    ]);
    expect(after.nextChanceAt).toBe(new Date(retryAt).toISOString());
    await wf.close();
  });
});

server.it(
  'a restore that keeps failing blocks: paged once, retried every ten minutes, until an SRE abandons it',
  async (s) => {
    const cp = controlPlane({ id: 'cp-restore-blocked' });
    const log = new ActivityLog();
    const activities = mockActivities(log, {
      ...upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR)),
      verifyComponent: async ({ component, expectedVersion }) => {
        if (component.id === 'gateway' && expectedVersion === '5.8.2') throw verificationFailed(component, '5.8.2');
        return passed();
      },
      restoreComponent: async (snap) => {
        if (snap.component.id === 'gateway')
          throw ApplicationFailure.nonRetryable('deployments.apps "gateway" is forbidden (test)', 'PermissionDenied');
        return { changed: true, from: '5.8.2', to: snap.version };
      },
      alertSre: async () => undefined,
    });

    await s.withWorker(activities, async (offer) => {
      const wf = await upgradeInWindow(s, offer, cp.id);
      const blocked = await wf.waitFor((st) => !!st.upgrade?.rollbackBlocked, 'rollback blocked');
      expect(blocked.upgrade!.rollbackBlocked).toMatchObject({ component: 'gateway', rounds: 1 });
      expect(blocked.whyNot).toEqual([expect.objectContaining({ code: 'rollback-blocked' })]);

      // Ten minutes later it tries again by itself; the page is not sent twice.
      const firstTry = log.of('restoreComponent')[0]!.at;
      await s.skipTo(firstTry + 10 * MINUTE + 30_000);
      await wf.waitFor((st) => st.upgrade?.rollbackBlocked?.rounds === 2, 'second round');
      const retried = log.of('restoreComponent')[1]!.at - firstTry;
      expect(retried).toBeGreaterThanOrEqual(10 * MINUTE);
      expect(retried).toBeLessThan(11 * MINUTE);
      expect(log.trail().filter((t) => t.startsWith('alertSre'))).toEqual(['alertSre critical trigger']);

      await wf.handle.signal(abandonRollbackSignal, { reason: 'restoring by hand', by: 'sre-jo' });
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ outcome: 'failed', changed: true });
      expect(attempt!.versions).toMatchObject({ dashboard: '5.3.4' });
      expect(log.trail().slice(-6)).toEqual([
        'restoreComponent gateway@5.3.4',
        'restoreComponent dashboard@5.3.4',
        'verifyComponent dashboard@5.3.4',
        'alertSre critical resolve',
        'alertSre critical trigger',
        'sendNotice rolled-back',
      ]);
      const incomplete = log.inputs('alertSre').at(-1)!;
      expect(incomplete.summary).toContain('ROLLBACK INCOMPLETE');
      expect(incomplete.summary).toContain('restore abandoned by sre-jo: restoring by hand');
      expect(log.inputs('sendNotice').at(-1)!.reason).toContain('Our engineers are restoring the previous versions');
      await wf.close();
    });
  },
);
