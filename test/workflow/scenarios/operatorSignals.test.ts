// controlPlane with its activities mocked inline: what SREs and customers send it (pause, resume, cancel, upgradeNow,
// defer) and what it does about them.
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  cancelSignal,
  deferUpdate,
  pauseSignal,
  resumeSignal,
  upgradeNowUpdate,
  type ControlPlaneStatus,
} from '../../../workflows/messages';
import {
  ActivityLog,
  controlPlane,
  DAY,
  HOUR,
  LTS_582,
  MINUTE,
  mockActivities,
  SECURITY_539,
  upgradeActivities,
  windowPlan,
} from './builders';
import { scenarioServer } from './scenarioServer';

const server = scenarioServer();

const waitingForWindow = (s: ControlPlaneStatus) => s.upgrade?.stage === 'waiting-for-window';

/** The message a rejected update gives (its validator's), or a failed expectation if it was accepted. */
async function rejection(update: Promise<unknown>): Promise<string> {
  const err = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String(((err as Error).cause as Error | undefined)?.message);
}

server.it('paused while waiting, it holds at the window with the reason shown; resumed, it upgrades', async (s) => {
  const cp = controlPlane({ id: 'cp-paused' });
  const log = new ActivityLog();
  const activities = mockActivities(
    log,
    upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR)),
  );

  await s.withWorker(activities, async (offer) => {
    const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
    const planned = (await wf.waitFor(waitingForWindow, 'waiting for the window')).upgrade!.window!;
    await wf.handle.signal(pauseSignal, { reason: 'customer demo today', by: 'sre-jo' });
    await s.skipTo(Date.parse(planned.startAt) + 10 * MINUTE);

    const held = await wf.waitFor((st) => st.upgrade?.paused === true, 'paused');
    expect(held.upgrade!.pause).toMatchObject({ reason: 'customer demo today', by: 'sre-jo' });
    expect(held.whyNot[0]).toMatchObject({ code: 'paused', detail: 'paused by sre-jo: customer demo today' });
    const atTheWindow = log.trail().slice(7);
    expect(atTheWindow).toEqual(['assessControlPlane', 'checkWindow']);

    await wf.handle.signal(resumeSignal, { reason: 'demo over', by: 'sre-jo' });
    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt!.outcome).toBe('completed');
    // Resumed inside the window: checked once more, then the upgrade in order.
    expect(log.trail().slice(7)).toEqual([
      ...atTheWindow,
      'assessControlPlane',
      'checkWindow',
      'probeComponents',
      'snapshotComponents',
      'upgradeComponent dashboard',
      'verifyComponent dashboard@5.8.2',
      'upgradeComponent gateway',
      'verifyComponent gateway@5.8.2',
      'upgradeComponent dp-eu',
      'verifyComponent dp-eu@5.8.2',
      'sendNotice completed',
      'findFollowUpRelease',
    ]);
    await wf.close();
  });
});

server.it(
  'paused during the Dashboard rollout, then cancelled: the Dashboard is put back, nothing else touched',
  async (s) => {
    const cp = controlPlane({ id: 'cp-cancelled-mid' });
    const log = new ActivityLog();
    // The Dashboard's rollout lasts until the test lets it finish (or 10 s, so that a failed test does not hang).
    let finishDashboard!: () => void;
    const dashboardRollout = new Promise<void>((resolve) => {
      finishDashboard = resolve;
      setTimeout(resolve, 10_000).unref();
    });
    const happy = upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR));
    const activities = mockActivities(log, {
      ...happy,
      upgradeComponent: async (input) => {
        if (input.component.id === 'dashboard') await dashboardRollout;
        return happy.upgradeComponent!(input);
      },
      alertSre: async () => undefined,
    });

    await s.withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const planned = (await wf.waitFor(waitingForWindow, 'waiting for the window')).upgrade!.window!;
      // Server time stands still while an activity runs: the skip ends once the Dashboard step is done.
      const skipping = s.skipTo(Date.parse(planned.startAt) + MINUTE);
      await wf.waitFor((st) => st.upgrade?.stage === 'dashboard', 'the Dashboard step');
      await wf.handle.signal(pauseSignal, { reason: 'odd latency graphs', by: 'sre-kim' });
      await wf.waitFor((st) => st.upgrade?.paused === true, 'paused');
      finishDashboard();
      // The running step finishes (and is verified); the next one does not start.
      await wf.waitFor(
        (st) => !!st.upgrade?.steps.some((x) => x.name.startsWith('upgrade dashboard') && x.status === 'done'),
        'the Dashboard step done',
      );
      await skipping;
      await wf.handle.signal(cancelSignal, { reason: 'customer escalation', by: 'sre-kim' });

      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ outcome: 'cancelled', changed: true });
      expect(attempt!.reason).toBe('cancelled by sre-kim: customer escalation');
      expect(attempt!.versions).toEqual({ dashboard: '5.3.4', gateway: '5.3.4', 'dp-eu': '5.3.4' });
      expect(log.trail().slice(-8)).toEqual([
        'probeComponents',
        'snapshotComponents',
        'upgradeComponent dashboard',
        'verifyComponent dashboard@5.8.2',
        'restoreComponent dashboard@5.3.4',
        'verifyComponent dashboard@5.3.4',
        'alertSre info trigger',
        'sendNotice cancelled',
      ]);
      expect(log.inputs('sendNotice').at(-1)!.reason).toContain('The previous versions are running again.');
      await wf.close();
    });
  },
);

