import path from 'node:path';
import { DEFAULT_POLICY } from '../../domain/policy';
import { loadInventoryFile } from '../../integrations/fileInventory';
import { parseRolloutPolicy } from '../../domain/rollout';
import { formatPlan, planFleet, runPlan, waveCounts } from '../../cli/plan';
import { parseCommandLine } from '../../cli/program';
import { UsageError } from '../../cli/cliArgs';

describe('nightshift plan (planFleet) on the example fleet', () => {
  const inventory = loadInventoryFile(path.resolve(__dirname, '../../examples/fleet.yaml'));
  const release = {
    id: 'lts-5.8.2',
    kind: 'lts' as const,
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes',
  };
  const rows = planFleet(inventory.controlPlanes, release, DEFAULT_POLICY, new Date('2026-11-24T12:00:00Z'));
  const byId = Object.fromEntries(rows.map((r) => [r.controlPlaneId, r]));

  it('gives every skipped control plane its reason', () => {
    expect(byId['cp-initech-hybrid']).toMatchObject({ eligible: false, reason: 'hybrid' });
    expect(byId['cp-initech-plugins']).toMatchObject({ eligible: false, reason: 'plugins' });
    expect(byId['cp-initech-optout']).toMatchObject({ eligible: false, reason: 'not-opted-in' });
    expect(byId['cp-acme-current']).toMatchObject({ eligible: false, reason: 'already-at-target' });
    expect(byId['cp-hooli-legacy']).toMatchObject({ eligible: false, reason: 'config-incompatible' });
    expect(byId['cp-hooli-legacy']!.detail).toContain('tracing.enabled was removed in Gateway 5.8.0');
    expect(byId['cp-hooli-legacy']!.window).toBeUndefined();
  });

  it('covers the paths the demo shows: several time zones, every tier, data planes, a renamed key, a fault', () => {
    const cps = inventory.controlPlanes;
    expect(cps.length).toBeGreaterThanOrEqual(12);
    expect(cps.length).toBeLessThanOrEqual(16);
    expect(new Set(cps.map((cp) => cp.window.timeZone)).size).toBeGreaterThanOrEqual(8);
    expect(new Set(cps.map((cp) => cp.tier))).toEqual(new Set(['production', 'staging', 'development']));
    expect(cps.filter((cp) => cp.dataPlanes.length >= 2).length).toBeGreaterThanOrEqual(2);
    expect(byId['cp-acme-eu']!.changes.join(', ')).toContain(
      '[config analytics_config.enable_geo_ip → analytics_config.geo_ip.enabled (5.8.0)]',
    );
    expect(cps.find((cp) => cp.id === 'cp-globex-in')!.simulate?.faults).toEqual({ gateway: 'fail-after-upgrade' });
  });

  it('plans the production control plane a week out, on the first Sunday, in its own zone and in UTC', () => {
    const au = byId['cp-globex-au']!;
    expect(au.eligible).toBe(true);
    expect(au.window!.startAt).toBe('2026-12-05T14:30:00.000Z'); // Sun 6 Dec 01:00 in Adelaide (+10:30)
    expect(au.window!.localText).toContain('Sun 6 Dec 2026 01:00');
    expect(au.window!.utcText).toContain('Sat 5 Dec 2026 14:30');
    expect(au.window!.leadMinutes).toBe(7 * 24 * 60);
    expect(au.changes).toEqual(['dashboard 5.3.4→5.8.2', 'gateway 5.3.4→5.8.2', 'dp-sydney 5.3.4→5.8.2']);
  });

  it('starts a development control plane no earlier than its one-day notice', () => {
    expect(byId['cp-acme-eu']!.window!.startAt).toBe('2026-11-25T12:00:00.000Z');
  });

  it('waits for a short daily window, two days for staging, a week for a weekly production window', () => {
    // 09:00 Tokyo = 00:00 UTC, 04:00 Los Angeles = 12:00 UTC: the first ones after the one-day notice.
    expect(byId['cp-umbrella-jp']!.window!.startAt).toBe('2026-11-26T00:00:00.000Z');
    expect(byId['cp-umbrella-us']!.window!.startAt).toBe('2026-11-25T12:00:00.000Z');
    expect(byId['cp-initech-staging']!.window!.localText).toContain('Thu 26 Nov 2026 22:00');
    expect(byId['cp-initech-staging']!.window!.utcText).toContain('Fri 27 Nov 2026 04:00');
    expect(byId['cp-hooli-uk']!.window!.startAt).toBe('2026-12-06T02:00:00.000Z'); // not Sun 29 Nov: 7-day notice
  });

  it('skips the windows a blackout covers', () => {
    // Saturdays 28 Nov to 2 Jan fall in the peak-season freeze (20 Nov – 3 Jan, Singapore dates).
    const sg = byId['cp-vandelay-sg']!;
    expect(sg.window!.localText).toContain('Sat 9 Jan 2027 02:00');
    expect(sg.window!.startAt).toBe('2027-01-08T18:00:00.000Z');
    const withoutFreeze = inventory.controlPlanes.find((cp) => cp.id === 'cp-vandelay-sg')!;
    const [open] = planFleet(
      [{ ...withoutFreeze, blackouts: [] }],
      release,
      DEFAULT_POLICY,
      new Date('2026-11-24T12:00:00Z'),
    );
    expect(open!.window!.localText).toContain('Sat 28 Nov 2026 02:00');
  });

  it('puts every eligible control plane in the main wave by default (no example control plane is labelled canary)', () => {
    expect(inventory.controlPlanes.some((cp) => cp.labels.includes('canary'))).toBe(false);
    const eligible = rows.filter((r) => r.eligible);
    expect(eligible.map((r) => r.controlPlaneId)).toEqual([
      'cp-acme-eu',
      'cp-acme-us',
      'cp-globex-in',
      'cp-globex-au',
      'cp-globex-br',
      'cp-umbrella-jp',
      'cp-umbrella-us',
      'cp-initech-staging',
      'cp-hooli-uk',
      'cp-vandelay-sg',
    ]);
    for (const r of eligible) expect(r.wave).toBe('main');
    // Blocked by its configuration: started anyway (main wave), so the customer gets the action-needed notice.
    expect(byId['cp-hooli-legacy']!.wave).toBe('main');
    for (const r of rows.filter((x) => !x.eligible && x.reason !== 'config-incompatible'))
      expect(r.wave).toBeUndefined();
    expect(waveCounts(rows)).toEqual({ canary: 0, main: 11 });
    const text = formatPlan(rows, parseRolloutPolicy({}));
    expect(text).toContain('10 to upgrade, 5 skipped');
    expect(text).toContain('waves: canary 0, main 11');
  });
});

