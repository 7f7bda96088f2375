// The chaos verdict: judged from what the simulated fleet recorded itself (its audit log and its final state), what
// the fake HubSpot sent and what the fake PagerDuty paged, against the inventory with the domain's window code. The
// workflows' own status is used only to tell which attempts ended how (for the alerts expected and finished-then-
// undone) and whether a workflow is still stuck.
import type { Inventory } from '../../domain/inventory';
import type { Release } from '../../domain/release';
import { applyBlackouts, occurrences } from '../../domain/window';
import type { SimulatedAuditEntry, SimulatedComponentState } from '../../integrations/simulatedFleet/wire';
import type { ControlPlaneStatus, FleetStatus } from '../../workflows/messages';

export interface SentEmailRecord {
  at: number;
  sendId?: string;
  customProperties: Record<string, unknown>;
}

export interface IncidentRecord {
  dedupKey: string;
  events: Record<string, unknown>[];
}

export interface VerdictInput {
  inventory: Inventory;
  releases: Release[];
  /** Notice lead in minutes by tier and release kind, as the worker was configured. */
  leadMinutes: (tier: string, kind: Release['kind']) => number;
  audit: SimulatedAuditEntry[];
  finalState: SimulatedComponentState[];
  /** Per control plane: components whose /hello passes now. */
  healthy: Map<string, Set<string>>;
  emails: SentEmailRecord[];
  incidents: IncidentRecord[];
  /** Every alert the workers raised, as the log channel recorded it (info alerts are not paged). */
  alertLog: { dedupKey: string; severity: string; controlPlaneId: string }[];
  /** The status of every control plane's workflow at the end, or why it could not be read. */
  controlPlanes: Map<string, ControlPlaneStatus | string>;
  fleets: Map<string, FleetStatus | string>;
  /** When the harness stopped waiting (epoch ms): a window-wait starting after it is legitimate. */
  settledAt: number;
}

export interface Verdict {
  /** Every figure that must be 0. */
  zeros: {
    lost: number;
    halfUpgraded: number;
    configChanged: number;
    unhealthyOnTarget: number;
    doubleChanges: number;
    racedChanges: number;
    finishedThenUndone: number;
    outsideWindow: number;
    beforeNotice: number;
    duplicateEmails: number;
    missingAlerts: number;
  };
  /** Informative figures. */
  figures: {
    controlPlanes: number;
    attempts: number;
    outcomes: Record<string, number>;
    finalStates: Record<'on-target' | 'restored' | 'untouched', number>;
    changesStarted: number;
    restoresStarted: number;
    emails: number;
    incidents: number;
    harmfulAttempts: number;
  };
  /** One line per violation, naming the control plane and the evidence. */
  violations: string[];
}

/** JSON value equality, key order aside (not isDeepStrictEqual: under Jest the objects come from two realms). */
function sameJson(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
              .map(([k, x]) => [k, canon(x)]),
          )
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

const isUpgrade = (e: SimulatedAuditEntry) =>
  e.event === 'deploy' && e.result === 'started' && e.requestedBy?.activityType === 'upgradeComponent';
const isRestore = (e: SimulatedAuditEntry) =>
  e.event === 'deploy' && e.result === 'started' && e.requestedBy?.activityType !== 'upgradeComponent';

/** When the worker asked (server time, = real time on the dev server), else when the fleet received it. */
function askedAt(e: Extract<SimulatedAuditEntry, { event: 'deploy' }>): number {
  return Date.parse(e.requestedBy?.scheduledAt ?? e.at);
}