server.it(
  'upgradeNow skips the wait for the window: the customer is told it is starting, then it upgrades',
  async (s) => {
    const cp = controlPlane({ id: 'cp-now', tier: 'production' });
    const log = new ActivityLog();
    // Production: a week's notice, so the window is eight days out.
    const activities = mockActivities(
      log,
      upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 8 * DAY, { leadMinutes: 7 * 24 * 60 })),
    );

    await s.withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const planned = (await wf.waitFor(waitingForWindow, 'waiting for the window')).upgrade!.window!;
      const answer = await wf.handle.executeUpdate(upgradeNowUpdate, {
        args: [{ reason: 'CVE fix the customer asked for', by: 'sre-jo' }],
      });
      expect(answer).toEqual({ accepted: true, from: 'waiting-for-window' });

      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ outcome: 'completed', changed: true });
      expect(log.trail()).toEqual([
        'assessControlPlane',
        'planWindow',
        'sendNotice scheduled',
        'assessControlPlane', // the checks are not skipped, only the window
        'probeComponents',
        'snapshotComponents',
        'sendNotice starting',
        'upgradeComponent dashboard',
        'verifyComponent dashboard@5.8.2',
        'upgradeComponent gateway',
        'verifyComponent gateway@5.8.2',
        'upgradeComponent dp-eu',
        'verifyComponent dp-eu@5.8.2',
        'sendNotice completed',
        'findFollowUpRelease',
      ]);
      const starting = log.inputs('sendNotice')[1]!;
      expect(starting.reason).toBe('Our engineers are starting this upgrade now: CVE fix the customer asked for');
      expect(starting.window).toBeUndefined();
      for (const call of log.of('upgradeComponent')) expect(call.at).toBeLessThan(Date.parse(planned.startAt));
      await wf.close();
    });
  },
);

server.it('defer moves an LTS upgrade to a window after the days asked for, with a rescheduled notice', async (s) => {
  const cp = controlPlane({ id: 'cp-deferred' });
  const log = new ActivityLog();
  const activities = mockActivities(
    log,
    upgradeActivities(cp, LTS_582, (now, notBefore) => windowPlan(cp, notBefore ?? now + 30 * HOUR)),
  );

  await s.withWorker(activities, async (offer) => {
    const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
    const first = (await wf.waitFor(waitingForWindow, 'waiting for the window')).upgrade!.window!;
    expect(await rejection(wf.handle.executeUpdate(deferUpdate, { args: [{ days: 10 }] }))).toBe(
      'days = 10: a whole number of days from 1 to 7',
    );

    const deferred = await wf.handle.executeUpdate(deferUpdate, {
      args: [{ days: 3, reason: 'quarter-end freeze', by: 'customer' }],
    });
    const newStart = Date.parse(first.startAt) + 3 * DAY;
    expect(deferred).toMatchObject({ deferralsLeft: 1, window: { startAt: new Date(newStart).toISOString() } });
    expect(log.inputs('planWindow')[1]!.notBefore).toBe(new Date(newStart).toISOString());
    const notice = log.inputs('sendNotice')[1]!;
    expect(notice).toMatchObject({
      kind: 'rescheduled',
      reason: 'Deferred by 3 day(s) at your request: quarter-end freeze',
    });

    const waiting = await wf.status();
    expect(waiting.whyNot.map((w) => w.code)).toEqual(['deferred', 'waiting-for-window']);
    expect(waiting.whyNot[0]!.until).toBe(new Date(newStart).toISOString());
    expect(waiting.upgrade!.deferrals).toEqual([
      expect.objectContaining({ days: 3, by: 'customer', newStart: new Date(newStart).toISOString() }),
    ]);

    // The first window opens and passes unused; the upgrade runs in the new one.
    await s.skipTo(Date.parse(first.startAt) + HOUR);
    expect(log.of('upgradeComponent')).toEqual([]);
    await s.skipTo(newStart + MINUTE);
    const [attempt] = await wf.attemptsEnded(1);
    expect(attempt!.outcome).toBe('completed');
    for (const call of log.of('upgradeComponent')) expect(call.at).toBeGreaterThanOrEqual(newStart);
    await wf.close();
  });
});

server.it('a security upgrade cannot be deferred: the update is rejected and the plan stands', async (s) => {
  const cp = controlPlane({ id: 'cp-security', dashboard: { version: '5.3.5' }, gateway: { version: '5.3.5' } });
  const log = new ActivityLog();
  const activities = mockActivities(
    log,
    upgradeActivities(cp, SECURITY_539, (t) => windowPlan(cp, t + 2 * HOUR, { leadMinutes: 60 })),
  );

  await s.withWorker(activities, async (offer) => {
    const wf = await offer(cp.id, { release: SECURITY_539, source: 'sre' });
    const before = (await wf.waitFor(waitingForWindow, 'waiting for the window')).upgrade!;
    expect(await rejection(wf.handle.executeUpdate(deferUpdate, { args: [{ days: 1, by: 'customer' }] }))).toBe(
      'security releases cannot be deferred (sec-5.3.9 is security)',
    );
    const after = (await wf.status()).upgrade!;
    expect(after.window).toEqual(before.window);
    expect(after.deferrals).toEqual([]);
    expect(log.trail()).toEqual(['assessControlPlane', 'planWindow', 'sendNotice scheduled']);
    const result = await wf.close();
    expect(result.recent.map((r) => [r.releaseId, r.outcome])).toEqual([['sec-5.3.9', 'cancelled']]);
  });
});
