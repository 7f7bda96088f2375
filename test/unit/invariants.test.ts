// The invariant checker of the workflow suites (test/helpers/invariants.ts), on hand-made audit logs: each kind of
// broken promise is found, and a clean log passes.
import type { Release } from '../../domain/release';
import type { SimulatedAuditEntry } from '../../integrations/simulatedFleet/wire';
import {
  checkInvariants,
  DeliveryRecorder,
  tookUpgradeNow,
  type ComponentState,
  type DeliveredNotice,
  type InvariantInput,
} from '../helpers/invariants';

const RELEASE: Release = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
};
const SECURITY: Release = {
  id: 'sec-5.8.3',
  kind: 'security',
  targets: { dashboard: '5.8.3', gateway: '5.8.3' },
  affected: '>=5.8.0 <5.8.3',
  notesUrl: 'https://tyk.io/docs/release-notes/5.8.3',
};

// Berlin is on CET (UTC+1) in early March 2026: the 01:00-05:00 local window is 00:00-04:00 UTC.
const controlPlane = (extra: Record<string, unknown> = {}) => ({
  id: 'cp-a',
  orgId: 'org-acme',
  tier: 'development',
  autoUpgrade: true,
  dashboard: { version: '5.3.4' },
  gateway: { version: '5.3.4' },
  dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }],
  window: {
    timeZone: 'Europe/Berlin',
    start: '01:00',
    durationMinutes: 240,
    weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
  },
  ...extra,
});

const WF = 'control-plane/cp-a';
const KINDS = { dashboard: 'dashboard', gateway: 'gateway', 'dp-eu': 'data-plane' } as const;
type ComponentId = keyof typeof KINDS;

let generation = 0;
/** A deploy that started a rollout, asked by `activityType` of run `runId`, scheduled at `at` (server time). */
function deploy(
  componentId: ComponentId,
  from: string,
  to: string,
  at: string,
  opts: { runId?: string; activityType?: string; workflowId?: string; supersedes?: number } = {},
): SimulatedAuditEntry {
  return {
    event: 'deploy',
    at: '2026-01-01T00:00:00.000Z', // the fleet's real clock: unrelated to server time on a time-skipping server
    controlPlaneId: 'cp-a',
    componentId,
    kind: KINDS[componentId],
    from,
    to,
    configChange: false,
    result: 'started',
    generation: ++generation,
    ...(opts.supersedes !== undefined ? { supersedes: opts.supersedes } : {}),
    requestedBy: {
      workflowId: opts.workflowId ?? WF,
      runId: opts.runId ?? 'run-1',
      activityType: opts.activityType ?? 'upgradeComponent',
      attempt: 1,
      scheduledAt: at,
    },
  };
}

const state = (version: string, config: Record<string, unknown> = {}): ComponentState[] =>
  (['dashboard', 'gateway', 'dp-eu'] as const).map((id) => ({
    controlPlaneId: 'cp-a',
    componentId: id,
    kind: KINDS[id],
    version,
    config: id === 'gateway' ? config : {},
    rollout: null,
  }));

const notice = (deliveredAt: string, extra: Partial<DeliveredNotice> = {}): DeliveredNotice => ({
  controlPlaneId: 'cp-a',
  releaseId: 'lts-5.8.2',
  kind: 'scheduled',
  key: `${WF}/a1/scheduled/1`,
  windowStartAt: '2026-03-10T00:00:00.000Z',
  deliveredAt: Date.parse(deliveredAt),
  ...extra,
});

/** A clean upgrade: noticed two days ahead, every change inside the 10 March window, all on 5.8.2 at the end. */
function clean(): InvariantInput {
  generation = 0;
  return {
    audit: [
      deploy('dashboard', '5.3.4', '5.8.2', '2026-03-10T00:05:00.000Z'),
      deploy('gateway', '5.3.4', '5.8.2', '2026-03-10T00:20:00.000Z'),
      deploy('dp-eu', '5.3.4', '5.8.2', '2026-03-10T00:35:00.000Z'),
    ],
    inventory: { controlPlanes: [controlPlane()] },
    notices: [notice('2026-03-08T09:00:00.000Z')],
    releases: [RELEASE],
    initialState: state('5.3.4'),
    finalState: state('5.8.2'),
  };
}

const check = (input: InvariantInput) => checkInvariants(input);

