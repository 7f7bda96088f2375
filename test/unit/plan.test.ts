import path from 'node:path';
import { DEFAULT_POLICY } from '../../domain/policy';
import { loadInventoryFile } from '../../integrations/fileInventory';
import { planFleet } from '../../scripts/plan';

describe('npm run plan (planFleet) on the example fleet', () => {
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
});
