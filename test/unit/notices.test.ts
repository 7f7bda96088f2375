import { ControlPlaneSchema, OrgSchema, type ControlPlane, type Org } from '../../domain/inventory';
import {
  NOTICE_KINDS,
  type ComponentChange,
  type NoticeKind,
  type NoticeRequest,
  type WindowPlan,
} from '../../domain/model';
import { formatLocalStart, renderNotice } from '../../domain/notices';
import { parseWith } from '../../domain/validation';

const NOTES = 'https://tyk.io/docs/developer-support/release-notes/gateway/#582-release-notes';

const org: Org = parseWith(
  OrgSchema,
  { id: 'acme', name: 'Acme Corp', admin: { email: 'jane.doe@acme.example', name: 'Jane Doe' } },
  'test org',
);

function controlPlane(overrides: Record<string, unknown> = {}): ControlPlane {
  return parseWith(
    ControlPlaneSchema,
    {
      id: 'cp-acme-eu',
      orgId: 'acme',
      name: 'Acme EU',
      tier: 'production',
      autoUpgrade: true,
      dashboard: { version: '5.8.1' },
      gateway: { version: '5.8.1' },
      dataPlanes: [
        { id: 'dp-eu-west', region: 'eu-west-1', version: '5.8.1' },
        { id: 'dp-us-east', version: '5.3.4' },
      ],
      window: { timeZone: 'Europe/Berlin', start: '01:00', durationMinutes: 240, weekly: { days: ['sun'] } },
      ...overrides,
    },
    'test control plane',
  );
}

const ref = (kind: ComponentChange['component']['kind'], id: string = kind) => ({
  controlPlaneId: 'cp-acme-eu',
  kind,
  id,
});

const CHANGES: ComponentChange[] = [
  { component: ref('dashboard'), from: '5.8.1', to: '5.8.2' },
  { component: ref('gateway'), from: '5.8.1', to: '5.8.2' },
  { component: ref('data-plane', 'dp-eu-west'), from: '5.8.1', to: '5.8.2' },
  { component: ref('data-plane', 'dp-us-east'), from: '5.3.4', to: '5.8.2' },
];

const WINDOW: WindowPlan = {
  startAt: '2026-11-29T00:00:00.000Z',
  opensAt: '2026-11-29T00:00:00.000Z',
  closesAt: '2026-11-29T04:00:00.000Z',
  timeZone: 'Europe/Berlin',
  localText: 'Sun 29 Nov 2026 01:00–05:00 CET (Europe/Berlin)',
  utcText: 'Sun 29 Nov 2026 00:00–04:00 UTC',
  leadMinutes: 7 * 24 * 60,
  requiredMinutes: 60,
};

function request(kind: NoticeKind, overrides: Partial<NoticeRequest> = {}): NoticeRequest {
  return {
    key: `upgrade/cp-acme-eu/lts-5.8.2/${kind}`,
    kind,
    controlPlaneId: 'cp-acme-eu',
    releaseId: 'lts-5.8.2',
    notesUrl: NOTES,
    changes: CHANGES,
    window: WINDOW,
    requestedAt: '2026-11-20T09:00:00.000Z',
    ...overrides,
  };
}

const REASONS: Partial<Record<NoticeKind, string>> = {
  rescheduled: 'the window you had set falls inside your blackout period of 24–26 December.',
  'rolled-back': 'the Gateway did not answer its health check within 5 minutes after the upgrade.',
  cancelled: 'Auto Upgrade was turned off for this control plane.',
  'action-needed':
    'the Gateway of control plane cp-acme-eu cannot move from 5.8.1 to 5.8.2 (lts-5.8.2) until its configuration is ' +
    'changed: use_db_app_configs was removed in Gateway 5.8.0 (what to do: delete it)',
};

const PREFIXES: Record<NoticeKind, string> = {
  scheduled: '[Scheduled]',
  rescheduled: '[Rescheduled]',
  starting: '[Starting]',
  completed: '[Completed]',
  'rolled-back': '[Rolled back]',
  cancelled: '[Cancelled]',
  'action-needed': '[Action needed]',
};