describe('checkInvariants', () => {
  it('passes a clean upgrade, and a rollback that ends exactly where it began', () => {
    expect(check(clean())).toEqual([]);
    const rolledBack = clean();
    rolledBack.audit.push(
      // Restores may run outside the window: a rollback must finish.
      deploy('dp-eu', '5.8.2', '5.3.4', '2026-03-10T09:00:00.000Z', { activityType: 'restoreComponent' }),
      deploy('gateway', '5.8.2', '5.3.4', '2026-03-10T09:01:00.000Z', { activityType: 'restoreComponent' }),
      deploy('dashboard', '5.8.2', '5.3.4', '2026-03-10T09:02:00.000Z', { activityType: 'restoreComponent' }),
    );
    rolledBack.finalState = state('5.3.4');
    expect(check(rolledBack)).toEqual([]);
  });

  it('finds a first change outside every window', () => {
    const input = clean();
    input.audit = [deploy('dashboard', '5.3.4', '5.8.2', '2026-03-10T12:00:00.000Z')];
    input.finalState = [...state('5.8.2').slice(0, 1), ...state('5.3.4').slice(1)];
    const violations = check(input);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('cp-a/dashboard 5.3.4 → 5.8.2');
    expect(violations[0]).toContain('2026-03-10T12:00:00.000Z');
    expect(violations[0]).toContain('outside every window of mon,tue,wed,thu,fri,sat,sun 01:00 for 240 min');
    expect(violations[0]).toContain('[2026-03-10T00:00:00.000Z, 2026-03-10T04:00:00.000Z]');
  });

  it('finds a later change of the same attempt after its window closed', () => {
    const input = clean();
    input.audit[2] = deploy('dp-eu', '5.3.4', '5.8.2', '2026-03-10T04:30:00.000Z');
    expect(check(input)).toEqual([
      expect.stringMatching(
        /^cp-a\/dp-eu 5\.3\.4 → 5\.8\.2 .*2026-03-10T04:30:00\.000Z.*outside the window \[2026-03-10T00:00:00\.000Z, 2026-03-10T04:00:00\.000Z\]/,
      ),
    ]);
  });

  it('honours blackouts and the window as the inventory stood at the change', () => {
    const input = clean();
    input.inventory = { controlPlanes: [controlPlane({ blackouts: [{ from: '2026-03-10', to: '2026-03-10' }] })] };
    expect(check(input)[0]).toContain('outside every window');
    // A function of time: the customer moved the window to 13:00 local before the change.
    input.inventory = () => controlPlane({ window: { ...controlPlane().window, start: '13:00' } });
    expect(check(input)[0]).toContain('outside every window of mon,tue,wed,thu,fri,sat,sun 13:00');
  });

  it('exempts the window and the notice of a run an SRE started with upgradeNow, and only that run', () => {
    const input = clean();
    input.audit = input.audit.map((e) => ({
      ...e,
      requestedBy: { ...(e as { requestedBy: object }).requestedBy, scheduledAt: '2026-03-08T09:30:00.000Z' },
    })) as SimulatedAuditEntry[];
    expect(check(input).length).toBeGreaterThan(0);
    expect(check({ ...input, overrides: [{ controlPlaneId: 'cp-a', runId: 'run-1' }] })).toEqual([]);
    expect(check({ ...input, overrides: [{ controlPlaneId: 'cp-a', runId: 'run-2' }] }).length).toBeGreaterThan(0);
  });

  it('finds a first change before the notice plus the tier lead, or with no notice at all', () => {
    const input = clean();
    input.notices = [notice('2026-03-09T12:00:00.000Z')];
    const [late] = check(input);
    expect(late).toContain('only 12.1 h after the scheduled notice');
    expect(late).toContain('delivered at 2026-03-09T12:00:00.000Z');
    expect(late).toContain("the development tier's lts notice lead is 24.0 h");

    // A production control plane needs a week.
    input.notices = [notice('2026-03-08T09:00:00.000Z')];
    input.inventory = { controlPlanes: [controlPlane({ tier: 'production' })] };
    expect(check(input)[0]).toContain("the production tier's lts notice lead is 168.0 h");

    input.notices = [];
    expect(check(input)).toEqual([expect.stringContaining('no scheduled or rescheduled notice was delivered')]);
    // A notice delivered after the first change does not count.
    input.notices = [notice('2026-03-10T00:06:00.000Z')];
    expect(check(input)).toEqual([expect.stringContaining('no scheduled or rescheduled notice was delivered')]);
  });

  it('judges by the last notice before the change: a later rescheduled one restarts the lead', () => {
    const input = clean();
    input.notices.push(notice('2026-03-09T20:00:00.000Z', { kind: 'rescheduled', key: `${WF}/a1/rescheduled/2` }));
    expect(check(input)).toEqual([expect.stringContaining(`after the rescheduled notice ${WF}/a1/rescheduled/2`)]);
  });

  it('uses the shorter lead of a security release, and checks the notice was about the release changed to', () => {
    const input = clean();
    input.releases = [RELEASE, SECURITY];
    input.audit = [deploy('dashboard', '5.8.2', '5.8.3', '2026-03-10T00:05:00.000Z')];
    input.initialState = state('5.8.2');
    input.finalState = [...state('5.8.3').slice(0, 1), ...state('5.8.2').slice(1)];
    input.notices = [notice('2026-03-09T22:00:00.000Z', { releaseId: 'sec-5.8.3' })];
    expect(check(input)).toEqual([]); // 2 hours, the development tier's security lead is 1 hour
    input.notices = [notice('2026-03-09T22:00:00.000Z')];
    const violations = check(input);
    expect(violations).toContainEqual(expect.stringContaining('announced lts-5.8.2, which targets 5.8.2'));
  });

  it('finds a change before the start the notice named', () => {
    const input = clean();
    input.notices = [notice('2026-03-08T09:00:00.000Z', { windowStartAt: '2026-03-10T01:00:00.000Z' })];
    expect(check(input)).toEqual([expect.stringContaining('before 2026-03-10T01:00:00.000Z, the start the scheduled')]);
  });

  it('finds a component changed twice toward the same version in one attempt', () => {
    const input = clean();
    input.audit.push(deploy('gateway', '5.3.4', '5.8.2', '2026-03-10T00:50:00.000Z'));
    expect(check(input)).toEqual([
      expect.stringMatching(/^cp-a\/gateway 5\.3\.4 → 5\.8\.2 .*changed twice toward 5\.8\.2 in one attempt/),
    ]);
  });

  it('finds a run superseding a rollout that another run has in flight', () => {
    const input = clean();
    const first = input.audit[1] as { generation: number };
    input.audit.push(
      deploy('gateway', '5.3.4', '5.8.2', '2026-03-10T00:21:00.000Z', { runId: 'run-2', supersedes: first.generation }),
    );
    input.notices.push(notice('2026-03-08T09:00:00.000Z', { key: `${WF}/a2/scheduled/1` }));
    const violations = check(input);
    expect(violations).toContainEqual(expect.stringContaining('while it was still in flight (two runs at once)'));
    // The same run superseding its own rollout (a restore after a cancel) is how a rollback starts.
    const own = clean();
    own.audit.push(
      deploy('gateway', '5.8.2', '5.3.4', '2026-03-10T00:21:00.000Z', {
        activityType: 'restoreComponent',
        supersedes: (own.audit[1] as { generation: number }).generation,
      }),
    );
    own.finalState = [...state('5.8.2').filter((s) => s.componentId !== 'gateway'), state('5.3.4')[1]!];
    expect(check(own)).toEqual([]);
  });

  it('finds a change requested by a workflow other than the control plane’s own', () => {
    const input = clean();
    input.audit[0] = deploy('dashboard', '5.3.4', '5.8.2', '2026-03-10T00:05:00.000Z', {
      workflowId: 'upgrade/cp-a/lts-5.8.2',
    });
    expect(check(input)).toContainEqual(expect.stringContaining('requested by upgrade/cp-a/lts-5.8.2, not by ' + WF));
  });

  it('finds a change toward a version no release targets', () => {
    const input = clean();
    input.audit[0] = deploy('dashboard', '5.3.4', '5.8.1', '2026-03-10T00:05:00.000Z');
    input.finalState[0]!.version = '5.8.1';
    const violations = check(input);
    expect(violations).toContainEqual(expect.stringContaining('5.8.1 is not the target of any release offered'));
    expect(violations).toContainEqual('cp-a/dashboard: ends on 5.8.1, neither its old 5.3.4 nor a target (5.8.2)');
  });

  it('finds an end state that is neither the old version and configuration nor the target', () => {
    const input = clean();
    input.initialState = state('5.3.4', { analytics_config: { enable_geo_ip: true } });
    // The Gateway on the target with its renamed key migrated: fine.
    input.finalState = state('5.8.2', { analytics_config: { geo_ip: { enabled: true } } });
    expect(check(input)).toEqual([]);
    // Not migrated.
    input.finalState = state('5.8.2', { analytics_config: { enable_geo_ip: true } });
    expect(check(input)).toEqual([
      'cp-a/gateway: on the target 5.8.2 with configuration {"analytics_config":{"enable_geo_ip":true}}, expected {"analytics_config":{"geo_ip":{"enabled":true}}}',
    ]);
    // Back on the old version, but the configuration was not restored.
    input.finalState = state('5.3.4', { analytics_config: { geo_ip: { enabled: true } } });
    expect(check(input)).toEqual([
      'cp-a/gateway: back on 5.3.4 but with configuration {"analytics_config":{"geo_ip":{"enabled":true}}}, not its old {"analytics_config":{"enable_geo_ip":true}}',
    ]);
    // Still rolling out.
    input.finalState = state('5.8.2', { analytics_config: { geo_ip: { enabled: true } } });
    input.finalState[0]!.rollout = { toVersion: '5.3.4' };
    expect(check(input)).toEqual(['cp-a/dashboard: still rolling out to 5.3.4 at the end (on 5.8.2)']);
  });

  it('ignores deploys no workflow asked for (test fixtures putting versions back)', () => {
    const input = clean();
    const { requestedBy: _, ...fixture } = deploy('dashboard', '5.8.2', '5.3.4', '2026-03-12T12:00:00.000Z') as {
      requestedBy: unknown;
    } & SimulatedAuditEntry;
    input.audit.push(fixture as SimulatedAuditEntry);
    expect(check(input)).toEqual([]);
  });
});

