import { DateTime } from 'luxon';
import type { Blackout, WindowSpec } from '../../domain/inventory';
import {
  applyBlackouts,
  describeWindow,
  nextWindow,
  NoWindowError,
  occurrences,
  toWindowPlan,
  windowOpenAt,
  type WindowOccurrence,
} from '../../domain/window';

const d = (iso: string) => new Date(iso);
const iso = (occ: WindowOccurrence[]) => occ.map((o) => [o.opensAt.toISOString(), o.closesAt.toISOString()]);
const weekly = (timeZone: string, start: string, durationMinutes: number, ...days: string[]): WindowSpec =>
  ({ timeZone, start, durationMinutes, weekly: { days } }) as WindowSpec;
const monthly = (timeZone: string, start: string, durationMinutes: number, pattern: string): WindowSpec => ({
  timeZone,
  start,
  durationMinutes,
  monthly: pattern,
});
/** The one occurrence whose local date is `date` (the window is looked up from that day's UTC noon ± 1 day). */
const on = (spec: WindowSpec, date: string) => {
  const noon = Date.parse(`${date}T12:00:00Z`);
  const found = occurrences(spec, new Date(noon - 86_400_000), new Date(noon + 86_400_000)).filter(
    (o) => DateTime.fromJSDate(o.opensAt, { zone: spec.timeZone }).toISODate() === date,
  );
  expect(found).toHaveLength(1);
  return iso(found)[0];
};

const berlinSunday = weekly('Europe/Berlin', '01:00', 240, 'sun'); // Sun 01:00–05:00 local

