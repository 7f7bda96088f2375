import { assessEligibility, componentsOf } from '../../domain/eligibility';
import { ControlPlaneSchema, type ControlPlane } from '../../domain/inventory';
import type { ComponentDecision, EligibilityDecision } from '../../domain/model';
import { ReleaseSchema, type Release } from '../../domain/release';
import { parseWith } from '../../domain/validation';

function controlPlane(overrides: Record<string, unknown> = {}): ControlPlane {
  return parseWith(
    ControlPlaneSchema,
    {
      id: 'cp-acme-eu',
      orgId: 'acme',
      name: 'Acme EU',
      tier: 'production',
      autoUpgrade: true,
      dashboard: { version: '5.3.4' },
      gateway: { version: '5.3.4' },
      window: { timeZone: 'Europe/Berlin', start: '01:00', durationMinutes: 240, weekly: { days: ['sun'] } },
      ...overrides,
    },
    'test control plane',
  );
}

function lts(overrides: Record<string, unknown> = {}): Release {
  return parseWith(
    ReleaseSchema,
    {
      id: 'lts-5.8.2',
      kind: 'lts',
      targets: { dashboard: '5.8.2', gateway: '5.8.2' },
      notesUrl: 'https://tyk.io/docs/developer-support/release-notes/gateway/#582-release-notes',
      ...overrides,
    },
    'test release',
  );
}

function security(affected: string, overrides: Record<string, unknown> = {}): Release {
  return lts({ id: 'sec-5.8.2', kind: 'security', affected, ...overrides });
}

const v = (version: string) => ({ version });

/** `{ dashboard: 'change', gateway: 'would-downgrade', ... }` keyed by component id. */
function outcomes(d: EligibilityDecision): Record<string, string> {
  return Object.fromEntries(
    d.components.map((c: ComponentDecision) => [c.component.id, c.change ? 'change' : c.reason!]),
  );
}

function changesOf(d: EligibilityDecision): string[] {
  if (!d.eligible) throw new Error(`expected eligible, got ${d.reason}: ${d.detail}`);
  return d.changes.map((c) => `${c.component.kind}:${c.component.id} ${c.from}->${c.to}`);
}

describe('componentsOf', () => {
  it('lists dashboard, gateway, then data planes in inventory order, with their versions', () => {
    const cp = controlPlane({
      dashboard: v('v5.8.1'),
      gateway: v('5.8.0'),
      dataPlanes: [
        { id: 'dp-us', version: '5.3.4' },
        { id: 'dp-ap', region: 'ap-southeast-1', version: '5.8.1' },
      ],
    });
    expect(componentsOf(cp)).toEqual([
      { component: { controlPlaneId: 'cp-acme-eu', kind: 'dashboard', id: 'dashboard' }, version: '5.8.1' },
      { component: { controlPlaneId: 'cp-acme-eu', kind: 'gateway', id: 'gateway' }, version: '5.8.0' },
      { component: { controlPlaneId: 'cp-acme-eu', kind: 'data-plane', id: 'dp-us' }, version: '5.3.4' },
      { component: { controlPlaneId: 'cp-acme-eu', kind: 'data-plane', id: 'dp-ap' }, version: '5.8.1' },
    ]);
  });
});

describe('assessEligibility: exclusions', () => {
  it('skips control planes that have not opted in, naming the setting', () => {
    const d = assessEligibility(controlPlane({ autoUpgrade: false }), lts());
    expect(d).toEqual({
      eligible: false,
      reason: 'not-opted-in',
      detail: expect.stringContaining('cp-acme-eu'),
      components: [],
    });
    expect(!d.eligible && d.detail).toContain('autoUpgrade: false');
  });

  it('excludes hybrid deployments', () => {
    const d = assessEligibility(controlPlane({ hybrid: true }), lts());
    expect(d.eligible).toBe(false);
    expect(!d.eligible && d.reason).toBe('hybrid');
    expect(!d.eligible && d.detail).toContain('hybrid: true');
    expect(d.components).toEqual([]);
  });

  it('excludes deployments with plugins', () => {
    const d = assessEligibility(controlPlane({ plugins: true }), lts());
    expect(!d.eligible && d.reason).toBe('plugins');
    expect(!d.eligible && d.detail).toContain('plugins: true');
  });

  it('checks opt-in first, then hybrid, then plugins', () => {
    const all = assessEligibility(controlPlane({ autoUpgrade: false, hybrid: true, plugins: true }), lts());
    expect(!all.eligible && all.reason).toBe('not-opted-in');
    const hybridAndPlugins = assessEligibility(controlPlane({ hybrid: true, plugins: true }), lts());
    expect(!hybridAndPlugins.eligible && hybridAndPlugins.reason).toBe('hybrid');
  });

  it('excludes hybrid and plugin deployments even from security releases', () => {
    const d = assessEligibility(controlPlane({ plugins: true }), security('>=5.3.0 <5.3.9'));
    expect(!d.eligible && d.reason).toBe('plugins');
  });
});