describe('nightshift plan: waves from the rollout policy', () => {
  const inventory = loadInventoryFile(path.resolve(__dirname, '../../examples/fleet.yaml'));
  const now = new Date('2026-11-24T12:00:00Z');
  const base = {
    id: 'lts-5.8.2',
    kind: 'lts' as const,
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes',
  };
  const waves = (rows: ReturnType<typeof planFleet>) => Object.fromEntries(rows.map((r) => [r.controlPlaneId, r.wave]));

  it('puts a control plane named by id in the canary wave; skipped ones get no wave', () => {
    const rollout = parseRolloutPolicy({ canary: { controlPlaneIds: ['cp-globex-in', 'cp-initech-hybrid'] } });
    const rows = planFleet(inventory.controlPlanes, base, DEFAULT_POLICY, now, rollout);
    expect(waves(rows)).toEqual({
      'cp-acme-eu': 'main',
      'cp-acme-us': 'main',
      'cp-globex-in': 'canary',
      'cp-globex-au': 'main',
      'cp-globex-br': 'main',
      'cp-umbrella-jp': 'main',
      'cp-umbrella-us': 'main',
      'cp-initech-staging': 'main',
      'cp-hooli-uk': 'main',
      'cp-hooli-legacy': 'main', // blocked by its configuration, started to send the action-needed notice
      'cp-vandelay-sg': 'main',
      'cp-initech-hybrid': undefined, // named as canary, but hybrid: never upgraded, so no wave
      'cp-initech-plugins': undefined,
      'cp-initech-optout': undefined,
      'cp-acme-current': undefined,
    });
    expect(waveCounts(rows)).toEqual({ canary: 1, main: 10 });
    const text = formatPlan(rows, rollout);
    expect(text).toContain('waves: canary 1, main 10');
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^CONTROL PLANE +TIER +WAVE +DECISION +WINDOW +NOTICE +CHANGES$/);
    expect(lines.find((l) => l.startsWith('cp-globex-in '))).toMatch(/^cp-globex-in +development +canary +upgrade +/);
    expect(lines.find((l) => l.startsWith('cp-initech-hybrid '))).toMatch(
      /^cp-initech-hybrid +production +— +skip: hybrid +/,
    );
  });

  it("uses the release's own rollout when no other is given; a canary tier selects the whole tier", () => {
    const release = { ...base, rollout: parseRolloutPolicy({ canary: { tiers: ['production'] } }) };
    const rows = planFleet(inventory.controlPlanes, release, DEFAULT_POLICY, now);
    expect(waves(rows)).toMatchObject({
      'cp-globex-au': 'canary',
      'cp-hooli-uk': 'canary',
      'cp-acme-eu': 'main',
      'cp-initech-staging': 'main',
      'cp-initech-optout': undefined,
    });
    expect(waveCounts(rows)).toEqual({ canary: 2, main: 9 });
  });

  it('gives a control plane blocked by its configuration a wave (the fleet starts it to tell the customer)', () => {
    const acme = inventory.controlPlanes.find((cp) => cp.id === 'cp-acme-eu')!;
    const blocked = { ...acme, labels: ['canary'], config: { ...acme.config, use_db_app_configs: true } };
    const [row] = planFleet([blocked], base, DEFAULT_POLICY, now);
    expect(row).toMatchObject({ eligible: false, reason: 'config-incompatible', wave: 'canary' });
    expect(row!.window).toBeUndefined();
  });
});

