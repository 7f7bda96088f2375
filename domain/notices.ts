// Renders the customer email for an Auto Upgrade notice. One email per control plane: every component change goes
// into the same message. Plain text, one paragraph or bullet per line (mail clients wrap).
// Activity-side only (uses luxon's time-zone database): workflows must not import it.
import { DateTime } from 'luxon';
import type { ControlPlane, Org } from './inventory';
import type { ComponentChange, EmailMessage, NoticeKind, NoticeRequest, WindowPlan } from './model';

const SUBJECT_PREFIX: Record<NoticeKind, string> = {
  scheduled: '[Scheduled]',
  rescheduled: '[Rescheduled]',
  starting: '[Starting]',
  completed: '[Completed]',
  'rolled-back': '[Rolled back]',
  cancelled: '[Cancelled]',
  'action-needed': '[Action needed]',
};

const KIND_ORDER = { dashboard: 0, gateway: 1, 'data-plane': 2 } as const;

/** Changes in upgrade order (Dashboard, Gateway, then data planes as given); the sort is stable. */
function inUpgradeOrder(changes: ComponentChange[]): ComponentChange[] {
  return [...changes].sort((a, b) => KIND_ORDER[a.component.kind] - KIND_ORDER[b.component.kind]);
}

/**
 * The start of a window in the customer's zone, e.g. `Sun 29 Nov 2026 01:00 CET`. The zone abbreviation comes from
 * whichever English locale has a name for it (en-GB knows CET/CEST/BST, en-US knows EST/PDT), else `GMT+5:30`.
 */
export function formatLocalStart(startAt: string, timeZone: string): string {
  const at = DateTime.fromISO(startAt, { zone: timeZone });
  if (!at.isValid)
    throw new Error(`window.startAt = ${JSON.stringify(startAt)} in ${timeZone}: ${at.invalidExplanation}`);
  const names = ['en-GB', 'en-US'].map((locale) => at.setLocale(locale).toFormat('ZZZZ'));
  const zone = names.find((n) => !/^GMT[+-]/.test(n)) ?? names[0];
  return `${at.setLocale('en-US').toFormat('EEE d MMM yyyy HH:mm')} ${zone}`;
}

