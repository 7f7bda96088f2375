import { join } from 'node:path';
import type { SreAlert } from '../../../domain/model';
import { LogAlerter, readAlertLog } from '../../../integrations/logAlerter';
import { tempDir } from './fixtures';

const { dir, cleanup } = tempDir('alerts');
afterAll(cleanup);

const alert = (action: SreAlert['action'], dedupKey = 'nightshift/cp-acme/lts-5.8.2'): SreAlert => ({
  dedupKey,
  action,
  severity: 'critical',
  summary: 'Rollback of cp-acme failed: gateway still on 5.8.2',
  controlPlaneId: 'cp-acme',
  releaseId: 'lts-5.8.2',
  workflowId: 'upgrade-cp-acme-lts-5.8.2',
  details: { component: 'gateway' },
});

describe('LogAlerter', () => {
  it('logs a readable line once per dedupKey and action, and writes JSON lines', async () => {
    const path = join(dir, 'sub', 'alerts.jsonl');
    const lines: string[] = [];
    const alerter = new LogAlerter({ path, log: (line) => lines.push(line) });
    expect(alerter.channel).toBe('log');
    await alerter.alert(alert('trigger'));
    await alerter.alert(alert('trigger'));
    await alerter.alert(alert('resolve'));
    await Promise.all([alerter.alert(alert('trigger', 'other')), alerter.alert(alert('trigger', 'other'))]);
    expect(lines).toEqual([
      '[SRE CRITICAL] TRIGGER cp-acme lts-5.8.2: Rollback of cp-acme failed: gateway still on 5.8.2 (dedup nightshift/cp-acme/lts-5.8.2, workflow upgrade-cp-acme-lts-5.8.2)',
      '[SRE RESOLVED] RESOLVE cp-acme lts-5.8.2: Rollback of cp-acme failed: gateway still on 5.8.2 (dedup nightshift/cp-acme/lts-5.8.2, workflow upgrade-cp-acme-lts-5.8.2)',
      '[SRE CRITICAL] TRIGGER cp-acme lts-5.8.2: Rollback of cp-acme failed: gateway still on 5.8.2 (dedup other, workflow upgrade-cp-acme-lts-5.8.2)',
    ]);
    const entries = await readAlertLog(path);
    expect(entries.map((e) => `${e.action}:${e.dedupKey}`)).toEqual([
      'trigger:nightshift/cp-acme/lts-5.8.2',
      'resolve:nightshift/cp-acme/lts-5.8.2',
      'trigger:other',
    ]);
    expect(entries[0]).toMatchObject({ severity: 'critical', details: { component: 'gateway' } });
    expect(Number.isNaN(Date.parse(entries[0]!.at))).toBe(false);

    // A restarted worker recognizes the repeat from the file.
    const restartedLines: string[] = [];
    await new LogAlerter({ path, log: (line) => restartedLines.push(line) }).alert(alert('trigger'));
    expect(restartedLines).toEqual([]);
  });

  it('with alert ids, a later alert for the same upgrade is new and only a retried one is dropped', async () => {
    const path = join(dir, 'ids', 'alerts.jsonl');
    const lines: string[] = [];
    const alerter = new LogAlerter({ path, log: (line) => lines.push(line) });
    const key = 'upgrade/cp-acme/lts-5.8.2';
    await alerter.alert({ ...alert('trigger', key), id: `${key}/alert/1` });
    await alerter.alert({ ...alert('trigger', key), id: `${key}/alert/1` });
    await alerter.alert({ ...alert('trigger', key), id: `${key}/alert/2`, severity: 'info' });
    await new LogAlerter({ path, log: (line) => lines.push(line) }).alert({
      ...alert('trigger', key),
      id: `${key}/alert/2`,
    });
    expect(lines.map((l) => l.slice(0, 22))).toEqual(['[SRE CRITICAL] TRIGGER', '[SRE INFO] TRIGGER cp-']);
    expect((await readAlertLog(path)).map((e) => e.id)).toEqual([`${key}/alert/1`, `${key}/alert/2`]);
  });

  it('de-duplicates in memory without a file', async () => {
    const lines: string[] = [];
    const alerter = new LogAlerter({ log: (line) => lines.push(line) });
    await alerter.alert({ ...alert('trigger'), severity: 'warning' });
    await alerter.alert({ ...alert('trigger'), severity: 'warning' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[SRE WARNING\] TRIGGER cp-acme/);
  });

  it('logs to console.error by default', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      await new LogAlerter().alert(alert('trigger', 'console'));
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]?.[0]).toContain('(dedup console,');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('LogAlerter deadlines', () => {
  it('writes nothing once notAfter has passed or the signal has aborted, and writes it on a later attempt', async () => {
    const path = join(dir, 'late', 'alerts.jsonl');
    const lines: string[] = [];
    const alerter = new LogAlerter({ path, log: (line) => lines.push(line) });
    const late = await alerter.alert(alert('trigger'), { notAfter: Date.now() - 1 }).catch((err: Error) => err);
    expect(late).toBeInstanceOf(Error);
    expect((late as Error).constructor).toBe(Error);
    expect((late as Error).message).toMatch(/deadline .* has passed/);

    const controller = new AbortController();
    controller.abort();
    const cancelled = await alerter.alert(alert('trigger'), { signal: controller.signal }).catch((err: Error) => err);
    expect(cancelled).toBeInstanceOf(Error);
    expect((cancelled as Error).message).toMatch(/cancelled/);
    expect(lines).toEqual([]);
    expect(await readAlertLog(path)).toEqual([]);

    await alerter.alert(alert('trigger'), { notAfter: Date.now() + 60_000, signal: new AbortController().signal });
    expect(lines).toHaveLength(1);
    expect((await readAlertLog(path)).map((e) => e.action)).toEqual(['trigger']);
  });
});
