// A smaller chaos run than `npm run chaos` (which does at least 100 upgrades and 20 worker kills): the same harness —
// worker processes SIGKILLed and restarted, a dev-server restart, random operator actions, HubSpot and PagerDuty
// outages, two overlapping releases, injected faults — judged from the simulated fleet's own audit log.
import { runChaos } from '../../scripts/chaos/run';

it(
  'a chaos run with worker kills and a server restart leaves every control plane upgraded, restored or untouched',
  async () => {
    const lines: string[] = [];
    const r = await runChaos({
      controlPlanes: 24,
      kills: 4,
      serverRestarts: 1,
      workers: 2,
      seed: 2026,
      chaosMinutes: 1.5,
      maxMinutes: 9,
      log: (l) => lines.push(l),
    });
    const v = r.verdict;
    console.log(
      `chaos (seed 2026) in ${(r.durationMs / 1000).toFixed(0)} s: kills ${r.kills}, server restarts ${r.serverRestarts}, ` +
        `attempts ${JSON.stringify(v.figures.outcomes)}, final ${JSON.stringify(v.figures.finalStates)}, ` +
        `actions ${JSON.stringify(r.actions)}, outages ${JSON.stringify(r.outages)}\n${lines.join('\n')}`,
    );
    expect(v.violations).toEqual([]);
    expect(Object.values(v.zeros).every((n) => n === 0)).toBe(true);
    expect(r.kills).toBe(4);
    expect(r.serverRestarts).toBe(1);
    // It did real work: upgrades finished on the target, judged by the fleet's own state.
    expect(v.figures.finalStates['on-target']).toBeGreaterThanOrEqual(8);
    expect(v.figures.changesStarted).toBeGreaterThanOrEqual(24);
  },
  12 * 60_000,
);
