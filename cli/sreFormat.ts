// Text for the `sre` commands' results: the status of a control plane or a fleet, the list as a table, and one line
// per action. `-o json` prints the results themselves (cli/sre.ts).
import { CATCH_UP_WORKFLOW_ID, CATCH_UP_WORKFLOW_TYPE } from '../client/catchUpSchedule';
import type { ActionResult, ListRow, SreResult } from '../client/sreCommands';
import type {
  AttemptRecord,
  ControlPlaneStatus,
  FleetStatus,
  OperatorRequest,
  UpgradeStatus,
  WhyNotReason,
} from '../workflows/messages';
import { textTable } from './cliArgs';

const when = (iso?: string) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '—');
const who = (r?: OperatorRequest & { at?: string }) =>
  r ? [r.by && `by ${r.by}`, r.reason && `"${r.reason}"`, r.at && `at ${when(r.at)}`].filter(Boolean).join(' ') : '';
const counts = (record: Record<string, number | undefined>) =>
  Object.entries(record)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

export function formatUpgradeStatus(s: UpgradeStatus): string[] {
  const lines = [
    `${s.workflowId}  ${s.releaseKind} release ${s.releaseId}: Dashboard ${s.targets.dashboard}, Gateway ${s.targets.gateway}`,
    `stage:      ${s.stage}${s.outcome ? ` (outcome ${s.outcome}${s.skipReason ? `: ${s.skipReason}` : ''})` : ''}`,
  ];
  if (s.reason) lines.push(`reason:     ${s.reason}`);
  lines.push(`paused:     ${s.paused ? `yes ${who(s.pause)}` : 'no'}`);
  if (s.rollbackBlocked)
    lines.push(
      `ROLLBACK BLOCKED since ${when(s.rollbackBlocked.since)} (${s.rollbackBlocked.rounds} round(s)): restoring ` +
        `${s.rollbackBlocked.component}: ${s.rollbackBlocked.why} — retry-rollback or abandon-rollback`,
    );
  for (const d of s.rollbackDecisions ?? [])
    lines.push(`rollback:   ${d.decision} ${d.component} ${who(d)} at ${when(d.at)}`);
  if (s.cancel) lines.push(`cancelled:  ${who(s.cancel)}`);
  if (s.window) {
    lines.push(`window:     ${s.window.localText}`, `            ${s.window.utcText}`);
    if (s.window.startAt !== s.window.opensAt) lines.push(`            starts ${when(s.window.startAt)}`);
  } else lines.push('window:     not planned');
  const changes = s.changes.map((c) => `${c.component.id} ${c.from} → ${c.to}`);
  lines.push(`changes:    ${changes.join(', ') || 'none'}`);
  const now = Object.entries(s.versionsNow).map(([c, v]) => `${c}=${v}`);
  if (now.length) lines.push(`versions:   ${now.join(' ')}`);
  if (s.steps.length) {
    lines.push('steps:');
    for (const step of s.steps) {
      lines.push(
        `  ${step.status.padEnd(7)} ${step.name}  ${when(step.startedAt)}${step.endedAt ? ` → ${when(step.endedAt)}` : ''}${step.detail ? `  ${step.detail}` : ''}`,
      );
      const last = step.evidence?.at(-1);
      if (last)
        lines.push(
          `          health: ${step.evidence!.length} probe(s) kept; last ${when(last.at)}: ${last.status}${last.version ? ` on ${last.version}` : ''}${last.httpStatus ? ` (HTTP ${last.httpStatus})` : ''}${last.problems ? ` — ${last.problems}` : ''}`,
        );
    }
  }
  if (s.notices.length) {
    lines.push('notices:');
    for (const n of s.notices) lines.push(`  ${n.kind.padEnd(12)} ${when(n.at)}${n.duplicate ? ' (duplicate)' : ''}`);
  }
  for (const d of s.deferrals) lines.push(`deferred:   ${d.days} day(s) ${who(d)} → starts ${when(d.newStart)}`);
  if (s.override) lines.push(`upgrade-now: ${who(s.override)}`);
  if (s.fleet)
    lines.push(
      `fleet:      ${s.fleet.workflowId} (${s.fleet.wave} wave)${s.fleet.slotGrantedAt ? `, slot granted ${when(s.fleet.slotGrantedAt)}` : ''}`,
    );
  if (s.supersededBy) lines.push(`superseded by: ${s.supersededBy}`);
  for (const f of s.deliveryFailures ?? []) lines.push(`not delivered: ${f}`);
  if (s.overrunMinutes) lines.push(`overrun:    ${s.overrunMinutes} min past the window`);
  if (s.lastError) lines.push(`last error: ${s.lastError}`);
  return lines;
}

const versions = (record: Record<string, string>) =>
  Object.entries(record)
    .map(([c, v]) => `${c}=${v}`)
    .join(' ') || 'unknown';