describe('occurrences: wall-clock start and end', () => {
  it('opens at the local start and closes at local start + duration (Europe/Berlin, winter)', () => {
    expect(on(berlinSunday, '2026-11-29')).toEqual(['2026-11-29T00:00:00.000Z', '2026-11-29T04:00:00.000Z']);
  });

  it('is 3 real hours on the spring-forward night and 5 on the fall-back night', () => {
    expect(on(berlinSunday, '2026-03-29')).toEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T03:00:00.000Z']);
    expect(on(berlinSunday, '2026-10-25')).toEqual(['2026-10-24T23:00:00.000Z', '2026-10-25T04:00:00.000Z']);
  });

  it('moves a start or end inside the spring-forward gap forward by the gap (02:30 → 03:30 CEST)', () => {
    expect(on(weekly('Europe/Berlin', '02:30', 120, 'sun'), '2026-03-29')).toEqual([
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-29T02:30:00.000Z', // 04:30 CEST
    ]);
    expect(on(weekly('Europe/Berlin', '00:30', 120, 'sun'), '2026-03-29')).toEqual([
      '2026-03-28T23:30:00.000Z', // 00:30 CET
      '2026-03-29T01:30:00.000Z', // 02:30 does not exist → 03:30 CEST
    ]);
  });

  it('takes the first (summer-time) occurrence of a start or end in the repeated autumn hour', () => {
    expect(on(weekly('Europe/Berlin', '02:30', 60, 'sun'), '2026-10-25')).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST, not 02:30 CET
      '2026-10-25T02:30:00.000Z', // 03:30 CET
    ]);
    expect(on(weekly('Europe/Berlin', '01:30', 60, 'sun'), '2026-10-25')).toEqual([
      '2026-10-24T23:30:00.000Z', // 01:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('does not rely on luxon, which picks the later instant in Berlin but the earlier one in Adelaide', () => {
    const berlin = DateTime.fromObject(
      { year: 2026, month: 10, day: 25, hour: 2, minute: 30 },
      { zone: 'Europe/Berlin' },
    );
    expect(berlin.toUTC().toISO()).toBe('2026-10-25T01:30:00.000Z');
    const adelaide = DateTime.fromObject(
      { year: 2026, month: 4, day: 5, hour: 2, minute: 30 },
      { zone: 'Australia/Adelaide' },
    );
    expect(adelaide.toUTC().toISO()).toBe('2026-04-04T16:00:00.000Z');
  });

  it('America/New_York: spring forward 2026-03-08 and fall back 2026-11-01', () => {
    expect(on(weekly('America/New_York', '01:00', 240, 'sun'), '2026-03-08')).toEqual([
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T09:00:00.000Z', // 05:00 EDT
    ]);
    expect(on(weekly('America/New_York', '02:30', 120, 'sun'), '2026-03-08')).toEqual([
      '2026-03-08T07:30:00.000Z', // 03:30 EDT
      '2026-03-08T08:30:00.000Z', // 04:30 EDT
    ]);
    expect(on(weekly('America/New_York', '01:30', 60, 'sun'), '2026-11-01')).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT (first)
      '2026-11-01T07:30:00.000Z', // 02:30 EST
    ]);
    expect(on(weekly('America/New_York', '00:30', 60, 'sun'), '2026-11-01')).toEqual([
      '2026-11-01T04:30:00.000Z', // 00:30 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT (first)
    ]);
  });

  it('Asia/Kolkata (+05:30, no DST), including a window that crosses local midnight', () => {
    expect(on(weekly('Asia/Kolkata', '23:00', 120, 'wed'), '2026-01-07')).toEqual([
      '2026-01-07T17:30:00.000Z',
      '2026-01-07T19:30:00.000Z', // Thu 01:00 IST
    ]);
  });

  it('Australia/Adelaide (southern hemisphere): DST ends 2026-04-05, starts 2026-10-04', () => {
    expect(on(weekly('Australia/Adelaide', '02:30', 60, 'sun'), '2026-04-05')).toEqual([
      '2026-04-04T16:00:00.000Z', // 02:30 ACDT (+10:30), first
      '2026-04-04T18:00:00.000Z', // 03:30 ACST (+09:30)
    ]);
    expect(on(weekly('Australia/Adelaide', '02:30', 120, 'sun'), '2026-10-04')).toEqual([
      '2026-10-03T17:00:00.000Z', // 03:30 ACDT
      '2026-10-03T18:00:00.000Z', // 04:30 ACDT
    ]);
    expect(on(weekly('Australia/Adelaide', '01:00', 240, 'sun'), '2026-10-04')).toEqual([
      '2026-10-03T15:30:00.000Z', // 01:00 +09:30
      '2026-10-03T18:30:00.000Z', // 05:00 +10:30: 3 real hours
    ]);
  });

  it('Australia/Lord_Howe: 30-minute DST shift', () => {
    // 2026-04-05: 02:00 (+11) → 01:30 (+10:30); 01:30–02:00 happens twice.
    expect(on(weekly('Australia/Lord_Howe', '01:45', 60, 'sun'), '2026-04-05')).toEqual([
      '2026-04-04T14:45:00.000Z', // 01:45 +11, first
      '2026-04-04T16:15:00.000Z', // 02:45 +10:30: 90 real minutes
    ]);
    // 2026-10-04: 02:00 (+10:30) → 02:30 (+11); 02:15 does not exist.
    expect(on(weekly('Australia/Lord_Howe', '02:15', 60, 'sun'), '2026-10-04')).toEqual([
      '2026-10-03T15:45:00.000Z', // 02:45 +11
      '2026-10-03T16:15:00.000Z', // 03:15 +11
    ]);
  });

  it('Pacific/Auckland: last Sunday of September is the spring-forward night', () => {
    expect(on(monthly('Pacific/Auckland', '02:30', 120, 'last sunday'), '2026-09-27')).toEqual([
      '2026-09-26T14:30:00.000Z', // 03:30 NZDT (+13)
      '2026-09-26T15:30:00.000Z', // 04:30 NZDT
    ]);
  });

  it('includes an occurrence that opened before `from` and is still open, and treats [from, to) as half-open', () => {
    expect(iso(occurrences(berlinSunday, d('2026-11-29T02:00:00Z'), d('2026-12-06T00:00:01Z')))).toEqual([
      ['2026-11-29T00:00:00.000Z', '2026-11-29T04:00:00.000Z'],
      ['2026-12-06T00:00:00.000Z', '2026-12-06T04:00:00.000Z'],
    ]);
    expect(iso(occurrences(berlinSunday, d('2026-11-29T04:00:00Z'), d('2026-12-06T00:00:00Z')))).toEqual([]);
    // Opened the previous local day (Wed 23:00 IST), still open at Thu 00:30 IST.
    expect(
      iso(
        occurrences(weekly('Asia/Kolkata', '23:00', 120, 'wed'), d('2026-01-07T19:00:00Z'), d('2026-01-08T00:00:00Z')),
      ),
    ).toEqual([['2026-01-07T17:30:00.000Z', '2026-01-07T19:30:00.000Z']]);
  });
});