describe('DeliveryRecorder', () => {
  it('records each delivery once (not the duplicate of a retry), outside an activity on the real clock', async () => {
    const recorded: DeliveredNotice[] = [];
    let sent = 0;
    const recorder = new DeliveryRecorder({ channel: 'test', send: async () => ({ duplicate: sent++ > 0 }) }, (n) =>
      recorded.push(n),
    );
    const message = {
      key: `${WF}/a1/scheduled/1`,
      to: { email: 'ops@acme.example', name: 'Ada' },
      subject: 's',
      text: 't',
      noticeKind: 'scheduled',
      properties: { control_plane_id: 'cp-a', release_id: 'lts-5.8.2', window_start_iso: '2026-03-10T00:00:00.000Z' },
    };
    const before = Date.now();
    expect(await recorder.send(message)).toEqual({ duplicate: false });
    expect(await recorder.send(message)).toEqual({ duplicate: true });
    expect(recorder.channel).toBe('test');
    expect(recorded).toEqual([
      {
        controlPlaneId: 'cp-a',
        releaseId: 'lts-5.8.2',
        kind: 'scheduled',
        key: message.key,
        windowStartAt: '2026-03-10T00:00:00.000Z',
        deliveredAt: expect.any(Number),
      },
    ]);
    expect(recorded[0]!.deliveredAt).toBeGreaterThanOrEqual(before);
  });
});

describe('tookUpgradeNow', () => {
  const accepted = (name: string, updateId: string) => ({
    workflowExecutionUpdateAcceptedEventAttributes: { acceptedRequest: { meta: { updateId }, input: { name } } },
  });
  const completed = (updateId: string, success: boolean) => ({
    workflowExecutionUpdateCompletedEventAttributes: {
      meta: { updateId },
      outcome: success ? { success: {} } : { failure: { message: 'no' } },
    },
  });
  it('is true only for an upgradeNow update that was accepted and completed without failure', () => {
    expect(tookUpgradeNow([accepted('upgradeNow', 'u1'), completed('u1', true)])).toBe(true);
    expect(tookUpgradeNow([accepted('upgradeNow', 'u1'), completed('u1', false)])).toBe(false);
    expect(tookUpgradeNow([accepted('defer', 'u1'), completed('u1', true)])).toBe(false);
    expect(tookUpgradeNow([])).toBe(false);
  });
});
