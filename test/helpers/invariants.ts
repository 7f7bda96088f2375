// The promise nightshift makes to a customer, checked after the fact from what the simulated fleet itself recorded
// (its audit log), not from the workflows' own status:
//
// - every change lies inside one occurrence of the control plane's maintenance window (computed with domain/window.ts
//   from the inventory), unless an SRE overrode the window (`upgradeNow`); restores may run outside (a rollback
//   must finish);
// - the first change of an attempt comes at least the tier's notice lead after the last scheduled/rescheduled notice
//   delivered before it, and not before the start that notice named;
// - one writer: only the control plane's own workflow changes it; a component is not changed twice toward the same
//   version within one attempt, and no run supersedes a rollout another run has in flight;
// - every component ends on its old version and configuration, or on a release's target (configuration migrated as
//   the compatibility matrix says), with no rollout left running.
//
// Times: the fleet's `at` is real time; `requestedBy.scheduledAt` is when the server scheduled the activity attempt,
// in server time, which on the time-skipping server is the workflow's clock that windows are planned in. Notice
// deliveries are recorded in server time too (DeliveryRecorder below).
import { Context } from '@temporalio/activity';
import type { temporal } from '@temporalio/proto';
import type { EmailMessage, NoticeDelivery, NotifierPort, SendOptions } from '../../activities/ports';
import { applyConfigMigrations, checkCompatibility, type Config } from '../../domain/compatibility';
import { ControlPlaneSchema, type ControlPlane, type WindowSpec } from '../../domain/inventory';
import type { ComponentKind } from '../../domain/model';
import { DEFAULT_POLICY, noticeLeadMinutes, type UpgradePolicy } from '../../domain/policy';
import type { Release } from '../../domain/release';
import { applyBlackouts, occurrences, windowOpenAt } from '../../domain/window';
import type { SimulatedAuditEntry } from '../../integrations/simulatedFleet/wire';
import { controlPlaneWorkflowId } from '../../workflows/messages';

/** A notice as the customer got it: `deliveredAt` is server time (epoch ms). */
export interface DeliveredNotice {
  controlPlaneId: string;
  releaseId: string;
  kind: string;
  key: string;
  /** The start the notice named (its `window_start_iso`), if it named one. */
  windowStartAt?: string;
  deliveredAt: number;
}

/** An SRE took the window out of the decision: that run (or, without runId, every run) of the control plane. */
export interface WindowOverride {
  controlPlaneId: string;
  runId?: string;
}

/** What a component runs: the simulated fleet's state has these fields. */
export interface ComponentState {
  controlPlaneId: string;
  componentId: string;
  kind: ComponentKind;
  version: string;
  config?: Config;
  /** The rollout in progress, if any. */
  rollout?: { toVersion: string } | null;
}

/** The inventory as the test wrote it, or the control plane as it stood at a real instant (raw, as written). */
export type InventorySource =
  | { controlPlanes: Record<string, unknown>[] }
  | ((controlPlaneId: string, at: Date) => Record<string, unknown> | undefined);

export interface InvariantInput {
  audit: SimulatedAuditEntry[];
  inventory: InventorySource;
  notices: DeliveredNotice[];
  overrides?: WindowOverride[];
  /** Every release offered: their targets are the only versions a component may be moved to or end on. */
  releases: Release[];
  /** What each component ran before (default: the `from` of its first deploy, configuration unknown). */
  initialState?: ComponentState[];
  finalState: ComponentState[];
  /** For the notice leads; default DEFAULT_POLICY. */
  policy?: UpgradePolicy;
}

type DeployEntry = Extract<SimulatedAuditEntry, { event: 'deploy' }>;
type Requested = DeployEntry & { requestedBy: NonNullable<DeployEntry['requestedBy']> };

const MINUTE = 60_000;
const NOTICE_KINDS_NAMING_A_WINDOW = new Set(['scheduled', 'rescheduled']);