describe('occurrences: patterns', () => {
  const year = (spec: WindowSpec) =>
    occurrences(spec, d('2026-01-01T00:00:00Z'), d('2027-01-01T00:00:00Z')).map((o) =>
      o.opensAt.toISOString().slice(0, 10),
    );

  it('weekly: the listed local weekdays (local date, not UTC date)', () => {
    // Mon/Thu 23:00 NZST (+12) is 11:00Z the same day.
    expect(
      iso(
        occurrences(
          weekly('Pacific/Auckland', '23:00', 60, 'mon', 'thu'),
          d('2026-06-01T00:00:00Z'),
          d('2026-06-08T00:00:00Z'),
        ),
      ),
    ).toEqual([
      ['2026-06-01T11:00:00.000Z', '2026-06-01T12:00:00.000Z'],
      ['2026-06-04T11:00:00.000Z', '2026-06-04T12:00:00.000Z'],
    ]);
    // Wed 01:00 IST opens on Tuesday in UTC.
    expect(
      iso(
        occurrences(weekly('Asia/Kolkata', '01:00', 60, 'wed'), d('2026-01-05T00:00:00Z'), d('2026-01-12T00:00:00Z')),
      ),
    ).toEqual([['2026-01-06T19:30:00.000Z', '2026-01-06T20:30:00.000Z']]);
  });

  it.each([
    [
      'first sunday',
      ['01-04', '02-01', '03-01', '04-05', '05-03', '06-07', '07-05', '08-02', '09-06', '10-04', '11-01', '12-06'],
    ],
    [
      'second tuesday',
      ['01-13', '02-10', '03-10', '04-14', '05-12', '06-09', '07-14', '08-11', '09-08', '10-13', '11-10', '12-08'],
    ],
    [
      'third wednesday',
      ['01-21', '02-18', '03-18', '04-15', '05-20', '06-17', '07-15', '08-19', '09-16', '10-21', '11-18', '12-16'],
    ],
    [
      'fourth friday',
      ['01-23', '02-27', '03-27', '04-24', '05-22', '06-26', '07-24', '08-28', '09-25', '10-23', '11-27', '12-25'],
    ],
    [
      'last saturday',
      ['01-31', '02-28', '03-28', '04-25', '05-30', '06-27', '07-25', '08-29', '09-26', '10-31', '11-28', '12-26'],
    ],
    [
      'day 15',
      ['01-15', '02-15', '03-15', '04-15', '05-15', '06-15', '07-15', '08-15', '09-15', '10-15', '11-15', '12-15'],
    ],
    ['day 31', ['01-31', '03-31', '05-31', '07-31', '08-31', '10-31', '12-31']], // no window in 30-day months or February
    ['day 30', ['01-30', '03-30', '04-30', '05-30', '06-30', '07-30', '08-30', '09-30', '10-30', '11-30', '12-30']],
  ])('monthly %s', (pattern, dates) => {
    expect(year(monthly('UTC', '00:00', 60, pattern))).toEqual(dates.map((md) => `2026-${md}`));
  });

  it('monthly in a DST zone uses local dates and local start', () => {
    const spec = monthly('Europe/Berlin', '03:00', 60, 'last saturday');
    expect(iso(occurrences(spec, d('2026-03-01T00:00:00Z'), d('2026-05-01T00:00:00Z')))).toEqual([
      ['2026-03-28T02:00:00.000Z', '2026-03-28T03:00:00.000Z'], // CET
      ['2026-04-25T01:00:00.000Z', '2026-04-25T02:00:00.000Z'], // CEST
    ]);
  });
});