const targetsOf = (t: { dashboard: string; gateway: string }) => `Dashboard ${t.dashboard}, Gateway ${t.gateway}`;

/** One line per attempt: release, outcome, whether anything changed, when, why. */
export function formatAttempt(a: AttemptRecord): string {
  const outcome = `${a.outcome}${a.skipReason ? ` (${a.skipReason})` : ''}`;
  return (
    `${a.releaseId.padEnd(14)} ${outcome.padEnd(20)} ${a.changed ? 'changed' : 'unchanged'}  ` +
    `${when(a.startedAt)} → ${when(a.endedAt)}${a.fleetWorkflowId ? `  via ${a.fleetWorkflowId}` : ''}` +
    `${a.reason ? `: ${a.reason}` : ''}`
  );
}

/** One line per reason: its code, what it means here, and until when it can hold at the latest. */
export function formatWhyNot(r: WhyNotReason): string[] {
  const lines = [`${r.code.padEnd(20)} ${r.detail}${r.until ? ` (until ${when(r.until)})` : ''}`];
  const evidence = Object.entries(r.evidence ?? {}).map(([k, v]) => `${k}=${String(v)}`);
  if (evidence.length) lines.push(`${' '.repeat(21)}evidence: ${evidence.join(' ')}`);
  return lines;
}

export function formatControlPlaneStatus(s: ControlPlaneStatus): string[] {
  const lines = [
    `${s.workflowId}  control plane ${s.controlPlaneId}${s.orgId ? ` (org ${s.orgId})` : ''}`,
    `state:      ${s.state}`,
    `installed:  ${versions(s.installed)}${s.installedSeenAt ? ` (as of ${when(s.installedSeenAt)})` : ''}`,
  ];
  if (s.upgrade) {
    lines.push('upgrade in progress:');
    for (const line of formatUpgradeStatus(s.upgrade)) lines.push(`  ${line}`);
  } else lines.push('upgrade in progress: none');
  const p = s.pending;
  lines.push(
    p
      ? `pending:    ${p.releaseId} (${targetsOf(p.targets)}), offered by ${p.source} at ${when(p.offeredAt)}` +
          `${p.fleetWorkflowId ? ` via ${p.fleetWorkflowId}` : ''}`
      : 'pending:    none',
  );
  if (s.recent.length) {
    lines.push(`recent attempts (oldest first):`);
    for (const a of s.recent) lines.push(`  ${formatAttempt(a)}`);
  } else lines.push('recent attempts: none');
  if (s.whyNot.length) {
    lines.push('why not:');
    for (const r of s.whyNot) for (const line of formatWhyNot(r)) lines.push(`  ${line}`);
  } else lines.push(`why not:    nothing holds it back${s.upgrade ? ' (the upgrade is making progress)' : ''}`);
  if (s.nextChanceAt) lines.push(`next chance: ${when(s.nextChanceAt)}`);
  for (const f of s.deliveryFailures ?? []) lines.push(`not delivered: ${f}`);
  lines.push(`runs:       ${s.runs}`);
  return lines;
}

export function formatFleetStatus(s: FleetStatus): string[] {
  const wave = (name: 'canary' | 'main') => {
    const w = s.waves[name];
    return `${name} ${w.listed ? 'listed' : 'not listed yet'}, ${w.started} started, ${w.finished} finished, ${w.failed} failed`;
  };
  const { canary, failureBudget: budget } = s.rollout;
  const lines = [
    `${s.workflowId}  ${s.releaseKind} release ${s.releaseId}: Dashboard ${s.targets.dashboard}, Gateway ${s.targets.gateway}`,
    `stage:       ${s.stage}${s.bakeUntil ? ` (baking until ${when(s.bakeUntil)})` : ''}`,
    `paused:      ${s.paused ? `yes ${who(s.pause)}` : 'no'}`,
  ];
  if (s.halted) lines.push(`HALTED:      ${s.halted.reason} at ${when(s.halted.at)} (approve --fleet ${s.releaseId})`);
  if (s.freeze) lines.push(`frozen:      until ${when(s.freeze.until)} ${who(s.freeze)}`);
  if (s.cancel) lines.push(`cancelled:   ${who(s.cancel)}`);
  if (s.supersededBy) lines.push(`superseded by: ${s.supersededBy}`);
  lines.push(
    `eligibility: ${s.eligibility.listed} listed, ${s.eligibility.eligible} eligible; skipped: ${counts(s.eligibility.skipped)}`,
    `waves:       ${wave('canary')}`,
    `             ${wave('main')}`,
    `in flight:   ${s.inFlight.starting ? `${s.inFlight.starting} starting (window open, not asked yet), ` : ''}${s.inFlight.waitingForWindow} waiting for a window, ${s.inFlight.waitingForSlot} waiting for a slot, ${s.inFlight.changing} changing`,
    `outcomes:    ${counts(s.outcomes)}`,
    `failures:    ${s.failureCount}${s.failures.length < s.failureCount ? ` (latest ${s.failures.length})` : ''}`,
  );
  for (const f of s.failures)
    lines.push(`  ${f.controlPlaneId} ${f.outcome} at ${when(f.at)}${f.reason ? `: ${f.reason}` : ''}`);
  if (s.beforeChangeCount !== undefined)
    lines.push(`before change: ${s.beforeChangeCount} stopped before changing anything (outside the failure budget)`);
  const lost = s.lost ?? [];
  if (s.lostCount !== undefined || lost.length) {
    const total = s.lostCount ?? lost.length;
    lines.push(`lost:        ${total}${lost.length < total ? ` (latest ${lost.length})` : ''}`);
    for (const l of lost) lines.push(`  ${l.controlPlaneId} at ${when(l.at)}: ${l.reason}`);
  }
  if (s.reconciledAt) lines.push(`reconciled:  ${when(s.reconciledAt)}`);
  for (const a of s.approvals) lines.push(`approved:    ${who(a)} (accepting ${a.failuresAccepted} failures)`);
  const beforeChange =
    budget.maxBeforeChange !== undefined ? ` or ${budget.maxBeforeChange} stopped before change` : '';
  lines.push(
    `rollout:     canary labels [${canary.labels.join(', ')}] tiers [${canary.tiers.join(', ')}] ids [${canary.controlPlaneIds.join(', ')}]; ` +
      `bake ${s.rollout.bakeMinutes} min; max ${s.rollout.maxConcurrent} at once; ` +
      `halt above ${budget.maxFailures} failures or ${Math.round(budget.maxRatio * 100)}% of ${budget.minSample}+${beforeChange}` +
      `${s.rollout.reconcileMinutes !== undefined ? `; reconcile every ${s.rollout.reconcileMinutes} min` : ''}`,
    `runs:        ${s.runs} (longest history ${s.maxHistoryLength} events)`,
  );
  return lines;
}