describe('assessEligibility: LTS releases', () => {
  it('upgrades an older LTS line, Dashboard first then Gateway', () => {
    const d = assessEligibility(controlPlane(), lts());
    expect(d.eligible).toBe(true);
    expect(changesOf(d)).toEqual(['dashboard:dashboard 5.3.4->5.8.2', 'gateway:gateway 5.3.4->5.8.2']);
    expect(d.components.map((c) => c.detail)).toEqual(['dashboard 5.3.4 → 5.8.2', 'gateway 5.3.4 → 5.8.2']);
  });

  it('upgrades a lower patch on the same LTS line (5.8.1 → 5.8.2)', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.8.1'), gateway: v('v5.8.1') }), lts());
    expect(changesOf(d)).toEqual(['dashboard:dashboard 5.8.1->5.8.2', 'gateway:gateway 5.8.1->5.8.2']);
  });

  it('upgrades from the oldest default LTS line 5.0', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.0.15'), gateway: v('5.0.15') }), lts());
    expect(outcomes(d)).toEqual({ dashboard: 'change', gateway: 'change' });
  });

  it('is already-at-target when everything runs the target, and lists the versions', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.8.2'), gateway: v('5.8.2') }), lts());
    expect(d.eligible).toBe(false);
    if (d.eligible) return;
    expect(d.reason).toBe('already-at-target');
    expect(d.detail).toBe(
      'control plane cp-acme-eu already runs lts-5.8.2 (dashboard 5.8.2, gateway 5.8.2) or newer: ' +
        'dashboard 5.8.2, gateway 5.8.2',
    );
    expect(outcomes(d)).toEqual({ dashboard: 'already-at-target', gateway: 'already-at-target' });
  });

  it('never downgrades: a component newer than the target is would-downgrade; the control plane already-at-target', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.9.0'), gateway: v('5.8.3') }), lts());
    expect(outcomes(d)).toEqual({ dashboard: 'would-downgrade', gateway: 'would-downgrade' });
    expect(!d.eligible && d.reason).toBe('already-at-target');
    expect(!d.eligible && d.detail).toContain('dashboard 5.9.0, gateway 5.8.3');
    const dash = d.components[0]!;
    expect(dash.detail).toBe('dashboard runs 5.9.0, newer than the target 5.8.2 of lts-5.8.2; never downgraded');
  });

  it('skips a non-LTS line (5.5.x) with not-on-older-lts-line', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.5.1'), gateway: v('5.5.1') }), lts());
    expect(!d.eligible && d.reason).toBe('not-on-older-lts-line');
    expect(!d.eligible && d.detail).toBe(
      'no component of control plane cp-acme-eu that is older than lts-5.8.2 (dashboard 5.8.2, gateway 5.8.2) ' +
        'is on an older LTS line (5.0, 5.3, 5.8): dashboard 5.5.1, gateway 5.5.1',
    );
    expect(d.components[1]!.detail).toBe(
      'gateway runs 5.5.1, on the 5.5 line, which is not an LTS line (5.0, 5.3, 5.8)',
    );
  });

  it('prefers not-on-older-lts-line over already-at-target when nothing changes', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.8.2'), gateway: v('5.5.0') }), lts());
    expect(!d.eligible && d.reason).toBe('not-on-older-lts-line');
    expect(outcomes(d)).toEqual({ dashboard: 'already-at-target', gateway: 'not-on-older-lts-line' });
  });

  it('dashboard ahead, gateway behind: only the gateway changes', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.9.1'), gateway: v('5.8.1') }), lts());
    expect(d.eligible).toBe(true);
    expect(changesOf(d)).toEqual(['gateway:gateway 5.8.1->5.8.2']);
    expect(d.components[0]).toMatchObject({
      component: { kind: 'dashboard' },
      from: '5.9.1',
      to: '5.8.2',
      change: false,
      reason: 'would-downgrade',
    });
    expect(d.components[1]).toMatchObject({ from: '5.8.1', to: '5.8.2', change: true });
    expect(d.components[1]!.reason).toBeUndefined();
  });

  it('uses the dashboard target for the dashboard and the gateway target for gateway and data planes', () => {
    const release = lts({ targets: { dashboard: '5.8.3', gateway: '5.8.2' } });
    const d = assessEligibility(
      controlPlane({ dashboard: v('5.8.2'), gateway: v('5.8.2'), dataPlanes: [{ id: 'dp-1', version: '5.8.1' }] }),
      release,
    );
    expect(changesOf(d)).toEqual(['dashboard:dashboard 5.8.2->5.8.3', 'data-plane:dp-1 5.8.1->5.8.2']);
    expect(outcomes(d)).toEqual({ dashboard: 'change', gateway: 'already-at-target', 'dp-1': 'change' });
  });

  it('decides every data plane on its own version and keeps upgrade order', () => {
    const cp = controlPlane({
      dashboard: v('5.8.1'),
      gateway: v('5.8.2'),
      dataPlanes: [
        { id: 'dp-old-lts', version: '5.3.4' },
        { id: 'dp-current', version: '5.8.2' },
        { id: 'dp-non-lts', version: '5.5.1' },
        { id: 'dp-ahead', version: '5.9.0' },
        { id: 'dp-patch', version: 'v5.8.0' },
      ],
    });
    const d = assessEligibility(cp, lts());
    expect(outcomes(d)).toEqual({
      dashboard: 'change',
      gateway: 'already-at-target',
      'dp-old-lts': 'change',
      'dp-current': 'already-at-target',
      'dp-non-lts': 'not-on-older-lts-line',
      'dp-ahead': 'would-downgrade',
      'dp-patch': 'change',
    });
    expect(changesOf(d)).toEqual([
      'dashboard:dashboard 5.8.1->5.8.2',
      'data-plane:dp-old-lts 5.3.4->5.8.2',
      'data-plane:dp-patch 5.8.0->5.8.2',
    ]);
    expect(d.components.find((c) => c.component.id === 'dp-non-lts')!.detail).toContain('data plane dp-non-lts');
  });

  it('upgrades data planes alone when only they are behind', () => {
    const cp = controlPlane({
      dashboard: v('5.8.2'),
      gateway: v('5.8.2'),
      dataPlanes: [{ id: 'dp-1', version: '5.8.1' }],
    });
    expect(changesOf(assessEligibility(cp, lts()))).toEqual(['data-plane:dp-1 5.8.1->5.8.2']);
  });

  it('honours a release-specific list of LTS lines', () => {
    const cp = controlPlane({ dashboard: v('5.5.1'), gateway: v('5.3.4') });
    const withFive = assessEligibility(cp, lts({ ltsLines: ['5.3', '5.5', '5.8'] }));
    expect(changesOf(withFive)).toEqual(['dashboard:dashboard 5.5.1->5.8.2', 'gateway:gateway 5.3.4->5.8.2']);

    const onlyEight = assessEligibility(cp, lts({ ltsLines: ['5.8'] }));
    expect(!onlyEight.eligible && onlyEight.reason).toBe('not-on-older-lts-line');
    expect(onlyEight.components[1]!.detail).toBe('gateway runs 5.3.4, on the 5.3 line, which is not an LTS line (5.8)');

    const samePatchLine = assessEligibility(
      controlPlane({ dashboard: v('5.8.1'), gateway: v('5.8.1') }),
      lts({ ltsLines: ['5.8'] }),
    );
    expect(samePatchLine.eligible).toBe(true);
  });

  it('refuses LTS lines spelled with leading zeros at the release schema, naming the field', () => {
    expect(() => lts({ ltsLines: ['05.3', '5.8'] })).toThrow('ltsLines[0] = "05.3": a release line such as 5.8');
  });
});