describe('applyBlackouts', () => {
  const wedKolkata = weekly('Asia/Kolkata', '01:00', 60, 'wed'); // Wed 01:00 IST = Tue 19:30Z
  const occ = { opensAt: d('2026-01-06T19:30:00Z'), closesAt: d('2026-01-06T20:30:00Z') };

  it('drops an occurrence that opens on a blacked-out local date (inclusive, in spec.timeZone)', () => {
    expect(applyBlackouts(occ, wedKolkata.timeZone, [{ from: '2026-01-07', to: '2026-01-07' }])).toBeUndefined();
    expect(applyBlackouts(occ, wedKolkata.timeZone, [{ from: '2026-01-01', to: '2026-01-07' }])).toBeUndefined();
    expect(applyBlackouts(occ, wedKolkata.timeZone, [{ from: '2026-01-07', to: '2026-01-31' }])).toBeUndefined();
    // The UTC date (Tuesday) is not what counts.
    expect(applyBlackouts(occ, wedKolkata.timeZone, [{ from: '2026-01-06', to: '2026-01-06' }])).toEqual(occ);
    expect(applyBlackouts(occ, wedKolkata.timeZone, [])).toEqual(occ);
  });

  it('cuts a window that runs past midnight into a blacked-out date at local 00:00', () => {
    const satNight = { opensAt: d('2026-11-28T22:00:00Z'), closesAt: d('2026-11-29T01:00:00Z') }; // Sat 23:00–Sun 02:00 CET
    expect(
      applyBlackouts(satNight, 'Europe/Berlin', [{ from: '2026-11-29', to: '2026-11-30', reason: 'freeze' }]),
    ).toEqual({
      opensAt: d('2026-11-28T22:00:00Z'),
      closesAt: d('2026-11-28T23:00:00Z'), // Sun 00:00 CET
    });
  });
});

