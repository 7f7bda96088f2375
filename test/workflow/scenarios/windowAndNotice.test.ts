// controlPlane with its activities mocked inline: the maintenance window, the notices about it, and fleet slots.
import { grantSignal } from '../../../workflows/messages';
import {
  ActivityLog,
  controlPlane,
  HOUR,
  LTS_582,
  MINUTE,
  mockActivities,
  openAt,
  upgradeActivities,
  windowPlan,
} from './builders';
import { scenarioServer } from './scenarioServer';

const server = scenarioServer();

server.it(
  'notices the window ahead, re-reads the settings every 12 hours, and a cancellation while waiting changes nothing',
  async ({ withWorker, skipTo }) => {
    const cp = controlPlane({
      id: 'cp-notice',
      window: { timeZone: 'America/New_York', start: '02:00', durationMinutes: 240, weekly: { days: ['tue'] } },
    });
    const log = new ActivityLog();
    const activities = mockActivities(
      log,
      upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 40 * HOUR)),
    );

    await withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const waiting = await wf.waitFor((s) => s.upgrade?.stage === 'waiting-for-window', 'waiting for the window');
      const plan = waiting.upgrade!.window!;

      const notice = log.inputs('sendNotice')[0]!;
      expect(notice).toMatchObject({ kind: 'scheduled', controlPlaneId: cp.id, releaseId: 'lts-5.8.2' });
      expect(notice.key).toBe('control-plane/cp-notice/a1/scheduled/1');
      expect(notice.window).toMatchObject({
        startAt: plan.startAt,
        closesAt: plan.closesAt,
        timeZone: 'America/New_York',
      });
      expect(notice.window!.localText).toContain('America/New_York');
      expect(notice.changes.map((c) => c.component.id)).toEqual(['dashboard', 'gateway', 'dp-eu']);
      expect(plan.noticeDeliveredAt).toBeDefined();

      await skipTo(Date.parse(plan.startAt) - MINUTE);
      // Assessed when offered, then every 12 hours (server time), each time checking the planned start still holds.
      const assessed = log.of('assessControlPlane').map((c) => c.at);
      expect(assessed).toHaveLength(4);
      for (let i = 1; i < assessed.length; i++) {
        expect(assessed[i]! - assessed[i - 1]!).toBeGreaterThanOrEqual(12 * HOUR);
        expect(assessed[i]! - assessed[i - 1]!).toBeLessThan(12 * HOUR + MINUTE);
      }
      expect(log.inputs('checkWindow')).toEqual(
        Array(3).fill({ controlPlaneId: cp.id, at: plan.startAt, requiredMinutes: 75, leadMinutes: 24 * 60 }),
      );
      expect(log.trail().filter((t) => /upgrade|probe|snapshot/.test(t))).toEqual([]);

      const result = await wf.close();
      expect(result.recent).toEqual([
        expect.objectContaining({ outcome: 'cancelled', changed: false, reason: 'cancelled via Temporal' }),
      ]);
      expect(log.trail().at(-1)).toBe('sendNotice cancelled');
      expect(log.inputs('sendNotice').at(-1)!.reason).toContain('Nothing was changed.');
    });
  },
);

server.it(
  'a moved window is re-planned and re-notified, and the upgrade waits for the new one',
  async ({ withWorker, skipTo }) => {
    const cp = controlPlane({ id: 'cp-moved' });
    const log = new ActivityLog();
    const plans: number[] = [];
    const activities = mockActivities(log, {
      ...upgradeActivities(cp, LTS_582),
      // First the window in 30 hours; re-planned, the one three days out.
      planWindow: async ({ now }) => {
        plans.push(Date.parse(now) + (plans.length === 0 ? 30 : 72) * HOUR);
        return windowPlan(cp, plans.at(-1)!);
      },
      checkWindow: async ({ at }) =>
        Date.parse(at) === plans[0]
          ? { open: false, reason: 'the customer moved the window to Thursdays' }
          : openAt(windowPlan(cp, plans[1]!), at),
    });

    await withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      await wf.waitFor((s) => s.upgrade?.stage === 'waiting-for-window', 'waiting for the window');
      // The first re-check (12 hours on) finds the window moved.
      await skipTo(plans[0]! + MINUTE);
      const replanned = await wf.waitFor(
        (s) => s.upgrade?.window?.startAt === new Date(plans[1]!).toISOString(),
        'the new window planned',
      );
      expect(replanned.upgrade!.stage).toBe('waiting-for-window');
      expect(log.trail()).toEqual([
        'assessControlPlane',
        'planWindow',
        'sendNotice scheduled',
        'assessControlPlane',
        'checkWindow',
        'planWindow',
        'sendNotice rescheduled',
        'assessControlPlane', // +24 h: the new window still holds; the old one opens and passes unused
        'checkWindow',
      ]);
      expect(log.inputs('sendNotice')[1]!.reason).toBe('the customer moved the window to Thursdays');
      expect(log.of('checkWindow')[0]!.at - log.of('assessControlPlane')[0]!.at).toBeGreaterThanOrEqual(12 * HOUR);

      await skipTo(plans[1]! + MINUTE);
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt!.outcome).toBe('completed');
      for (const call of log.of('upgradeComponent')) expect(call.at).toBeGreaterThanOrEqual(plans[1]!);
      await wf.close();
    });
  },
);

