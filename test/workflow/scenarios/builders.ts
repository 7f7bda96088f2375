// Building blocks for the scenario tests: a control plane each test declares inline (checked by the domain's schema),
// releases, the answers activities give, and a recorder that registers plain mocked activities under their real names.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { z } from 'zod';
import { createActivities, type Activities, type ActivityDeps } from '../../../activities';
import type { Assessment } from '../../../activities/assess';
import type { VerifyResult } from '../../../activities/health';
import { assessEligibility, componentsOf } from '../../../domain/eligibility';
import { ControlPlaneSchema, type ControlPlane } from '../../../domain/inventory';
import type {
  ComponentRef,
  ComponentSnapshot,
  HealthReport,
  NoticeReceipt,
  NoticeRequest,
  SreAlert,
  WindowPlan,
} from '../../../domain/model';
import { ReleaseSchema, type Release } from '../../../domain/release';
import { parseWith } from '../../../domain/validation';
import { describeWindow } from '../../../domain/window';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

// ---- what a scenario declares ----

export type ControlPlaneFields = Partial<z.input<typeof ControlPlaneSchema>> & { id: string };

/**
 * A valid control plane (the inventory's schema checks it): development tier, opted in, Dashboard and Gateway on 5.3.4,
 * one data plane `dp-eu` on 5.3.4, a Sunday window in Berlin, unless the test says otherwise.
 */
export function controlPlane(fields: ControlPlaneFields): ControlPlane {
  return parseWith(
    ControlPlaneSchema,
    {
      orgId: 'org-acme',
      name: `Acme ${fields.id}`,
      tier: 'development',
      autoUpgrade: true,
      dashboard: { version: '5.3.4' },
      gateway: { version: '5.3.4' },
      dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }],
      window: { timeZone: 'Europe/Berlin', start: '01:00', durationMinutes: 240, weekly: { days: ['sun'] } },
      ...fields,
    },
    `scenario control plane ${fields.id}`,
  );
}

export function release(fields: Partial<z.input<typeof ReleaseSchema>> & { id: string }): Release {
  return parseWith(
    ReleaseSchema,
    { kind: 'lts', notesUrl: `https://tyk.io/docs/release-notes/${fields.id}`, ...fields },
    `scenario release ${fields.id}`,
  );
}

export const LTS_582 = release({ id: 'lts-5.8.2', targets: { dashboard: '5.8.2', gateway: '5.8.2' } });
export const SECURITY_539 = release({
  id: 'sec-5.3.9',
  kind: 'security',
  targets: { dashboard: '5.3.9', gateway: '5.3.9' },
  affected: '>=5.3.0 <5.3.9',
});

// ---- what activities answer ----

/** What assessControlPlane says of `cp` for `rel`: the domain's own eligibility decision. */
export function assessment(cp: ControlPlane, rel: Release): Assessment {
  return {
    found: true,
    controlPlane: {
      id: cp.id,
      ...(cp.name ? { name: cp.name } : {}),
      orgId: cp.orgId,
      tier: cp.tier,
      timeZone: cp.window.timeZone,
      components: componentsOf(cp),
    },
    decision: assessEligibility(cp, rel),
  };
}

/** A window in `cp`'s zone opening at `startAt` (epoch ms) and open for `minutes`. */
export function windowPlan(
  cp: ControlPlane,
  startAt: number,
  opts: { minutes?: number; leadMinutes?: number; requiredMinutes?: number } = {},
): WindowPlan {
  const closesAt = startAt + (opts.minutes ?? 240) * MINUTE;
  return {
    startAt: new Date(startAt).toISOString(),
    opensAt: new Date(startAt).toISOString(),
    closesAt: new Date(closesAt).toISOString(),
    timeZone: cp.window.timeZone,
    ...describeWindow(new Date(startAt), new Date(closesAt), cp.window.timeZone),
    leadMinutes: opts.leadMinutes ?? 24 * 60,
    requiredMinutes: opts.requiredMinutes ?? 75,
  };
}

/** checkWindow's answer while `plan` holds: open from `at` until the plan's close. */
export function openAt(plan: WindowPlan, at: string): { open: true; plan: WindowPlan } {
  return { open: true, plan: { ...plan, startAt: at } };
}

export function delivered(request: NoticeRequest): NoticeReceipt {
  return { key: request.key, deliveredAt: new Date().toISOString(), duplicate: false, channel: 'scenario' };
}

export function healthy(components: ComponentRef[]): HealthReport[] {
  return components.map((component) => ({ component, status: 'pass', at: new Date().toISOString() }));
}

export function snapshotsOf(cp: ControlPlane, components: ComponentRef[]): ComponentSnapshot[] {
  const versions = new Map(componentsOf(cp).map((c) => [c.component.id, c.version]));
  return components.map((component) => ({
    component,
    version: versions.get(component.id) ?? 'unknown',
    takenAt: new Date().toISOString(),
  }));
}

export function passed(): VerifyResult {
  return { outcome: 'pass', passes: 3, probes: 3, soakedMs: 60_000, evidence: [] };
}