/** Every broken promise, one line each (control plane, component, times); empty when all hold. */
export function checkInvariants(input: InvariantInput): string[] {
  const policy = input.policy ?? DEFAULT_POLICY;
  const violations: string[] = [];
  const deploys = input.audit.filter((e): e is DeployEntry => e.event === 'deploy');
  const requested = deploys.filter((e): e is Requested => e.requestedBy !== undefined);
  const releasesById = new Map(input.releases.map((r) => [r.id, r]));
  const targets = (kind: ComponentKind) =>
    new Set(input.releases.map((r) => (kind === 'dashboard' ? r.targets.dashboard : r.targets.gateway)));
  const lookup = inventoryLookup(input.inventory);
  const component = (e: { controlPlaneId: string; componentId: string }) => `${e.controlPlaneId}/${e.componentId}`;
  const change = (e: DeployEntry) =>
    `${component(e)} ${e.from} → ${e.to} (${e.requestedBy?.activityType ?? 'unattributed'} at ${e.requestedBy?.scheduledAt ?? e.at} server time, run ${e.requestedBy?.runId ?? '?'})`;

  // One writer per control plane: its own workflow.
  for (const e of requested) {
    const own = controlPlaneWorkflowId(e.controlPlaneId);
    if (e.requestedBy.workflowId !== own)
      violations.push(`${change(e)}: requested by ${e.requestedBy.workflowId}, not by ${own}`);
  }

  const started = requested.filter((e) => e.result === 'started');
  const upgrades = started.filter((e) => !isRestore(e));

  // Only versions some release targets.
  for (const e of upgrades) {
    if (!targets(e.kind).has(e.to))
      violations.push(`${change(e)}: ${e.to} is not the target of any release offered (${[...targets(e.kind)]})`);
  }

  // Per attempt (one run of the control plane's workflow): window, notice, no double change.
  const runs = groupBy(upgrades, (e) => `${e.requestedBy.workflowId}\u0000${e.requestedBy.runId}`);
  for (const changes of runs.values()) {
    changes.sort((a, b) => scheduledAt(a) - scheduledAt(b));
    const first = changes[0]!;
    const cpId = first.controlPlaneId;
    const runId = first.requestedBy.runId;

    const seen = new Map<string, Requested>();
    for (const e of changes) {
      const key = `${e.componentId}\u0000${e.to}`;
      const earlier = seen.get(key);
      if (earlier)
        violations.push(
          `${change(e)}: changed twice toward ${e.to} in one attempt (first at ${earlier.requestedBy.scheduledAt})`,
        );
      else seen.set(key, e);
    }

    const overridden = (input.overrides ?? []).some(
      (o) => o.controlPlaneId === cpId && (o.runId === undefined || o.runId === runId),
    );
    if (overridden) continue;

    const read = lookup(cpId, new Date(first.at));
    if (typeof read === 'string') {
      violations.push(`${change(first)}: cannot check its window: ${read}`);
      continue;
    }
    const cp = read;
    const t0 = scheduledAt(first);
    const occ = windowOpenAt(cp.window, cp.blackouts, new Date(t0), 0);
    if (!occ) {
      violations.push(`${change(first)}: outside every window of ${describeSpec(cp.window)}${nearby(cp, t0)}`);
    } else {
      for (const e of changes.slice(1)) {
        const t = scheduledAt(e);
        if (t < occ.opensAt.getTime() || t > occ.closesAt.getTime())
          violations.push(
            `${change(e)}: outside the window [${occ.opensAt.toISOString()}, ${occ.closesAt.toISOString()}] ` +
              `in which its attempt began (first change ${first.requestedBy.scheduledAt})`,
          );
      }
    }

    // The notice: the last one naming a window that reached the customer before the first change.
    const told = input.notices
      .filter((n) => n.controlPlaneId === cpId && NOTICE_KINDS_NAMING_A_WINDOW.has(n.kind) && n.deliveredAt <= t0)
      .sort((a, b) => a.deliveredAt - b.deliveredAt)
      .at(-1);
    if (!told) {
      violations.push(`${change(first)}: no scheduled or rescheduled notice was delivered before this first change`);
      continue;
    }
    const release = releasesById.get(told.releaseId);
    if (!release) {
      violations.push(
        `${change(first)}: the last notice before it (${told.key}) is about unknown release ${told.releaseId}`,
      );
      continue;
    }
    const releaseTarget = first.kind === 'dashboard' ? release.targets.dashboard : release.targets.gateway;
    if (releaseTarget !== first.to)
      violations.push(
        `${change(first)}: the last notice before it (${told.key}) announced ${release.id}, which targets ${releaseTarget}`,
      );
    const lead = noticeLeadMinutes(policy, cp.tier, release.kind);
    const deliveredAt = new Date(told.deliveredAt).toISOString();
    if (told.deliveredAt + lead * MINUTE > t0)
      violations.push(
        `${change(first)}: only ${minutes(t0 - told.deliveredAt)} after the ${told.kind} notice ${told.key} ` +
          `was delivered at ${deliveredAt}; the ${cp.tier} tier's ${release.kind} notice lead is ${minutes(lead * MINUTE)}`,
      );
    if (told.windowStartAt && t0 < Date.parse(told.windowStartAt))
      violations.push(
        `${change(first)}: before ${told.windowStartAt}, the start the ${told.kind} notice ${told.key} named`,
      );
  }

  // No run supersedes a rollout another run has in flight.
  const byGeneration = new Map<string, DeployEntry>();
  for (const e of deploys) {
    if (e.result !== 'started' || e.generation === undefined) continue;
    if (e.supersedes !== undefined && e.requestedBy) {
      const previous = byGeneration.get(`${component(e)}#${e.supersedes}`);
      const by = previous?.requestedBy;
      if (by && (by.workflowId !== e.requestedBy.workflowId || by.runId !== e.requestedBy.runId))
        violations.push(
          `${change(e)}: superseded the rollout ${change(previous)} while it was still in flight (two runs at once)`,
        );
    }
    byGeneration.set(`${component(e)}#${e.generation}`, e);
  }

  // End state: old version and configuration, or a target, and nothing still rolling out.
  const touched = groupBy(requested, component);
  for (const [key, entries] of touched) {
    const first = entries[0]!;
    const final = input.finalState.find((s) => component(s) === key);
    if (!final) {
      violations.push(`${key}: changed, but missing from the final state`);
      continue;
    }
    const initial = input.initialState?.find((s) => component(s) === key) ?? {
      ...first,
      version: first.from,
      config: undefined,
    };
    if (final.rollout) {
      violations.push(`${key}: still rolling out to ${final.rollout.toVersion} at the end (on ${final.version})`);
      continue;
    }
    if (final.version === initial.version) {
      if (initial.config && final.config && !sameConfig(initial.config, final.config))
        violations.push(
          `${key}: back on ${final.version} but with configuration ${json(final.config)}, not its old ${json(initial.config)}`,
        );
      continue;
    }
    if (!targets(first.kind).has(final.version)) {
      violations.push(
        `${key}: ends on ${final.version}, neither its old ${initial.version} nor a target (${[...targets(first.kind)]})`,
      );
      continue;
    }
    if (initial.config && final.config) {
      const expected = migrated(initial.config, first.kind, initial.version, final.version);
      if (!sameConfig(expected, final.config))
        violations.push(
          `${key}: on the target ${final.version} with configuration ${json(final.config)}, expected ${json(expected)}`,
        );
    }
  }
  return violations;
}