describe('formatLocalStart', () => {
  it('formats in the customer zone with a readable zone name', () => {
    expect(formatLocalStart('2026-11-29T00:00:00Z', 'Europe/Berlin')).toBe('Sun 29 Nov 2026 01:00 CET');
    expect(formatLocalStart('2026-07-05T00:00:00Z', 'Europe/Berlin')).toBe('Sun 5 Jul 2026 02:00 CEST');
    expect(formatLocalStart('2026-11-29T00:00:00Z', 'America/New_York')).toBe('Sat 28 Nov 2026 19:00 EST');
    expect(formatLocalStart('2026-11-29T00:00:00Z', 'Asia/Kolkata')).toBe('Sun 29 Nov 2026 05:30 GMT+5:30');
    expect(formatLocalStart('2026-11-29T00:00:00Z', 'UTC')).toBe('Sun 29 Nov 2026 00:00 UTC');
  });
  it('uses the short month names customers expect (Sep, not Sept)', () => {
    expect(formatLocalStart('2026-09-06T00:00:00Z', 'Europe/London')).toBe('Sun 6 Sep 2026 01:00 BST');
  });
  it('names the bad value when the instant is not ISO-8601', () => {
    expect(() => formatLocalStart('next sunday', 'Europe/Berlin')).toThrow('window.startAt = "next sunday"');
  });
});

describe('renderNotice: scheduled', () => {
  const msg = renderNotice(request('scheduled'), org, controlPlane());

  it('addresses the org admin, keeps the idempotency key and kind', () => {
    expect(msg.key).toBe('upgrade/cp-acme-eu/lts-5.8.2/scheduled');
    expect(msg.to).toEqual({ email: 'jane.doe@acme.example', name: 'Jane Doe' });
    expect(msg.noticeKind).toBe('scheduled');
    expect(msg.text.startsWith('Hello Jane Doe,\n')).toBe(true);
  });

  it('has a subject with the control plane, targets and local start', () => {
    expect(msg.subject).toBe(
      '[Scheduled] Auto Upgrade of cp-acme-eu (Acme EU) to Gateway 5.8.2 / Dashboard 5.8.2 — Sun 29 Nov 2026 01:00 CET',
    );
  });

  it('puts every change in one message, in upgrade order', () => {
    const lines = [
      '  - Dashboard: 5.8.1 → 5.8.2',
      '  - Gateway: 5.8.1 → 5.8.2',
      '  - Data plane dp-eu-west (eu-west-1): 5.8.1 → 5.8.2',
      '  - Data plane dp-us-east: 5.3.4 → 5.8.2',
    ];
    expect(msg.text).toContain(`What changes:\n${lines.join('\n')}\n`);
  });

  it('shows the window in the customer zone and in UTC', () => {
    expect(msg.text).toContain(`  ${WINDOW.localText}\n  ${WINDOW.utcText}\n`);
    expect(msg.text).not.toContain('starts no earlier than');
  });

  it('says how to prepare and what to expect', () => {
    expect(msg.text).toContain(`Review the release notes: ${NOTES}`);
    expect(msg.text).toContain('Dashboard first, then the Gateway, then each data plane');
    expect(msg.text).toContain('Kubernetes keeps the previous version running');
    expect(msg.text).toContain('change the maintenance window in the Auto Upgrade settings of cp-acme-eu');
    expect(msg.text).toContain('We will email you again when the upgrade has finished.');
    expect(msg.text).not.toContain('when the upgrade starts');
  });

  it('is plain text', () => {
    expect(msg.text).not.toMatch(/<\/?[a-z][^>]*>/i);
    expect(msg.subject).not.toMatch(/[<>]/);
  });

  it('has complete template properties', () => {
    expect(msg.properties).toEqual({
      control_plane_id: 'cp-acme-eu',
      control_plane_name: 'Acme EU',
      org_name: 'Acme Corp',
      admin_name: 'Jane Doe',
      release_id: 'lts-5.8.2',
      notice_kind: 'scheduled',
      changes_text: [
        'Dashboard: 5.8.1 → 5.8.2',
        'Gateway: 5.8.1 → 5.8.2',
        'Data plane dp-eu-west (eu-west-1): 5.8.1 → 5.8.2',
        'Data plane dp-us-east: 5.3.4 → 5.8.2',
      ].join('\n'),
      dashboard_from: '5.8.1',
      dashboard_to: '5.8.2',
      gateway_from: '5.8.1',
      gateway_to: '5.8.2',
      data_planes_text: 'Data plane dp-eu-west (eu-west-1): 5.8.1 → 5.8.2\nData plane dp-us-east: 5.3.4 → 5.8.2',
      window_local: WINDOW.localText,
      window_utc: WINDOW.utcText,
      window_start_iso: '2026-11-29T00:00:00.000Z',
      release_notes_url: NOTES,
      reason: '',
    });
    for (const [k, value] of Object.entries(msg.properties)) {
      expect(k).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(typeof value).toBe('string');
    }
  });
});