describe('nextWindow', () => {
  const q = (now: string, leadMinutes: number, requiredMinutes: number) => ({
    now: d(now),
    leadMinutes,
    requiredMinutes,
  });
  const choice = (startAt: string, opensAt: string, closesAt: string) => ({
    startAt: d(startAt),
    opensAt: d(opensAt),
    closesAt: d(closesAt),
  });

  it('chooses the next occurrence after the lead time', () => {
    expect(nextWindow(berlinSunday, [], q('2026-11-24T12:00:00Z', 2880, 95))).toEqual(
      choice('2026-11-29T00:00:00Z', '2026-11-29T00:00:00Z', '2026-11-29T04:00:00Z'),
    );
  });

  it('lets the lead time push the window to the next week', () => {
    expect(nextWindow(berlinSunday, [], q('2026-11-27T12:00:00Z', 2880, 95))).toEqual(
      choice('2026-12-06T00:00:00Z', '2026-12-06T00:00:00Z', '2026-12-06T04:00:00Z'),
    );
  });

  it('chooses an already-open window with startAt = now + lead when enough of it is left', () => {
    expect(nextWindow(berlinSunday, [], q('2026-11-29T00:30:00Z', 60, 95))).toEqual(
      choice('2026-11-29T01:30:00Z', '2026-11-29T00:00:00Z', '2026-11-29T04:00:00Z'),
    );
    // 03:00Z + 95 minutes is past 04:00Z: next week.
    expect(nextWindow(berlinSunday, [], q('2026-11-29T02:00:00Z', 60, 95))).toEqual(
      choice('2026-12-06T00:00:00Z', '2026-12-06T00:00:00Z', '2026-12-06T04:00:00Z'),
    );
  });

  it('skips the spring-forward night when its 3 real hours are too short, uses the 5 of the fall-back night', () => {
    expect(nextWindow(berlinSunday, [], q('2026-03-24T00:00:00Z', 0, 200))).toEqual(
      choice('2026-04-04T23:00:00Z', '2026-04-04T23:00:00Z', '2026-04-05T03:00:00Z'),
    );
    expect(nextWindow(berlinSunday, [], q('2026-10-25T00:00:00Z', 0, 240))).toEqual(
      choice('2026-10-25T00:00:00Z', '2026-10-24T23:00:00Z', '2026-10-25T04:00:00Z'),
    );
  });

  it('works in the local calendar of a zone far from UTC (Pacific/Auckland)', () => {
    // Now is Mon 1 Jun 22:00 NZST; Monday 23:00 NZST is 11:00Z the same UTC day.
    expect(nextWindow(weekly('Pacific/Auckland', '23:00', 60, 'mon'), [], q('2026-06-01T10:00:00Z', 0, 30))).toEqual(
      choice('2026-06-01T11:00:00Z', '2026-06-01T11:00:00Z', '2026-06-01T12:00:00Z'),
    );
  });

  it('throws NoWindowError naming durationMinutes when the window can never fit the upgrade', () => {
    const short = weekly('Europe/Berlin', '01:00', 60, 'sun');
    expect(() => nextWindow(short, [], q('2026-11-24T12:00:00Z', 0, 95))).toThrow(NoWindowError);
    expect(() => nextWindow(short, [], q('2026-11-24T12:00:00Z', 0, 95))).toThrow(
      'window.durationMinutes = 60 is shorter than the 95 minutes the upgrade needs',
    );
  });

  it('skips blacked-out occurrences; blackout dates are inclusive', () => {
    expect(
      nextWindow(berlinSunday, [{ from: '2026-11-29', to: '2026-11-29' }], q('2026-11-24T12:00:00Z', 0, 95)),
    ).toEqual(choice('2026-12-06T00:00:00Z', '2026-12-06T00:00:00Z', '2026-12-06T04:00:00Z'));
    expect(
      nextWindow(berlinSunday, [{ from: '2026-11-20', to: '2026-12-06' }], q('2026-11-16T00:00:00Z', 0, 95)),
    ).toEqual(choice('2026-12-13T00:00:00Z', '2026-12-13T00:00:00Z', '2026-12-13T04:00:00Z'));
  });

  it('uses a window cut short by a blackout only if what is left is long enough', () => {
    const satNight = weekly('Europe/Berlin', '23:00', 180, 'sat'); // Sat 23:00–Sun 02:00
    const sundayFreeze: Blackout[] = [{ from: '2026-11-29', to: '2026-11-29' }];
    expect(nextWindow(satNight, sundayFreeze, q('2026-11-24T00:00:00Z', 0, 60))).toEqual(
      choice('2026-11-28T22:00:00Z', '2026-11-28T22:00:00Z', '2026-11-28T23:00:00Z'),
    );
    expect(nextWindow(satNight, sundayFreeze, q('2026-11-24T00:00:00Z', 0, 90))).toEqual(
      choice('2026-12-05T22:00:00Z', '2026-12-05T22:00:00Z', '2026-12-06T01:00:00Z'),
    );
  });

  it('throws NoWindowError saying why when every occurrence in the horizon is blacked out', () => {
    const november: Blackout[] = [{ from: '2026-11-01', to: '2026-11-30' }];
    expect(() => nextWindow(berlinSunday, november, { ...q('2026-11-01T00:00:00Z', 0, 95), horizonDays: 30 })).toThrow(
      'no window between 2026-11-01T00:00:00.000Z (now + 0 minutes lead) and 2026-12-01T00:00:00.000Z (30-day horizon) ' +
        'leaves the 95 minutes the upgrade needs: of 5 occurrences of window.weekly = sun, 5 open on blackout dates ' +
        '(blackouts) and 0 are too short after blackouts, DST and the lead time',
    );
  });

  it('throws NoWindowError when the pattern has no occurrence in the horizon', () => {
    expect(() =>
      nextWindow(monthly('UTC', '01:00', 60, 'day 31'), [], { ...q('2026-04-01T00:00:00Z', 0, 30), horizonDays: 29 }),
    ).toThrow(
      'window.monthly = "day 31" has no occurrence between 2026-04-01T00:00:00.000Z (now + 0 minutes lead) and ' +
        '2026-04-30T00:00:00.000Z (29-day horizon)',
    );
  });

  it('looks 400 days ahead by default', () => {
    const allYear: Blackout[] = [{ from: '2026-01-01', to: '2027-12-31' }];
    expect(() => nextWindow(berlinSunday, allYear, q('2026-01-01T00:00:00Z', 0, 95))).toThrow(
      /of 57 occurrences of window.weekly = sun, 57 open on blackout dates/,
    );
    // The horizon ends 2027-02-05T00:00Z: Sunday 31 Jan 2027 is the last occurrence inside it.
    expect(
      nextWindow(berlinSunday, [{ from: '2026-01-01', to: '2027-01-24' }], q('2026-01-01T00:00:00Z', 0, 95)),
    ).toEqual(choice('2027-01-31T00:00:00Z', '2027-01-31T00:00:00Z', '2027-01-31T04:00:00Z'));
    expect(() =>
      nextWindow(berlinSunday, [{ from: '2026-01-01', to: '2027-01-31' }], q('2026-01-01T00:00:00Z', 0, 95)),
    ).toThrow(NoWindowError);
  });
});

