// The markdown the Temporal Web UI shows as a workflow's current details. Pure functions of the status (unit-tested
// in test/unit/markdown.test.ts), so what an SRE reads is exactly what the status query answers.
import type { ControlPlaneStatus, FleetStatus, UpgradeStatus, WhyNotReason } from './messages';

function whyNotLines(reasons: WhyNotReason[]): string[] {
  return reasons.map((r) => `- **${r.code}**: ${r.detail}${r.until ? ` (until ${r.until})` : ''}`);
}

function upgradeLines(u: UpgradeStatus): string[] {
  const t = u.targets;
  const paused = u.paused ? ` — PAUSED${u.pause?.reason ? `: ${u.pause.reason}` : ''}` : '';
  const lines = [
    `Upgrade to **${u.releaseId}** (${u.releaseKind}): dashboard ${t.dashboard}, gateway ${t.gateway}`,
    `Stage: **${u.stage}**${paused}`,
  ];
  if (u.fleet) lines.push(`Fleet rollout: \`${u.fleet.workflowId}\` (${u.fleet.wave} wave)`);
  if (u.window) lines.push(`Window: ${u.window.localText} / ${u.window.utcText}`);
  if (u.changes.length)
    lines.push(`Changes: ${u.changes.map((c) => `${c.component.id} ${c.from} → ${c.to}`).join(', ')}`);
  if (u.reason) lines.push(`Reason: ${u.reason}`);
  if (u.lastError) lines.push(`Last error: ${u.lastError}`);
  if (u.deliveryFailures?.length) lines.push(`Not delivered: ${u.deliveryFailures.join('; ')}`);
  return lines;
}

export function controlPlaneMarkdown(s: ControlPlaneStatus): string {
  const installed = Object.entries(s.installed)
    .map(([id, v]) => `${id} ${v}`)
    .join(', ');
  const lines = [`**${s.controlPlaneId}** — ${s.state}${installed ? `; installed: ${installed}` : ''}`];
  if (s.upgrade) lines.push(...upgradeLines(s.upgrade));
  if (s.pending)
    lines.push(
      `Next: **${s.pending.releaseId}** (gateway ${s.pending.targets.gateway}, offered by ${s.pending.source})`,
    );
  if (s.whyNot.length) lines.push(['Not upgrading now, because:', ...whyNotLines(s.whyNot)].join('\n'));
  const last = s.recent.at(-1);
  if (last && !s.upgrade) lines.push(`Last: ${last.releaseId} ${last.outcome} at ${last.endedAt}`);
  return lines.join('\n\n');
}

export function fleetMarkdown(s: FleetStatus): string {
  const f = s.inFlight;
  const flags =
    (s.halted ? ` — **HALTED**: ${s.halted.reason}` : '') +
    (s.paused ? ` — PAUSED${s.pause?.reason ? `: ${s.pause.reason}` : ''}` : '') +
    (s.freeze ? ` — FROZEN until ${s.freeze.until}${s.freeze.reason ? `: ${s.freeze.reason}` : ''}` : '');
  const outcomes = Object.entries(s.outcomes)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const lines = [
    `**${s.releaseId}** (${s.releaseKind}) → dashboard ${s.targets.dashboard}, gateway ${s.targets.gateway}`,
    `Stage: **${s.stage}**${flags}`,
    `Listed ${s.eligibility.listed}, eligible ${s.eligibility.eligible}; canary ${s.waves.canary.finished}/${s.waves.canary.started}, main ${s.waves.main.finished}/${s.waves.main.started}`,
    `In flight: ${f.starting ? `${f.starting} starting, ` : ''}${f.waitingForWindow} waiting for window, ${f.waitingForSlot} for a slot, ${f.changing} changing (max ${s.rollout.maxConcurrent})`,
    `Outcomes: ${outcomes || 'none yet'}`,
  ];
  if (s.failureCount) lines.push(`Failures (spend the budget): ${s.failureCount}`);
  if (s.beforeChangeCount) lines.push(`Stopped before any change (no harm): ${s.beforeChangeCount}`);
  if (s.lostCount)
    lines.push(
      `Lost: ${s.lostCount} — ${(s.lost ?? [])
        .slice(-3)
        .map((l) => `${l.controlPlaneId} (${l.reason})`)
        .join('; ')}`,
    );
  if (s.reconciledAt) lines.push(`Last reconciled: ${s.reconciledAt}`);
  return lines.join('\n\n');
}