describe('nightshift plan: the command line', () => {
  const ctx = { now: new Date('2026-11-24T12:00:00Z'), user: 'ada' };
  const plan = (...argv: string[]) => {
    const r = parseCommandLine(['plan', ...argv], ctx);
    if (r.kind !== 'plan') throw new Error(`not a plan: ${r.kind}`);
    return r.plan;
  };
  const release = path.resolve(__dirname, '../../examples/release-lts-5.8.2.json');

  it('reads the inventory and the release, and prints JSON with -o json', () => {
    const cmd = plan('--release', release, '--now', '2026-11-24T12:00:00Z', '-o', 'json');
    expect(cmd).toMatchObject({ inventory: 'examples/fleet.yaml', output: 'json', release: { id: 'lts-5.8.2' } });
    const out: string[] = [];
    runPlan(cmd, DEFAULT_POLICY, { stdout: (t) => out.push(t) });
    const json = JSON.parse(out.join('\n'));
    expect(json).toMatchObject({
      release: 'lts-5.8.2',
      now: '2026-11-24T12:00:00.000Z',
      waves: { canary: 0, main: 11 },
    });
    expect(json.controlPlanes).toHaveLength(cmd.controlPlanes.length);
  });

  it.each([
    [[], 'plan: --release <file> is required'],
    [['--release', 'nope.json'], '--release = "nope.json": no such file'],
    [['--release', release, '--now', 'soon'], '--now = "soon": not an ISO-8601 instant'],
    [['--release', release, '--inventory', 'missing.yaml'], '--inventory = "missing.yaml": no such file'],
    [['--release', release, '-o', 'csv'], "plan: option '-o, --output <format>' argument 'csv' is invalid"],
    [['--release', release, 'extra'], 'plan: unexpected argument "extra"'],
  ])('rejects %j naming the flag and the value', (argv, message) => {
    expect(() => plan(...argv)).toThrow(UsageError);
    expect(() => plan(...argv)).toThrow(message);
  });
});