describe('windowOpenAt', () => {
  const at = (iso: string, required: number, blackouts: Blackout[] = []) =>
    windowOpenAt(berlinSunday, blackouts, d(iso), required);

  it('returns the window containing `at` when enough of it is left, with startAt = at', () => {
    expect(at('2026-11-29T01:00:00Z', 95)).toEqual({
      startAt: d('2026-11-29T01:00:00Z'),
      opensAt: d('2026-11-29T00:00:00Z'),
      closesAt: d('2026-11-29T04:00:00Z'),
    });
    expect(at('2026-11-29T03:00:00Z', 60)?.closesAt).toEqual(d('2026-11-29T04:00:00Z')); // exactly enough
  });

  it('is undefined outside the window, too late in it, or on a blacked-out date', () => {
    expect(at('2026-11-28T23:59:00Z', 30)).toBeUndefined();
    expect(at('2026-11-29T04:00:00Z', 30)).toBeUndefined(); // closesAt is exclusive
    expect(at('2026-11-29T05:00:00Z', 30)).toBeUndefined();
    expect(at('2026-11-29T03:00:00Z', 95)).toBeUndefined();
    expect(at('2026-11-29T01:00:00Z', 95, [{ from: '2026-11-29', to: '2026-11-29' }])).toBeUndefined();
  });

  it('sees a window that opened the previous local day, and a blackout cut', () => {
    expect(windowOpenAt(weekly('Asia/Kolkata', '23:00', 120, 'wed'), [], d('2026-01-07T19:00:00Z'), 30)).toEqual({
      startAt: d('2026-01-07T19:00:00Z'),
      opensAt: d('2026-01-07T17:30:00Z'),
      closesAt: d('2026-01-07T19:30:00Z'),
    });
    const satNight = weekly('Europe/Berlin', '23:00', 180, 'sat');
    const freeze: Blackout[] = [{ from: '2026-11-29', to: '2026-11-29' }];
    expect(windowOpenAt(satNight, freeze, d('2026-11-28T22:30:00Z'), 30)?.closesAt).toEqual(d('2026-11-28T23:00:00Z'));
    expect(windowOpenAt(satNight, freeze, d('2026-11-28T22:30:00Z'), 60)).toBeUndefined();
  });
});