describe('assessEligibility: security releases', () => {
  const range = '>=5.3.0 <5.3.9 || >=5.8.0 <5.8.2';

  it('upgrades components in the affected range, whatever their line', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.8.1'), gateway: v('5.3.4') }), security(range));
    expect(changesOf(d)).toEqual(['dashboard:dashboard 5.8.1->5.8.2', 'gateway:gateway 5.3.4->5.8.2']);
  });

  it('ignores LTS lines: a non-LTS version in the range is upgraded', () => {
    const d = assessEligibility(
      controlPlane({ dashboard: v('5.5.1'), gateway: v('5.5.1') }),
      security('>=5.0.0 <5.8.2'),
    );
    expect(outcomes(d)).toEqual({ dashboard: 'change', gateway: 'change' });
  });

  it('treats range bounds exactly: upper bound excluded, lower bound included', () => {
    const cp = controlPlane({
      dashboard: v('5.3.9'),
      gateway: v('5.3.0'),
      dataPlanes: [
        { id: 'dp-below', version: '5.2.9' },
        { id: 'dp-between', version: '5.5.0' },
        { id: 'dp-last', version: '5.8.1' },
      ],
    });
    const d = assessEligibility(cp, security(range));
    expect(outcomes(d)).toEqual({
      dashboard: 'not-affected',
      gateway: 'change',
      'dp-below': 'not-affected',
      'dp-between': 'not-affected',
      'dp-last': 'change',
    });
    expect(d.components[0]!.detail).toBe(`dashboard runs 5.3.9, outside the affected range "${range}" of sec-5.8.2`);
  });

  it('is not-affected when no component is in the range, even if others are at target', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.8.2'), gateway: v('5.3.9') }), security(range));
    expect(d.eligible).toBe(false);
    if (d.eligible) return;
    expect(d.reason).toBe('not-affected');
    expect(d.detail).toBe(
      'no component of control plane cp-acme-eu that is older than sec-5.8.2 (dashboard 5.8.2, gateway 5.8.2) ' +
        `is in its affected range "${range}": dashboard 5.8.2, gateway 5.3.9`,
    );
    expect(outcomes(d)).toEqual({ dashboard: 'already-at-target', gateway: 'not-affected' });
  });

  it('is already-at-target when everything is at or above the fix', () => {
    const d = assessEligibility(controlPlane({ dashboard: v('5.8.2'), gateway: v('5.8.3') }), security(range));
    expect(!d.eligible && d.reason).toBe('already-at-target');
    expect(outcomes(d)).toEqual({ dashboard: 'already-at-target', gateway: 'would-downgrade' });
  });

  it('never downgrades a version that is inside the range but above the target', () => {
    const d = assessEligibility(
      controlPlane({ dashboard: v('5.8.1'), gateway: v('5.8.1') }),
      security('>=5.8.0 <5.9.0', { targets: { dashboard: '5.8.0', gateway: '5.8.0' } }),
    );
    expect(outcomes(d)).toEqual({ dashboard: 'would-downgrade', gateway: 'would-downgrade' });
    expect(!d.eligible && d.reason).toBe('already-at-target');
  });

  it('treats a security release without a range as affecting nothing', () => {
    // ReleaseSchema rejects this; the decision must still be safe if one slips through.
    const release = { ...security(range), affected: undefined };
    const d = assessEligibility(controlPlane(), release);
    expect(!d.eligible && d.reason).toBe('not-affected');
  });
});