/**
 * Records every message the inner notifier delivered, with its delivery time in server time: the activity attempt's
 * scheduled time (server clock) plus the real time elapsed since the send began. Duplicates (an earlier attempt
 * delivered it) are not recorded again. Sends nothing itself: the inner notifier's semantics are unchanged.
 */
export class DeliveryRecorder implements NotifierPort {
  readonly channel: string;
  constructor(
    private readonly inner: NotifierPort,
    private readonly record: (notice: DeliveredNotice) => void,
  ) {
    this.channel = inner.channel;
  }

  async send(message: EmailMessage, options?: SendOptions): Promise<NoticeDelivery> {
    const began = Date.now();
    const scheduled = attemptScheduledAt() ?? began;
    const delivery = await this.inner.send(message, options);
    if (!delivery.duplicate) {
      const windowStartAt = message.properties.window_start_iso;
      this.record({
        controlPlaneId: message.properties.control_plane_id ?? '',
        releaseId: message.properties.release_id ?? '',
        kind: message.noticeKind,
        key: message.key,
        ...(windowStartAt ? { windowStartAt } : {}),
        deliveredAt: scheduled + (Date.now() - began),
      });
    }
    return delivery;
  }
}

function attemptScheduledAt(): number | undefined {
  try {
    return Context.current().info.currentAttemptScheduledTimestampMs;
  } catch {
    return undefined; // not inside an activity
  }
}