describe('renderNotice: every kind', () => {
  it.each(NOTICE_KINDS.map((k) => [k]))('%s renders one greeting, subject, key and reason', (kind) => {
    const reason = REASONS[kind];
    const msg = renderNotice(request(kind, { reason }), org, controlPlane());
    expect(msg.subject).toBe(
      `${PREFIXES[kind]} Auto Upgrade of cp-acme-eu (Acme EU) to Gateway 5.8.2 / Dashboard 5.8.2 — Sun 29 Nov 2026 01:00 CET`,
    );
    expect(msg.key).toBe(`upgrade/cp-acme-eu/lts-5.8.2/${kind}`);
    expect(msg.noticeKind).toBe(kind);
    expect(msg.properties.notice_kind).toBe(kind);
    expect(msg.text.startsWith('Hello Jane Doe,\n\n')).toBe(true);
    expect(msg.text).toContain('The Tyk Cloud team');
    expect(msg.text).toContain('organisation admin of Acme Corp');
    expect(msg.text).not.toMatch(/undefined|null|\[object/);
    expect(msg.text).not.toMatch(/<\/?[a-z][^>]*>/i);
    if (reason) {
      expect(msg.text).toContain(reason);
      expect(msg.properties.reason).toBe(reason);
    }
  });

  it('rescheduled: new window in both zones, the reason and how to change it', () => {
    const window: WindowPlan = {
      ...WINDOW,
      startAt: '2026-12-06T00:00:00.000Z',
      opensAt: '2026-12-06T00:00:00.000Z',
      closesAt: '2026-12-06T04:00:00.000Z',
      localText: 'Sun 6 Dec 2026 01:00–05:00 CET (Europe/Berlin)',
      utcText: 'Sun 6 Dec 2026 00:00–04:00 UTC',
    };
    const msg = renderNotice(request('rescheduled', { window, reason: REASONS.rescheduled }), org, controlPlane());
    expect(msg.subject).toContain('— Sun 6 Dec 2026 01:00 CET');
    expect(msg.text).toContain('has moved to a new time');
    expect(msg.text).toContain(`Why: ${REASONS.rescheduled}`);
    expect(msg.text).toContain(`New window:\n  ${window.localText}\n  ${window.utcText}\n`);
    expect(msg.text).toContain('change the maintenance window');
    expect(msg.text).toContain(NOTES);
    expect(msg.properties.window_start_iso).toBe('2026-12-06T00:00:00.000Z');
  });

  it('starting: the order of work and that no action is needed', () => {
    const msg = renderNotice(request('starting'), org, controlPlane());
    expect(msg.text).toContain('is starting now, in your maintenance window:');
    expect(msg.text).toContain('  - Dashboard: 5.8.1 → 5.8.2\n  - Gateway: 5.8.1 → 5.8.2\n');
    expect(msg.text).toContain('No action is needed from you.');
  });

  it('completed: what runs now and what ran before', () => {
    const msg = renderNotice(request('completed'), org, controlPlane());
    expect(msg.text).toContain('has completed successfully');
    expect(msg.text).toContain('  - Dashboard: 5.8.2 (was 5.8.1)');
    expect(msg.text).toContain('  - Data plane dp-us-east: 5.8.2 (was 5.3.4)');
    expect(msg.text).toContain('contact Tyk Support');
  });

  it('rolled-back: what failed, the versions it returns to, and that support follows up', () => {
    const reason = `${REASONS['rolled-back']} The previous versions are running again.`;
    const msg = renderNotice(request('rolled-back', { reason }), org, controlPlane());
    expect(msg.text).toContain('did not complete, so we are rolling it back to the versions it ran before.');
    expect(msg.text).toContain(`What happened: ${reason}\n`);
    expect(msg.text).toContain(
      'Versions before the upgrade:\n' +
        '  - Dashboard: 5.8.1\n  - Gateway: 5.8.1\n' +
        '  - Data plane dp-eu-west (eu-west-1): 5.8.1\n  - Data plane dp-us-east: 5.3.4\n',
    );
    expect(msg.text).toContain('Our SRE team has been alerted, and Tyk Support will follow up with you');
  });

  it('rolled-back never claims the restore finished: the workflow may still be restoring', () => {
    const reason = 'The Gateway did not start. Our engineers are restoring the previous versions and will contact you.';
    const msg = renderNotice(request('rolled-back', { reason }), org, controlPlane());
    expect(msg.text).toContain(reason);
    expect(msg.text).not.toMatch(/running (its|the) previous versions again|we rolled it back/i);
  });

  it('rolled-back without a reason still reads as a sentence', () => {
    const msg = renderNotice(request('rolled-back', { reason: undefined }), org, controlPlane());
    expect(msg.text).toContain('What happened: our engineers are looking into the cause.');
    expect(msg.properties.reason).toBe('');
  });

  it('cancelled: the reason and the window that no longer applies', () => {
    const msg = renderNotice(request('cancelled', { reason: REASONS.cancelled }), org, controlPlane());
    expect(msg.text).toContain('has been cancelled');
    expect(msg.text).toContain(`Why: ${REASONS.cancelled}`);
    expect(msg.text).toContain(`It was planned for:\n  ${WINDOW.localText}\n  ${WINDOW.utcText}\n`);
    expect(msg.text).toContain('No further changes will be made to your control plane as part of this upgrade.');
  });

  it('action-needed: what stands in the way and what to do, that nothing changed, and that we will reschedule', () => {
    const reason = REASONS['action-needed']!;
    const msg = renderNotice(request('action-needed', { window: undefined, reason }), org, controlPlane());
    expect(msg.subject).toBe('[Action needed] Auto Upgrade of cp-acme-eu (Acme EU) to Gateway 5.8.2 / Dashboard 5.8.2');
    expect(msg.text).toContain(
      'We could not start the Auto Upgrade of your control plane cp-acme-eu (Acme EU) to release lts-5.8.2: ' +
        'something in your configuration needs to change first.\n',
    );
    expect(msg.text).toContain(`What needs your attention: ${reason}\n`);
    expect(msg.text).toContain(
      'What the upgrade will change:\n  - Dashboard: 5.8.1 → 5.8.2\n  - Gateway: 5.8.1 → 5.8.2\n',
    );
    expect(msg.text).toContain(
      'Please update the configuration of cp-acme-eu as described above; then we will schedule the upgrade again and ' +
        'email you the new time.',
    );
    expect(msg.text).toContain('your control plane keeps running the versions it runs now');
    expect(msg.text).toContain(NOTES);
    expect(msg.text).not.toContain('planned for');
    expect(msg.properties).toMatchObject({ notice_kind: 'action-needed', reason, window_local: '' });
  });

  it('action-needed after the upgrade was scheduled says which window no longer applies', () => {
    const msg = renderNotice(request('action-needed', { reason: 'x.' }), org, controlPlane());
    expect(msg.text).toContain(`It was planned for:\n  ${WINDOW.localText}\n  ${WINDOW.utcText}\n`);
  });

  it('action-needed without the changes leaves the list out rather than listing none', () => {
    const msg = renderNotice(request('action-needed', { changes: [], reason: 'x.' }), org, controlPlane());
    expect(msg.subject).toBe(
      '[Action needed] Auto Upgrade of cp-acme-eu (Acme EU) to lts-5.8.2 — Sun 29 Nov 2026 01:00 CET',
    );
    expect(msg.text).not.toContain('What the upgrade will change');
    expect(msg.text).not.toContain('no component changes');
    expect(msg.text).toContain('What needs your attention: x.\n\nPlease update the configuration of cp-acme-eu');
  });

  it('cancelled without a window leaves the time out of the subject and properties', () => {
    const msg = renderNotice(request('cancelled', { window: undefined, reason: 'x.' }), org, controlPlane());
    expect(msg.subject).toBe('[Cancelled] Auto Upgrade of cp-acme-eu (Acme EU) to Gateway 5.8.2 / Dashboard 5.8.2');
    expect(msg.properties).toMatchObject({ window_local: '', window_utc: '', window_start_iso: '' });
    expect(msg.text).not.toContain('planned for');
  });
});

describe('renderNotice: details', () => {
  it('sorts changes into upgrade order whatever order they arrive in', () => {
    const shuffled = [CHANGES[3]!, CHANGES[1]!, CHANGES[2]!, CHANGES[0]!];
    const msg = renderNotice(request('scheduled', { changes: shuffled }), org, controlPlane());
    const at = (s: string) => msg.text.indexOf(s);
    expect(at('Dashboard: 5.8.1')).toBeLessThan(at('Gateway: 5.8.1'));
    expect(at('Gateway: 5.8.1')).toBeLessThan(at('dp-us-east: 5.3.4'));
    // Data planes keep their relative order from the request.
    expect(at('dp-us-east: 5.3.4')).toBeLessThan(at('dp-eu-west (eu-west-1): 5.8.1'));
  });

  it('omits dashboard/gateway properties for components that do not change', () => {
    const changes = [CHANGES[2]!];
    const msg = renderNotice(request('scheduled', { changes }), org, controlPlane());
    expect(msg.subject).toBe(
      '[Scheduled] Auto Upgrade of cp-acme-eu (Acme EU) to Gateway 5.8.2 — Sun 29 Nov 2026 01:00 CET',
    );
    expect(msg.properties).not.toHaveProperty('dashboard_from');
    expect(msg.properties).not.toHaveProperty('gateway_to');
    expect(msg.properties.changes_text).toBe('Data plane dp-eu-west (eu-west-1): 5.8.1 → 5.8.2');
    expect(msg.properties.data_planes_text).toBe('Data plane dp-eu-west (eu-west-1): 5.8.1 → 5.8.2');
  });

  it('uses the control plane id when it has no name', () => {
    const msg = renderNotice(request('completed'), org, controlPlane({ name: undefined }));
    expect(msg.subject).toMatch(/^\[Completed\] Auto Upgrade of cp-acme-eu to Gateway/);
    expect(msg.properties.control_plane_name).toBe('cp-acme-eu');
  });

  it('says when the upgrade starts later than the window opens; the subject uses that start', () => {
    const window = { ...WINDOW, startAt: '2026-11-29T01:30:00.000Z' };
    const msg = renderNotice(request('scheduled', { window }), org, controlPlane());
    expect(msg.subject).toMatch(/— Sun 29 Nov 2026 02:30 CET$/);
    expect(msg.text).toContain(
      'The upgrade starts no earlier than Sun 29 Nov 2026 02:30 CET (Sun 29 Nov 2026 01:30 UTC).',
    );
  });

  it('formats the subject in the window zone (New York)', () => {
    const window: WindowPlan = {
      ...WINDOW,
      timeZone: 'America/New_York',
      localText: 'Sat 28 Nov 2026 19:00–23:00 EST (America/New_York)',
    };
    const msg = renderNotice(request('scheduled', { window }), org, controlPlane());
    expect(msg.subject).toMatch(/— Sat 28 Nov 2026 19:00 EST$/);
  });

  it('refuses a scheduled or rescheduled notice without a window', () => {
    expect(() => renderNotice(request('scheduled', { window: undefined }), org, controlPlane())).toThrow(
      'notice upgrade/cp-acme-eu/lts-5.8.2/scheduled (scheduled) has no window',
    );
    expect(() => renderNotice(request('rescheduled', { window: undefined }), org, controlPlane())).toThrow(
      'has no window',
    );
  });

  it('refuses to mail one customer about another customer’s control plane', () => {
    expect(() => renderNotice(request('scheduled', { controlPlaneId: 'cp-other' }), org, controlPlane())).toThrow(
      'notice upgrade/cp-acme-eu/lts-5.8.2/scheduled is for control plane cp-other, not cp-acme-eu',
    );
    const otherOrg = { ...org, id: 'globex' };
    expect(() => renderNotice(request('scheduled'), otherOrg, controlPlane())).toThrow(
      'control plane cp-acme-eu belongs to org acme, not globex',
    );
  });
});
