// controlPlane with its activities mocked inline: an upgrade that goes well.
import {
  ActivityLog,
  controlPlane,
  HOUR,
  LTS_582,
  MINUTE,
  mockActivities,
  upgradeActivities,
  windowPlan,
} from './builders';
import { scenarioServer } from './scenarioServer';

const server = scenarioServer();

server.it(
  'waits for the window, then upgrades the Dashboard, the Gateway and each data plane, verifying each',
  async ({ withWorker, skipTo }) => {
    const cp = controlPlane({
      id: 'cp-happy',
      dataPlanes: [
        { id: 'dp-eu', version: '5.3.4' },
        { id: 'dp-us', version: '5.3.4' },
      ],
    });
    const log = new ActivityLog();
    const activities = mockActivities(
      log,
      upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 30 * HOUR)),
    );

    await withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const waiting = await wf.waitFor((s) => s.upgrade?.stage === 'waiting-for-window', 'waiting for the window');
      const startAt = Date.parse(waiting.upgrade!.window!.startAt);
      expect(startAt - Date.parse(log.inputs('planWindow')[0]!.now)).toBe(30 * HOUR);
      expect(waiting.state).toBe('waiting');
      expect(waiting.whyNot[0]).toMatchObject({ code: 'waiting-for-window', until: waiting.upgrade!.window!.startAt });
      expect(waiting.nextChanceAt).toBe(waiting.upgrade!.window!.startAt);
      expect(log.trail()).toEqual(['assessControlPlane', 'planWindow', 'sendNotice scheduled']);

      // A minute before the window: re-checked twice (every 12 hours), nothing touched.
      await skipTo(startAt - MINUTE);
      expect(log.trail().filter((t) => /upgrade|probe|snapshot/.test(t))).toEqual([]);

      await skipTo(startAt + MINUTE);
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed', changed: true });
      expect(attempt!.versions).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2', 'dp-us': '5.8.2' });

      expect(log.trail()).toEqual([
        'assessControlPlane',
        'planWindow',
        'sendNotice scheduled',
        'assessControlPlane', // +12 h: the customer's settings re-read
        'checkWindow',
        'assessControlPlane', // +24 h
        'checkWindow',
        'assessControlPlane', // the window opens
        'checkWindow',
        'probeComponents',
        'snapshotComponents',
        'upgradeComponent dashboard',
        'verifyComponent dashboard@5.8.2',
        'upgradeComponent gateway',
        'verifyComponent gateway@5.8.2',
        'upgradeComponent dp-eu',
        'verifyComponent dp-eu@5.8.2',
        'upgradeComponent dp-us',
        'verifyComponent dp-us@5.8.2',
        'sendNotice completed',
        'findFollowUpRelease',
      ]);
      // Every change is inside the window (server time); the snapshot covers every component that changes.
      for (const call of log.of('upgradeComponent')) expect(call.at).toBeGreaterThanOrEqual(startAt);
      expect(log.inputs('snapshotComponents')[0]!.map((c) => c.id)).toEqual(['dashboard', 'gateway', 'dp-eu', 'dp-us']);

      const idle = await wf.status();
      expect(idle).toMatchObject({ state: 'idle', runs: 1 });
      expect(idle.whyNot).toEqual([expect.objectContaining({ code: 'already-at-target' })]);

      const result = await wf.close();
      expect(result.installed).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2', 'dp-us': '5.8.2' });
      expect(result.recent.map((r) => r.outcome)).toEqual(['completed']);
    });
  },
);

server.it(
  'changes only what is behind the target, and migrates renamed Gateway keys in the Gateway step',
  async ({ withWorker, skipTo }) => {
    const cp = controlPlane({
      id: 'cp-partly-current',
      dashboard: { version: '5.8.2' },
      config: { analytics_config: { enable_geo_ip: true } },
      dataPlanes: [
        { id: 'dp-eu', version: '5.8.2' },
        { id: 'dp-ap', version: '5.3.4' },
      ],
    });
    const log = new ActivityLog();
    const activities = mockActivities(
      log,
      upgradeActivities(cp, LTS_582, (t) => windowPlan(cp, t + 25 * HOUR)),
    );

    await withWorker(activities, async (offer) => {
      const wf = await offer(cp.id, { release: LTS_582, source: 'sre' });
      const waiting = await wf.waitFor((s) => s.upgrade?.stage === 'waiting-for-window', 'waiting for the window');
      await skipTo(Date.parse(waiting.upgrade!.window!.startAt) + MINUTE);
      const [attempt] = await wf.attemptsEnded(1);
      expect(attempt!.outcome).toBe('completed');

      expect(log.trail().filter((t) => t.startsWith('upgradeComponent'))).toEqual([
        'upgradeComponent gateway',
        'upgradeComponent dp-ap',
      ]);
      expect(log.inputs('upgradeComponent')[0]!.configMigrations).toEqual([
        { key: 'analytics_config.enable_geo_ip', to: 'analytics_config.geo_ip.enabled', renamedIn: '5.8.0' },
      ]);
      expect(log.inputs('upgradeComponent')[1]!.configMigrations).toBeUndefined();
      // The scheduled notice lists what will change, and only that.
      const scheduled = log.inputs('sendNotice')[0]!;
      expect(scheduled.kind).toBe('scheduled');
      expect(scheduled.changes.map((c) => `${c.component.id} ${c.from}→${c.to}`)).toEqual([
        'gateway 5.3.4→5.8.2',
        'dp-ap 5.3.4→5.8.2',
      ]);

      const result = await wf.close();
      expect(result.installed).toEqual({ dashboard: '5.8.2', gateway: '5.8.2', 'dp-eu': '5.8.2', 'dp-ap': '5.8.2' });
    });
  },
);