export function renderNotice(req: NoticeRequest, org: Org, cp: ControlPlane): EmailMessage {
  // Wrong pairings would mail one customer's details to another: refuse them.
  if (req.controlPlaneId !== cp.id)
    throw new Error(`notice ${req.key} is for control plane ${req.controlPlaneId}, not ${cp.id}`);
  if (cp.orgId !== org.id) throw new Error(`control plane ${cp.id} belongs to org ${cp.orgId}, not ${org.id}`);
  const window = req.window;
  if (!window && (req.kind === 'scheduled' || req.kind === 'rescheduled'))
    throw new Error(`notice ${req.key} (${req.kind}) has no window: a ${req.kind} notice must say when`);

  const changes = inUpgradeOrder(req.changes);
  const title = cp.name ? `${cp.id} (${cp.name})` : cp.id;
  const regionOf = new Map(cp.dataPlanes.map((dp) => [dp.id, dp.region]));
  const label = (c: ComponentChange): string => {
    if (c.component.kind === 'dashboard') return 'Dashboard';
    if (c.component.kind === 'gateway') return 'Gateway';
    const region = regionOf.get(c.component.id);
    return `Data plane ${c.component.id}${region ? ` (${region})` : ''}`;
  };
  const changeLine = (c: ComponentChange) => `${label(c)}: ${c.from} → ${c.to}`;
  const list = (lines: string[]) => (lines.length > 0 ? lines.map((l) => `  - ${l}`) : ['  - (no component changes)']);
  const windowLines = (w: WindowPlan) => [`  ${w.localText}`, `  ${w.utcText}`];
  const startLine = (w: WindowPlan): string[] =>
    w.startAt !== w.opensAt
      ? [
          `  The upgrade starts no earlier than ${formatLocalStart(w.startAt, w.timeZone)}` +
            ` (${formatLocalStart(w.startAt, 'UTC')}).`,
        ]
      : [];

  // Subject: `[Scheduled] Auto Upgrade of cp-acme-eu (Acme EU) to Gateway 5.8.2 / Dashboard 5.8.2 — Sun 29 Nov ...`
  const gatewayTargets = [...new Set(changes.filter((c) => c.component.kind !== 'dashboard').map((c) => c.to))];
  const dashboardTargets = [...new Set(changes.filter((c) => c.component.kind === 'dashboard').map((c) => c.to))];
  const targets = [...gatewayTargets.map((v) => `Gateway ${v}`), ...dashboardTargets.map((v) => `Dashboard ${v}`)];
  const subject =
    `${SUBJECT_PREFIX[req.kind]} Auto Upgrade of ${title} to ${targets.length > 0 ? targets.join(' / ') : req.releaseId}` +
    (window ? ` — ${formatLocalStart(window.startAt, window.timeZone)}` : '');

  const notes = `Release notes: ${req.notesUrl}`;
  const changeWindowHint =
    `If this time does not suit you, change the maintenance window in the Auto Upgrade settings of ${cp.id} in ` +
    'Tyk Cloud before the window opens. We will email you to confirm the new time.';
  const upgrade = `the Auto Upgrade of your control plane ${title} to release ${req.releaseId}`;
  const Upgrade = upgrade.charAt(0).toUpperCase() + upgrade.slice(1);

  let body: string[];
  switch (req.kind) {
    case 'scheduled':
      body = [
        `Your Tyk Cloud control plane ${title} is scheduled for an Auto Upgrade to release ${req.releaseId}.`,
        '',
        'When (your maintenance window):',
        ...windowLines(window!),
        ...startLine(window!),
        '',
        'What changes:',
        ...list(changes.map(changeLine)),
        '',
        'What to expect:',
        '  - We upgrade the Dashboard first, then the Gateway, then each data plane, and check that each one is healthy before moving on.',
        '  - If a new version fails to start, Kubernetes keeps the previous version running, so your API traffic is unlikely to be affected. If the upgrade fails our health checks, we restore the previous versions and email you.',
        '  - You can follow the deployment status in Tyk Cloud, as with a manual upgrade.',
        '',
        'How to prepare:',
        `  - Review the release notes: ${req.notesUrl}`,
        `  - ${changeWindowHint}`,
        '',
        'We will email you again when the upgrade has finished.',
      ];
      break;
    case 'rescheduled':
      body = [
        `${Upgrade} has moved to a new time.`,
        '',
        `Why: ${req.reason ?? 'the previous window could no longer be used.'}`,
        '',
        'New window:',
        ...windowLines(window!),
        ...startLine(window!),
        '',
        'What changes:',
        ...list(changes.map(changeLine)),
        '',
        changeWindowHint,
        '',
        notes,
      ];
      break;
    case 'starting':
      body = [
        `${Upgrade} is starting now${window ? ', in your maintenance window:' : '.'}`,
        ...(window ? windowLines(window) : []),
        ...(req.reason ? ['', req.reason] : []),
        '',
        'We upgrade in this order, checking health after each step:',
        ...list(changes.map(changeLine)),
        '',
        'No action is needed from you. If the upgrade fails our health checks, we restore the previous versions. We will email you when the upgrade has finished.',
        '',
        notes,
      ];
      break;
    case 'completed':
      body = [
        `${Upgrade} has completed successfully.`,
        '',
        'Now running:',
        ...list(changes.map((c) => `${label(c)}: ${c.to} (was ${c.from})`)),
        '',
        `You can check the deployment status in Tyk Cloud. If you notice anything unexpected, contact Tyk Support and mention control plane ${cp.id} and release ${req.releaseId}.`,
        '',
        notes,
      ];
      break;
    case 'rolled-back':
      // The request does not say whether the restore has finished (the workflow also sends this when it has not),
      // so the body never claims it; the workflow's reason says which ("The previous versions are running again."
      // or "Our engineers are restoring the previous versions...").
      body = [
        `${Upgrade} did not complete, so we are rolling it back to the versions it ran before.`,
        '',
        `What happened: ${req.reason ?? 'our engineers are looking into the cause.'}`,
        '',
        'Versions before the upgrade:',
        ...list(changes.map((c) => `${label(c)}: ${c.from}`)),
        '',
        'Our SRE team has been alerted, and Tyk Support will follow up with you about the cause and the next steps. You do not need to do anything now.',
        '',
        notes,
      ];
      break;
    case 'cancelled':
      // Also sent after changes were rolled back: the reason says so; the body promises only what holds either way.
      body = [
        `${Upgrade} has been cancelled.`,
        ...(window ? ['', 'It was planned for:', ...windowLines(window)] : []),
        '',
        `Why: ${req.reason ?? 'the upgrade is no longer needed.'}`,
        '',
        'No further changes will be made to your control plane as part of this upgrade.',
      ];
      break;
    case 'action-needed':
      // Sent instead of an upgrade when something only the customer can change stands in the way (e.g. a Gateway
      // setting the new version removed); the reason names it and what to do.
      body = [
        `We could not start ${upgrade}: something in your configuration needs to change first.`,
        ...(window ? ['', 'It was planned for:', ...windowLines(window)] : []),
        '',
        `What needs your attention: ${req.reason ?? 'a setting of your control plane is not supported by the new version.'}`,
        '',
        ...(changes.length > 0 ? ['What the upgrade will change:', ...list(changes.map(changeLine)), ''] : []),
        `Please update the configuration of ${cp.id} as described above; then we will schedule the upgrade again and ` +
          'email you the new time. Until then nothing changes: your control plane keeps running the versions it runs now.',
        '',
        `If you need help, contact Tyk Support and mention control plane ${cp.id} and release ${req.releaseId}.`,
        '',
        notes,
      ];
      break;
  }

  const text = [
    `Hello ${org.admin.name},`,
    '',
    ...body,
    '',
    'Kind regards,',
    'The Tyk Cloud team',
    '',
    `You receive this email as the organisation admin of ${org.name} in Tyk Cloud, where Auto Upgrade is enabled for control plane ${cp.id}.`,
    '',
  ].join('\n');

  const dashboard = changes.find((c) => c.component.kind === 'dashboard');
  const gateway = changes.find((c) => c.component.kind === 'gateway');
  const dataPlanes = changes.filter((c) => c.component.kind === 'data-plane');
  const properties: Record<string, string> = {
    control_plane_id: cp.id,
    control_plane_name: cp.name ?? cp.id,
    org_name: org.name,
    admin_name: org.admin.name,
    release_id: req.releaseId,
    notice_kind: req.kind,
    changes_text: changes.map(changeLine).join('\n'),
    ...(dashboard ? { dashboard_from: dashboard.from, dashboard_to: dashboard.to } : {}),
    ...(gateway ? { gateway_from: gateway.from, gateway_to: gateway.to } : {}),
    data_planes_text: dataPlanes.map(changeLine).join('\n'),
    window_local: window?.localText ?? '',
    window_utc: window?.utcText ?? '',
    window_start_iso: window?.startAt ?? '',
    release_notes_url: req.notesUrl,
    reason: req.reason ?? '',
  };

  return {
    key: req.key,
    to: { email: org.admin.email, name: org.admin.name },
    subject,
    text,
    properties,
    noticeKind: req.kind,
  };
}