describe('describeWindow', () => {
  const text = (opensAt: string, closesAt: string, zone: string) => describeWindow(d(opensAt), d(closesAt), zone);

  it('shows local and UTC times, en-GB, 24h', () => {
    expect(text('2026-11-29T00:00:00Z', '2026-11-29T04:00:00Z', 'Europe/Berlin')).toEqual({
      localText: 'Sun 29 Nov 2026 01:00–05:00 CET (Europe/Berlin)',
      utcText: 'Sun 29 Nov 2026 00:00–04:00 UTC',
    });
    expect(text('2026-07-12T05:00:00Z', '2026-07-12T09:00:00Z', 'America/New_York').localText).toBe(
      'Sun 12 Jul 2026 01:00–05:00 EDT (America/New_York)',
    );
  });

  it('includes the end date when the window crosses midnight', () => {
    expect(text('2026-11-28T22:00:00Z', '2026-11-29T01:00:00Z', 'Europe/Berlin')).toEqual({
      localText: 'Sat 28 Nov 2026 23:00 – Sun 29 Nov 2026 02:00 CET (Europe/Berlin)',
      utcText: 'Sat 28 Nov 2026 22:00 – Sun 29 Nov 2026 01:00 UTC',
    });
    expect(text('2026-01-07T17:30:00Z', '2026-01-07T19:30:00Z', 'Asia/Kolkata')).toEqual({
      localText: 'Wed 7 Jan 2026 23:00 – Thu 8 Jan 2026 01:00 GMT+5:30 (Asia/Kolkata)',
      utcText: 'Wed 7 Jan 2026 17:30–19:30 UTC',
    });
  });

  it('names both abbreviations when the window spans a DST change', () => {
    expect(text('2026-03-29T00:00:00Z', '2026-03-29T03:00:00Z', 'Europe/Berlin')).toEqual({
      localText: 'Sun 29 Mar 2026 01:00 CET – 05:00 CEST (Europe/Berlin)',
      utcText: 'Sun 29 Mar 2026 00:00–03:00 UTC',
    });
    expect(text('2026-10-25T00:30:00Z', '2026-10-25T02:30:00Z', 'Europe/Berlin').localText).toBe(
      'Sun 25 Oct 2026 02:30 CEST – 03:30 CET (Europe/Berlin)',
    );
    expect(text('2026-03-08T06:00:00Z', '2026-03-08T09:00:00Z', 'America/New_York').localText).toBe(
      'Sun 8 Mar 2026 01:00 EST – 05:00 EDT (America/New_York)',
    );
  });
});

describe('toWindowPlan', () => {
  it('serializes the choice; the texts show the part of the window the upgrade may use', () => {
    const choice = nextWindow(berlinSunday, [], {
      now: d('2026-11-29T00:30:00Z'),
      leadMinutes: 60,
      requiredMinutes: 95,
    });
    expect(toWindowPlan(choice, berlinSunday, 60, 95)).toEqual({
      startAt: '2026-11-29T01:30:00.000Z',
      opensAt: '2026-11-29T00:00:00.000Z',
      closesAt: '2026-11-29T04:00:00.000Z',
      timeZone: 'Europe/Berlin',
      localText: 'Sun 29 Nov 2026 02:30–05:00 CET (Europe/Berlin)',
      utcText: 'Sun 29 Nov 2026 01:30–04:00 UTC',
      leadMinutes: 60,
      requiredMinutes: 95,
    });
  });
});