export function judge(input: VerdictInput): Verdict {
  const violations: string[] = [];
  const flag = (kind: keyof Verdict['zeros'], line: string) => {
    zeros[kind]++;
    violations.push(`${kind}: ${line}`);
  };
  const zeros: Verdict['zeros'] = {
    lost: 0,
    halfUpgraded: 0,
    configChanged: 0,
    unhealthyOnTarget: 0,
    doubleChanges: 0,
    racedChanges: 0,
    finishedThenUndone: 0,
    outsideWindow: 0,
    beforeNotice: 0,
    duplicateEmails: 0,
    missingAlerts: 0,
  };
  const finalStates = { 'on-target': 0, restored: 0, untouched: 0 };
  const outcomes: Record<string, number> = {};
  let attempts = 0;
  let harmfulAttempts = 0;
  const releaseById = new Map(input.releases.map((r) => [r.id, r]));
  const targetSets = input.releases.map((r) => r.targets.gateway);

  for (const cp of input.inventory.controlPlanes) {
    const deploys = input.audit.filter(
      (e): e is Extract<SimulatedAuditEntry, { event: 'deploy' }> => e.event === 'deploy' && e.controlPlaneId === cp.id,
    );
    const components = input.finalState.filter((c) => c.controlPlaneId === cp.id);
    const initial = new Map<string, { version: string; config: Record<string, unknown> }>([
      ['dashboard', { version: cp.dashboard.version, config: {} }],
      ['gateway', { version: cp.gateway.version, config: cp.config }],
      ...cp.dataPlanes.map((dp): [string, { version: string; config: Record<string, unknown> }] => [
        dp.id,
        { version: dp.version, config: {} },
      ]),
    ]);

    // --- The state it ends in: all on one release's target, or all as they were; configuration unchanged.
    for (const c of components) {
      if (c.rollout) flag('lost', `${cp.id}/${c.componentId}: a rollout is still in progress at the end`);
      const was = initial.get(c.componentId);
      if (was && !sameJson(c.config, was.config))
        flag('configChanged', `${cp.id}/${c.componentId}: configuration ${JSON.stringify(c.config)} ≠ initial`);
    }
    const asBefore = components.every((c) => c.version === initial.get(c.componentId)?.version);
    const onTarget = targetSets.find((t) => components.every((c) => c.version === t));
    const touched = deploys.some((e) => e.result === 'started');
    if (asBefore) finalStates[touched ? 'restored' : 'untouched']++;
    else if (onTarget) {
      finalStates['on-target']++;
      const sick = components.filter((c) => !input.healthy.get(cp.id)?.has(c.componentId)).map((c) => c.componentId);
      if (sick.length) flag('unhealthyOnTarget', `${cp.id}: on ${onTarget} but ${sick.join(', ')} not healthy`);
    } else {
      // Legitimate only if the versions are those before the last attempt: e.g. all on 5.8.2 after a 5.8.3 rollback.
      const versions = components.map((c) => `${c.componentId}=${c.version}`).join(' ');
      const uniform = new Set(components.map((c) => c.version)).size === 1;
      if (uniform) finalStates.restored++;
      else flag('halfUpgraded', `${cp.id}: ends on mixed versions ${versions}`);
    }

    // --- Every change: inside a window occurrence, after the scheduled notice plus the lead.
    const upgrades = deploys.filter(isUpgrade);
    for (const e of upgrades) {
      const at = askedAt(e);
      const inside = occurrences(cp.window, new Date(at), new Date(at + 1))
        .map((o) => applyBlackouts(o, cp.window.timeZone, cp.blackouts))
        .some((o) => o !== undefined && o.opensAt.getTime() <= at && at <= o.closesAt.getTime());
      if (!inside)
        flag('outsideWindow', `${cp.id}/${e.componentId}: change to ${e.to} asked at ${new Date(at).toISOString()}`);
      const told = input.emails.filter((m) => {
        const p = m.customProperties;
        const rel = releaseById.get(String(p.release_id));
        return (
          p.control_plane_id === cp.id &&
          p.notice_kind === 'scheduled' &&
          rel !== undefined &&
          rel.targets.gateway === e.to &&
          m.at + input.leadMinutes(cp.tier, rel.kind) * 60_000 <= at
        );
      });
      if (told.length === 0)
        flag(
          'beforeNotice',
          `${cp.id}/${e.componentId}: change to ${e.to} at ${new Date(at).toISOString()} without a scheduled notice delivered the lead before`,
        );
    }

    // --- No component changed twice toward the same version, none while another rollout of it was running.
    const perComponent = new Map<string, Extract<SimulatedAuditEntry, { event: 'deploy' }>[]>();
    for (const e of deploys.filter((d) => d.result === 'started'))
      perComponent.set(e.componentId, [...(perComponent.get(e.componentId) ?? []), e]);
    for (const [componentId, list] of perComponent) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (e.supersedes !== undefined)
          flag(
            'racedChanges',
            `${cp.id}/${componentId}: deploy ${e.from}→${e.to} by ${e.requestedBy?.activityType ?? '?'} superseded a rollout in progress`,
          );
        if (i > 0 && isUpgrade(e) && list.slice(0, i).some((p) => isUpgrade(p) && p.to === e.to)) {
          const undone = list.slice(0, i).some((p) => isRestore(p) && p.from === e.to);
          if (!undone) flag('doubleChanges', `${cp.id}/${componentId}: changed to ${e.to} twice`);
        }
      }
    }

    // --- Attempts, as the workflow recorded them: nothing finished is undone; harm is alerted.
    const status = input.controlPlanes.get(cp.id);
    if (typeof status === 'string') {
      flag('lost', `${cp.id}: status unreadable: ${status}`);
      continue;
    }
    if (!status) continue;
    const u = status.upgrade;
    if (u && !u.outcome) {
      const waitingLater =
        u.stage === 'waiting-for-window' && u.window && Date.parse(u.window.startAt) > input.settledAt - 60_000;
      if (!waitingLater)
        flag('lost', `${cp.id}: upgrade to ${u.releaseId} still ${u.stage}${u.paused ? ' (paused)' : ''}`);
    }
    for (const r of status.recent) {
      attempts++;
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      const harmful = r.changed && r.outcome !== 'completed';
      if (harmful) harmfulAttempts++;
      if (r.outcome === 'completed' && r.changed) {
        const undo = deploys.find(
          (e) => isRestore(e) && e.from === r.targets.gateway && askedAt(e) > Date.parse(r.endedAt),
        );
        if (undo)
          flag(
            'finishedThenUndone',
            `${cp.id}: ${r.releaseId} completed at ${r.endedAt}, then restored ${undo.componentId}`,
          );
      }
      // Harm (rolled back, failed) pages on-call; a cancel an operator asked for after changes is told (an `info`
      // alert, which the PagerDuty channel does not page by its minimum severity).
      const ours = (key: string) => key.includes(`${cp.id}/`) || key.endsWith(cp.id);
      if (harmful && r.outcome !== 'cancelled') {
        if (!input.incidents.some((i) => ours(i.dedupKey)))
          flag('missingAlerts', `${cp.id}: ${r.releaseId} ended ${r.outcome} after changes, no incident`);
      } else if (harmful && !input.alertLog.some((a) => ours(a.dedupKey)))
        flag('missingAlerts', `${cp.id}: ${r.releaseId} cancelled after changes, no alert at all`);
    }
  }

  // --- Emails: one per control plane, release and kind (a re-sent key or a second notice is a duplicate).
  const seenSend = new Set<string>();
  const seenNotice = new Set<string>();
  for (const m of input.emails) {
    const p = m.customProperties;
    if (m.sendId) {
      if (seenSend.has(m.sendId)) flag('duplicateEmails', `sendId ${m.sendId} delivered twice`);
      seenSend.add(m.sendId);
    }
    if (p.notice_kind === 'rescheduled') continue; // one per window moved
    const key = `${String(p.control_plane_id)} ${String(p.release_id)} ${String(p.notice_kind)}`;
    if (seenNotice.has(key)) flag('duplicateEmails', `${key}: sent twice`);
    seenNotice.add(key);
  }

  for (const [id, f] of input.fleets) {
    if (typeof f === 'string') flag('lost', `fleet ${id}: status unreadable: ${f}`);
    // Still open is fine while control planes wait for later windows; asking for a slot or changing at the end is not.
    else if (f.inFlight.changing > 0 || f.inFlight.waitingForSlot > 0 || f.stage === 'halted')
      flag('lost', `fleet ${id}: still ${f.stage} (in flight ${JSON.stringify(f.inFlight)})`);
  }

  return {
    zeros,
    figures: {
      controlPlanes: input.inventory.controlPlanes.length,
      attempts,
      outcomes,
      finalStates,
      changesStarted: input.audit.filter(isUpgrade).length,
      restoresStarted: input.audit.filter(isRestore).length,
      emails: input.emails.length,
      incidents: input.incidents.length,
      harmfulAttempts,
    },
    violations,
  };
}
