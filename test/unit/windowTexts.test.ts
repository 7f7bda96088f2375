// The window texts customers read in their emails. describeWindow keeps its own Intl formatters and remembers texts
// (planning a fleet formats the same windows many times); these pin what it prints, and check it against luxon's
// own `ZZZZ` zone names, which it replaced for speed.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describeWindow } from '../../domain/window';

const at = (iso: string) => new Date(iso);

describe('describeWindow', () => {
  it.each([
    [
      'Europe/Berlin',
      '2026-11-29T00:00:00Z',
      '2026-11-29T04:00:00Z',
      'Sun 29 Nov 2026 01:00–05:00 CET (Europe/Berlin)',
    ],
    [
      'America/New_York',
      '2026-11-29T00:00:00Z',
      '2026-11-29T04:00:00Z',
      'Sat 28 Nov 2026 19:00–23:00 EST (America/New_York)',
    ],
    [
      'Asia/Kolkata',
      '2026-11-29T00:00:00Z',
      '2026-11-29T04:00:00Z',
      'Sun 29 Nov 2026 05:30–09:30 GMT+5:30 (Asia/Kolkata)',
    ],
    ['Europe/London', '2026-07-04T00:00:00Z', '2026-07-04T02:00:00Z', 'Sat 4 Jul 2026 01:00–03:00 BST (Europe/London)'],
    // Across the autumn change: each end keeps its own zone name.
    [
      'Europe/Berlin',
      '2026-10-24T23:00:00Z',
      '2026-10-25T03:00:00Z',
      'Sun 25 Oct 2026 01:00 CEST – 04:00 CET (Europe/Berlin)',
    ],
    // Past midnight: both dates are written out.
    ['UTC', '2026-11-28T22:00:00Z', '2026-11-29T02:00:00Z', 'Sat 28 Nov 2026 22:00 – Sun 29 Nov 2026 02:00 UTC (UTC)'],
  ])('%s %s → %s', (zone, opens, closes, local) => {
    expect(describeWindow(at(opens), at(closes), zone).localText).toBe(local);
  });

  it('gives the same texts when asked again (remembered texts are copies, not shared objects)', () => {
    const first = describeWindow(at('2026-11-29T00:00:00Z'), at('2026-11-29T04:00:00Z'), 'Europe/Berlin');
    first.localText = 'changed by a caller';
    const second = describeWindow(at('2026-11-29T00:00:00Z'), at('2026-11-29T04:00:00Z'), 'Europe/Berlin');
    expect(second.localText).toBe('Sun 29 Nov 2026 01:00–05:00 CET (Europe/Berlin)');
  });

  it("names the zone as luxon's ZZZZ does (en-GB, else en-US, else the offset), for any instant and zone", () => {
    const zones = [
      'Europe/Berlin',
      'Europe/London',
      'America/New_York',
      'America/Los_Angeles',
      'Asia/Kolkata',
      'Australia/Adelaide',
      'Pacific/Auckland',
      'Asia/Kathmandu',
      'America/St_Johns',
      'UTC',
    ];
    const luxonName = (ms: number, zone: string) => {
      const dt = DateTime.fromMillis(ms, { zone });
      const gb = dt.setLocale('en-GB').toFormat('ZZZZ');
      if (!/^GMT[+-]/.test(gb)) return gb;
      const us = dt.setLocale('en-US').toFormat('ZZZZ');
      return /^GMT[+-]/.test(us) ? gb : us;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2025-01-01'), max: Date.parse('2030-12-31') }),
        fc.constantFrom(...zones),
        (ms, zone) => {
          const opens = Math.floor(ms / 60_000) * 60_000;
          const text = describeWindow(new Date(opens), new Date(opens + 3_600_000), zone).localText;
          // The last zone name in the text is the closing one; the window is one hour, so compare the opening one
          // where the text has two.
          const name = luxonName(opens + 3_600_000, zone);
          expect(text.endsWith(`${name} (${zone})`)).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('prints exactly what the luxon formatter it replaced printed, for any zone, instant and length', () => {
    const zones = [
      'Europe/Berlin',
      'Europe/London',
      'America/New_York',
      'America/St_Johns',
      'Asia/Kolkata',
      'Asia/Kathmandu',
      'Australia/Adelaide',
      'Australia/Lord_Howe',
      'Pacific/Auckland',
      'Pacific/Chatham',
      'America/Sao_Paulo',
      'Africa/Casablanca',
      'UTC',
    ];
    const zoneName = (dt: DateTime) => {
      const gb = dt.setLocale('en-GB').toFormat('ZZZZ');
      if (!/^GMT[+-]/.test(gb)) return gb;
      const us = dt.setLocale('en-US').toFormat('ZZZZ');
      return /^GMT[+-]/.test(us) ? gb : us;
    };
    const luxonText = (opensAt: number, closesAt: number, zone: string) => {
      const open = DateTime.fromMillis(opensAt, { zone }).setLocale('en-GB');
      const close = DateTime.fromMillis(closesAt, { zone }).setLocale('en-GB');
      const sameDay = open.hasSame(close, 'day');
      const [openZone, closeZone] = [zoneName(open), zoneName(close)];
      const from = open.toFormat('ccc d LLL yyyy HH:mm');
      const to = close.toFormat(sameDay ? 'HH:mm' : 'ccc d LLL yyyy HH:mm');
      if (openZone !== closeZone) return `${from} ${openZone} – ${to} ${closeZone}`;
      return sameDay ? `${from}–${to} ${closeZone}` : `${from} – ${to} ${closeZone}`;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2025-01-01') / 60_000, max: Date.parse('2031-12-31') / 60_000 }),
        fc.integer({ min: 30, max: 1440 }),
        fc.constantFrom(...zones),
        (minute, length, zone) => {
          const opens = minute * 60_000;
          const closes = opens + length * 60_000;
          const { localText, utcText } = describeWindow(new Date(opens), new Date(closes), zone);
          expect(localText).toBe(`${luxonText(opens, closes, zone)} (${zone})`);
          expect(utcText).toBe(luxonText(opens, closes, 'UTC'));
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