/** Whether a run took an SRE's `upgradeNow` (an accepted update that completed without failure). */
export function tookUpgradeNow(events: temporal.api.history.v1.IHistoryEvent[]): boolean {
  const accepted = new Set<string>();
  for (const e of events) {
    const a = e.workflowExecutionUpdateAcceptedEventAttributes;
    const id = a?.acceptedRequest?.meta?.updateId;
    if (a?.acceptedRequest?.input?.name === 'upgradeNow' && id) accepted.add(id);
  }
  return events.some((e) => {
    const c = e.workflowExecutionUpdateCompletedEventAttributes;
    return !!c?.meta?.updateId && accepted.has(c.meta.updateId) && !!c.outcome?.success;
  });
}

// ---- helpers ----

function isRestore(e: Requested): boolean {
  return e.requestedBy.activityType.startsWith('restore');
}

function scheduledAt(e: Requested): number {
  return Date.parse(e.requestedBy.scheduledAt);
}

function inventoryLookup(source: InventorySource): (id: string, at: Date) => ControlPlane | string {
  const raw = typeof source === 'function' ? source : (id: string) => source.controlPlanes.find((cp) => cp.id === id);
  return (id, at) => {
    const found = raw(id, at);
    if (!found) return `${id} is not in the inventory`;
    const parsed = ControlPlaneSchema.safeParse(found);
    return parsed.success ? parsed.data : `${id}: the inventory entry does not parse: ${parsed.error.message}`;
  };
}

function describeSpec(w: WindowSpec): string {
  const when = w.weekly ? w.weekly.days.join(',') : w.monthly;
  return `${when} ${w.start} for ${w.durationMinutes} min (${w.timeZone})`;
}

/** The occurrences (after blackouts) around an instant, to say how far off a change was. */
function nearby(cp: ControlPlane, at: number): string {
  const DAY = 24 * 60 * MINUTE;
  const around = occurrences(cp.window, new Date(at - DAY), new Date(at + DAY))
    .map((o) => applyBlackouts(o, cp.window.timeZone, cp.blackouts))
    .filter((o) => o !== undefined)
    .map((o) => `[${o.opensAt.toISOString()}, ${o.closesAt.toISOString()}]`);
  return around.length ? `; windows within a day: ${around.join(' ')}` : '; no window within a day';
}

function migrated(config: Config, kind: ComponentKind, from: string, to: string): Config {
  const { migrations } = checkCompatibility(config, kind, from, to);
  return migrations.length ? applyConfigMigrations(config, migrations).config : config;
}

function sameConfig(a: Config, b: Config): boolean {
  return json(a) === json(b);
}

/** JSON with sorted keys, so equal configurations print (and compare) the same. */
function json(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function minutes(ms: number): string {
  const m = Math.floor(ms / MINUTE);
  return m >= 120 ? `${(m / 60).toFixed(1)} h` : `${m} min`;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