/** What verifyComponent throws when the component answers `fail` on the version: not retried, rolled back. */
export function verificationFailed(component: ComponentRef, version: string): ApplicationFailure {
  const evidence = [{ at: new Date().toISOString(), status: 'fail', version, problems: 'redis: fail' }];
  return ApplicationFailure.nonRetryable(
    `${component.id} of ${component.controlPlaneId} answered fail on ${version}: redis: fail`,
    'VerificationFailed',
    evidence,
  );
}

/**
 * The activities one upgrade of `cp` to `rel` uses, each answering as a healthy fleet would: eligible as the domain
 * decides, the window `window(now, notBefore)` (open until it closes whenever checked; without `window` the test mocks planWindow and
 * checkWindow itself), notices delivered, everything passing, no follow-up release. Tests spread it and replace the
 * activities their scenario is about.
 */
export function upgradeActivities(
  cp: ControlPlane,
  rel: Release,
  window?: (now: number, notBefore?: number) => WindowPlan,
): Partial<Activities> {
  let plan: WindowPlan | undefined;
  return {
    assessControlPlane: async () => assessment(cp, rel),
    ...(window && {
      planWindow: async ({ now, notBefore }) =>
        (plan = window(Date.parse(now), notBefore === undefined ? undefined : Date.parse(notBefore))),
      checkWindow: async ({ at }) => openAt(plan!, at),
    }),
    sendNotice: async (request) => delivered(request),
    probeComponents: async (components) => healthy(components),
    snapshotComponents: async (components) => snapshotsOf(cp, components),
    upgradeComponent: async ({ component, targetVersion }) => ({
      changed: true,
      from: snapshotsOf(cp, [component])[0]!.version,
      to: targetVersion,
    }),
    restoreComponent: async (snap) => ({
      changed: true,
      from: snap.component.kind === 'dashboard' ? rel.targets.dashboard : rel.targets.gateway,
      to: snap.version,
    }),
    verifyComponent: async () => passed(),
    findFollowUpRelease: async () => undefined,
  };
}

// ---- the recorder ----

export type ActivityName = keyof Activities;

/** Every activity the worker registers in production, by name. */
export const ACTIVITY_NAMES = Object.keys(createActivities({} as ActivityDeps)) as ActivityName[];

export interface ActivityCall {
  name: ActivityName;
  args: unknown[];
  /** When the server scheduled this attempt (epoch ms, the time-skipping server's clock). */
  at: number;
  attempt: number;
}

/** The calls the mocked activities received, in the order they started. */
export class ActivityLog {
  readonly calls: ActivityCall[] = [];
  /** Calls of activities the scenario did not mock (each also failed, non-retryable). */
  readonly unexpected: string[] = [];

  /** Each call in a word or two: `sendNotice scheduled`, `upgradeComponent gateway`, `verifyComponent dp-eu@5.8.2`. */
  trail(): string[] {
    return this.calls.map(describeCall);
  }

  /** The first argument of every call of `name`. */
  inputs<N extends ActivityName>(name: N): Parameters<Activities[N]>[0][] {
    return this.calls.filter((c) => c.name === name).map((c) => c.args[0] as Parameters<Activities[N]>[0]);
  }

  of(name: ActivityName): ActivityCall[] {
    return this.calls.filter((c) => c.name === name);
  }
}

function describeCall({ name, args }: ActivityCall): string {
  const first = args[0] as Record<string, unknown> | undefined;
  switch (name) {
    case 'sendNotice':
      return `${name} ${(first as unknown as NoticeRequest).kind}`;
    case 'alertSre': {
      const a = first as unknown as SreAlert;
      return `${name} ${a.severity} ${a.action}`;
    }
    case 'upgradeComponent':
      return `${name} ${(first!.component as ComponentRef).id}`;
    case 'verifyComponent':
      return `${name} ${(first!.component as ComponentRef).id}@${String(first!.expectedVersion)}`;
    case 'restoreComponent': {
      const snap = first as unknown as ComponentSnapshot;
      return `${name} ${snap.component.id}@${snap.version}`;
    }
    default:
      return name;
  }
}

const logs = new WeakMap<object, ActivityLog>();

/** The log behind activities made by mockActivities (the scenario runner checks it for unexpected calls). */
export function logOf(activities: object): ActivityLog | undefined {
  return logs.get(activities);
}

/**
 * A plain object with every activity the worker registers: the ones in `impl` recorded in `log` and answered by
 * `impl`; any other is recorded as unexpected and fails (non-retryable) with a message naming it and its input.
 */
export function mockActivities(log: ActivityLog, impl: Partial<Activities>): Activities {
  const unknown = Object.keys(impl).filter((k) => !ACTIVITY_NAMES.includes(k as ActivityName));
  if (unknown.length) throw new Error(`mockActivities: no activity named ${unknown.join(', ')} in activities/`);
  const mocks: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of ACTIVITY_NAMES) {
    const answer = impl[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    mocks[name] = async (...args: unknown[]) => {
      const { currentAttemptScheduledTimestampMs: at, attempt } = Context.current().info;
      log.calls.push({ name, args, at, attempt });
      if (answer) return answer(...args);
      const call = `${name}(${JSON.stringify(args).slice(1, -1).slice(0, 200)})`;
      log.unexpected.push(call);
      throw ApplicationFailure.nonRetryable(`unexpected activity in this scenario: ${call}`, 'UnexpectedActivity');
    };
  }
  logs.set(mocks, log);
  return mocks as Activities;
}