const everyText = (minutes: number) =>
  minutes % 1440 === 0 ? `${minutes / 1440}d` : minutes % 60 === 0 ? `${minutes / 60}h` : `${minutes}m`;

/** One line per thing done, naming the workflow (or schedule). */
export function formatAction(r: ActionResult): string[] {
  switch (r.action) {
    case 'freeze':
      return [`${r.workflowId}: sent freeze until ${when(r.request.until)} ${who(r.request)}`];
    case 'forget':
      return [`${r.workflowId}: sent forget ${r.request.controlPlaneId} ${who(r.request)}`];
    case 'defer':
      return [
        `${r.workflowId}: deferred by ${r.request.days} day(s); new window:`,
        `  ${r.window.localText}`,
        `  ${r.window.utcText}`,
        `  ${r.deferralsLeft} deferral(s) left`,
      ];
    case 'upgrade-now':
      return [`${r.workflowId}: upgrading now (was ${r.from}) ${who(r.request)}`];
    case 'schedule':
      return [
        `schedule ${r.scheduleId} ${r.result}: every ${everyText(r.everyMinutes)} it starts ${CATCH_UP_WORKFLOW_TYPE} ` +
          `(workflow id ${CATCH_UP_WORKFLOW_ID}) on task queue ${r.taskQueue}, skipped while one still runs`,
      ];
    case 'schedule-delete':
      return [
        r.result === 'deleted' ? `schedule ${r.scheduleId} deleted` : `no schedule ${r.scheduleId}: nothing to delete`,
      ];
    default:
      return [`${r.workflowId}: sent ${r.action} ${who(r.request)}`];
  }
}

/** Running fleets and control planes as a table with a header, then a count. */
export function formatList(rows: ListRow[]): string[] {
  const fleets = rows.filter((r) => r.kind === 'fleet').length;
  const count = `${fleets} fleet rollout(s), ${rows.length - fleets} control plane(s) with an upgrade`;
  if (rows.length === 0) return [`nothing running: ${count}`];
  const table = textTable(
    ['KIND', 'WORKFLOW ID', 'RELEASE', 'STAGE', 'ORG', 'WINDOW OPENS'],
    rows.map((r) => [r.kind, r.workflowId, r.releaseId, r.stage, r.orgId, r.windowOpensAt && when(r.windowOpensAt)]),
  );
  return [...table.split('\n'), count];
}

/** The text of any result. */
export function formatSreResult(r: SreResult): string[] {
  switch (r.command) {
    case 'status':
      return r.kind === 'fleet' ? formatFleetStatus(r.status) : formatControlPlaneStatus(r.status);
    case 'list':
      return formatList(r.rows);
    case 'action':
      return formatAction(r.done);
  }
}

/** What `-o json` prints: a status as the workflow answers it, the list's rows, or what was done. */
export function sreResultJson(r: SreResult): unknown {
  switch (r.command) {
    case 'status':
      return r.status;
    case 'list':
      return r.rows;
    case 'action':
      return r.done;
  }
}