describe('assessEligibility: configuration compatibility (domain/compatibilityMatrix.ts)', () => {
  it('blocks an upgrade whose Gateway configuration uses a removed key, naming key, version and what to do', () => {
    const cp = controlPlane({ config: { use_db_app_configs: true, listen_port: 8080 } });
    const d = assessEligibility(cp, lts());
    expect(d.eligible).toBe(false);
    if (d.eligible) return;
    expect(d.reason).toBe('config-incompatible');
    expect(d.detail).toBe(
      'the Gateway of control plane cp-acme-eu cannot move from 5.3.4 to 5.8.2 (lts-5.8.2) until its configuration ' +
        'is changed: use_db_app_configs was removed in Gateway 5.8.0 (what to do: delete it and make sure ' +
        'db_app_conf_options.connection_string points at your Dashboard, since the Gateway now always loads APIs ' +
        'from the Dashboard)',
    );
    expect(d.configBlockers).toEqual([
      {
        component: { controlPlaneId: 'cp-acme-eu', kind: 'gateway', id: 'gateway' },
        key: 'use_db_app_configs',
        removedIn: '5.8.0',
        advice: expect.stringContaining('delete it'),
      },
    ]);
    // What would change is still there, so the customer can be told what waits for them.
    expect(outcomes(d)).toEqual({ dashboard: 'change', gateway: 'change' });
  });

  it('names every removed key in use, oldest removal first', () => {
    const cp = controlPlane({
      dashboard: v('5.0.15'),
      gateway: v('5.0.15'),
      config: { tracing: { enabled: true }, http_server_options: { use_ssl_le: true } },
    });
    const d = assessEligibility(cp, lts());
    if (d.eligible) throw new Error('expected a blocked upgrade');
    expect(d.reason).toBe('config-incompatible');
    expect(d.configBlockers?.map((b) => `${b.key}@${b.removedIn}`)).toEqual([
      'http_server_options.use_ssl_le@5.3.0',
      'tracing.enabled@5.8.0',
    ]);
    expect(d.detail).toContain('http_server_options.use_ssl_le was removed in Gateway 5.3.0 (what to do: ');
    expect(d.detail).toContain('; tracing.enabled was removed in Gateway 5.8.0 (what to do: set opentelemetry.enabled');
  });

  it('attaches renamed keys to the Gateway change as configMigrations, and says so in its detail', () => {
    const cp = controlPlane({ config: { hybrid: { enabled: false }, analytics_config: { enable_geo_ip: true } } });
    const d = assessEligibility(cp, lts());
    if (!d.eligible) throw new Error(`expected eligible, got ${d.reason}: ${d.detail}`);
    const [dashboard, gateway] = d.changes;
    expect(dashboard).not.toHaveProperty('configMigrations');
    expect(gateway!.configMigrations).toEqual([
      { key: 'analytics_config.enable_geo_ip', to: 'analytics_config.geo_ip.enabled', renamedIn: '5.8.0' },
      { key: 'hybrid.enabled', to: 'dten.hybrid.enable', renamedIn: '5.8.0', value: true },
    ]);
    expect(d.components[1]!.detail).toBe(
      'gateway 5.3.4 → 5.8.2; configuration: analytics_config.enable_geo_ip → analytics_config.geo_ip.enabled ' +
        '(5.8.0), hybrid.enabled → dten.hybrid.enable = true (5.8.0)',
    );
  });

  it('needs no migration when the new key is already set, nor for keys the range does not touch', () => {
    const cp = controlPlane({
      dashboard: v('5.8.1'),
      gateway: v('5.8.1'),
      config: { use_db_app_configs: true, enable_jsvm_timeout: 5 }, // changed in 5.8.0 and 5.3.0: behind 5.8.1
    });
    const d = assessEligibility(cp, lts());
    expect(d.eligible).toBe(true);
    expect(d.eligible && d.changes.some((c) => c.configMigrations)).toBe(false);

    const set = controlPlane({ config: { hybrid: { enabled: true }, dten: { hybrid: { enable: true } } } });
    const again = assessEligibility(set, lts());
    expect(again.eligible && again.changes[1]).toEqual({
      component: { controlPlaneId: 'cp-acme-eu', kind: 'gateway', id: 'gateway' },
      from: '5.3.4',
      to: '5.8.2',
    });
  });

  it('does not check the configuration when the Gateway itself does not change', () => {
    const cp = controlPlane({ dashboard: v('5.3.4'), gateway: v('5.8.2'), config: { use_db_app_configs: true } });
    const d = assessEligibility(cp, lts());
    expect(changesOf(d)).toEqual(['dashboard:dashboard 5.3.4->5.8.2']);
  });

  it('keeps the earlier reasons first: exclusions and already-at-target win over the configuration', () => {
    const config = { use_db_app_configs: true };
    const hybrid = assessEligibility(controlPlane({ hybrid: true, config }), lts());
    expect(!hybrid.eligible && hybrid.reason).toBe('hybrid');
    const current = assessEligibility(controlPlane({ dashboard: v('5.8.2'), gateway: v('5.8.2'), config }), lts());
    expect(!current.eligible && current.reason).toBe('already-at-target');
  });

  it('blocks a security release too when its fix crosses a removal', () => {
    const cp = controlPlane({ gateway: v('5.7.2'), dashboard: v('5.7.2'), config: { tracing: { enabled: false } } });
    const d = assessEligibility(cp, security('>=5.7.0 <5.8.2'));
    expect(!d.eligible && d.reason).toBe('config-incompatible');
  });
});