server.it(
  'no fleet slot before the latest start: the slot goes back, the next window is noticed, and a grant there starts it',
  async ({ withWorker, skipTo }) => {
    const cp = controlPlane({ id: 'cp-no-slot' });
    const fleet = { workflowId: 'fleet/lts-5.8.2', wave: 'main' as const };
    const log = new ActivityLog();
    const activities = mockActivities(log, {
      // Two-hour windows: with 75 minutes needed, the latest start is 45 minutes in. Re-planned: two days on.
      ...upgradeActivities(cp, LTS_582, (now, notBefore) =>
        windowPlan(cp, notBefore ? notBefore + 48 * HOUR : now + 30 * HOUR, { minutes: 120 }),
      ),
      askFleetForSlot: async () => ({ delivered: true }),
      returnFleetSlot: async () => ({ delivered: true }),
      reportToFleet: async () => ({ delivered: true }),
    });

    await withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'fleet', fleet });
      const first = (await wf.waitFor((s) => s.upgrade?.stage === 'waiting-for-window', 'first window')).upgrade!;
      const start1 = Date.parse(first.window!.startAt);
      await skipTo(start1 + 50 * MINUTE);
      const second = (
        await wf.waitFor(
          (s) => s.upgrade?.stage === 'waiting-for-window' && s.upgrade.window?.startAt !== first.window!.startAt,
          'the next window',
        )
      ).upgrade!;
      expect(log.inputs('askFleetForSlot')[0]).toEqual({
        fleetWorkflowId: fleet.workflowId,
        ask: { controlPlaneId: cp.id, releaseId: 'lts-5.8.2', until: new Date(start1 + 45 * MINUTE).toISOString() },
      });
      expect(log.trail().slice(3)).toEqual([
        'assessControlPlane', // +12 h
        'checkWindow',
        'assessControlPlane', // +24 h
        'checkWindow',
        'assessControlPlane', // the window opens
        'checkWindow',
        'askFleetForSlot',
        'returnFleetSlot', // 45 minutes later, no grant
        'planWindow',
        'sendNotice rescheduled',
      ]);
      expect(log.of('returnFleetSlot')[0]!.at - start1).toBeGreaterThanOrEqual(45 * MINUTE);
      expect(log.inputs('planWindow')[1]!.notBefore).toBe(first.window!.closesAt);
      expect(log.inputs('sendNotice')[1]!.reason).toContain('at capacity for the whole of your maintenance window');

      await skipTo(Date.parse(second.window!.startAt) + MINUTE);
      const asking = await wf.waitFor((s) => s.upgrade?.fleet?.slotWaits === 2, 'second slot request');
      expect(asking.upgrade!.stage).toBe('waiting-for-slot');
      expect(asking.whyNot[0]).toMatchObject({ code: 'waiting-for-slot', until: second.window!.closesAt });
      expect(log.trail().filter((t) => /upgrade|probe/.test(t))).toEqual([]);

      const grant = { releaseId: 'lts-5.8.2', grantedAt: new Date().toISOString() };
      await wf.handle.signal(grantSignal, grant);
      // The same grant again, as a retried grantSlots activity delivers it: the slot is held, not handed back.
      await wf.handle.signal(grantSignal, grant);
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ outcome: 'completed', fleetWorkflowId: fleet.workflowId });
      expect(log.inputs('reportToFleet')).toEqual([
        {
          fleetWorkflowId: fleet.workflowId,
          report: expect.objectContaining({
            controlPlaneId: cp.id,
            releaseId: 'lts-5.8.2',
            outcome: 'completed',
            changed: true,
          }),
        },
      ]);
      expect(log.of('upgradeComponent')[0]!.at).toBeGreaterThanOrEqual(Date.parse(second.window!.startAt));
      expect(log.inputs('returnFleetSlot')).toHaveLength(1); // only the one after the first window's latest start
      await wf.record('repeated-grant-kept', 'upgradeComponent');
      await wf.close();
    });
  },
);

server.it(
  'a window closer than the notice period is not used: re-planned, and after three late notices it stops unchanged',
  async ({ withWorker }) => {
    const cp = controlPlane({ id: 'cp-late-notice', tier: 'staging' });
    const log = new ActivityLog();
    // The notice needs two days (staging), but every window offered opens in an hour and lasts four.
    const activities = mockActivities(log, {
      ...upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + HOUR, { leadMinutes: 2 * 24 * 60 })),
      alertSre: async () => undefined,
    });

    await withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ outcome: 'failed-before-change', changed: false });
      expect(attempt!.reason).toContain(
        '3 notices in a row reached the customer too late to keep the 2 days notice period',
      );
      expect(log.trail()).toEqual([
        'assessControlPlane',
        'planWindow',
        'sendNotice scheduled',
        'planWindow',
        'sendNotice rescheduled',
        'planWindow',
        'sendNotice rescheduled',
        'alertSre error trigger',
        'sendNotice cancelled',
      ]);
      expect(log.inputs('sendNotice')[1]!.reason).toContain('reached you later than planned');
      expect(log.trail().filter((t) => /upgrade|probe|snapshot|checkWindow/.test(t))).toEqual([]);
      await wf.close();
    });
  },
);
