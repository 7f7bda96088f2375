// Maintenance-window arithmetic. Uses the time-zone database (luxon), so it runs in activities, never in workflows.
// Rules and their reasons: docs/decisions/0002-maintenance-windows-and-dst.md.
import { DateTime, IANAZone } from 'luxon';
import { type Blackout, MONTHLY_PATTERN, type WindowSpec, WEEKDAYS } from './inventory';
import type { WindowPlan } from './model';

export interface WindowOccurrence {
  opensAt: Date;
  closesAt: Date;
}
export interface WindowChoice {
  startAt: Date;
  opensAt: Date;
  closesAt: Date;
}
export interface WindowQuery {
  now: Date;
  leadMinutes: number;
  requiredMinutes: number;
  /** How far ahead to look for a window that opens; default 400 days. */
  horizonDays?: number;
}

export class NoWindowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoWindowError';
  }
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const ORDINALS = ['first', 'second', 'third', 'fourth'];
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']; // Date#getUTCDay order

// Local dates are handled as day numbers (days since 1970-01-01) and local date-times as "wall" milliseconds:
// the local wall-clock reading written as if it were UTC. Calendar arithmetic on them needs no time-zone data.

/** Raw occurrences of the pattern (blackouts ignored) whose [opensAt, closesAt) intersects [from, to), sorted. */
export function occurrences(spec: WindowSpec, from: Date, to: Date): WindowOccurrence[] {
  const zone = zoneOf(spec);
  const found: WindowOccurrence[] = [];
  for (const occ of scan(spec, zone, from.getTime(), localDay(zone, to.getTime()))) {
    if (occ.opensAt >= to) break;
    if (occ.closesAt > from) found.push(occ);
  }
  return found;
}

/**
 * Applies blackouts: undefined when the occurrence opens on a blacked-out local date; when it runs past midnight
 * into a blacked-out date, closesAt is cut to the start (local 00:00) of that date.
 */
export function applyBlackouts(
  occ: WindowOccurrence,
  timeZone: string,
  blackouts: Blackout[],
): WindowOccurrence | undefined {
  if (blackouts.length === 0) return occ;
  const zone = zoneOf({ timeZone });
  const blackedOut = (day: number) => {
    const date = isoDate(day);
    return blackouts.some((b) => b.from <= date && date <= b.to);
  };
  const openDay = localDay(zone, occ.opensAt.getTime());
  if (blackedOut(openDay)) return undefined;
  for (let day = openDay + 1; ; day++) {
    const midnight = toInstant(zone, day * DAY);
    if (midnight >= occ.closesAt.getTime()) return occ;
    if (blackedOut(day)) return { opensAt: occ.opensAt, closesAt: new Date(midnight) };
  }
}

/**
 * The next window such that startAt = max(opensAt, now + lead) and startAt + required <= closesAt (after
 * blackouts). An already-open window qualifies if enough of it is left. Throws NoWindowError if none opens
 * within the horizon.
 */
export function nextWindow(spec: WindowSpec, blackouts: Blackout[], q: WindowQuery): WindowChoice {
  if (spec.durationMinutes < q.requiredMinutes) {
    throw new NoWindowError(
      `window.durationMinutes = ${spec.durationMinutes} is shorter than the ${q.requiredMinutes} minutes the upgrade needs`,
    );
  }
  const zone = zoneOf(spec);
  const horizonDays = q.horizonDays ?? 400;
  const earliest = q.now.getTime() + q.leadMinutes * MINUTE;
  const horizonEnd = q.now.getTime() + horizonDays * DAY;
  let seen = 0;
  let blackedOut = 0;
  for (const raw of scan(spec, zone, earliest, localDay(zone, horizonEnd))) {
    if (raw.opensAt.getTime() >= horizonEnd) break;
    if (raw.closesAt.getTime() <= earliest) continue;
    seen++;
    const occ = applyBlackouts(raw, spec.timeZone, blackouts);
    if (!occ) {
      blackedOut++;
      continue;
    }
    const startAt = Math.max(occ.opensAt.getTime(), earliest);
    if (startAt + q.requiredMinutes * MINUTE <= occ.closesAt.getTime()) {
      return { startAt: new Date(startAt), opensAt: occ.opensAt, closesAt: occ.closesAt };
    }
  }
  const span = `between ${new Date(earliest).toISOString()} (now + ${q.leadMinutes} minutes lead) and ${new Date(horizonEnd).toISOString()} (${horizonDays}-day horizon)`;
  if (seen === 0) throw new NoWindowError(`${patternText(spec)} has no occurrence ${span}`);
  throw new NoWindowError(
    `no window ${span} leaves the ${q.requiredMinutes} minutes the upgrade needs: of ${seen} occurrences of ${patternText(spec)}, ` +
      `${blackedOut} open on blackout dates (blackouts) and ${seen - blackedOut} are too short after blackouts, DST and the lead time`,
  );
}

/**
 * The (blackout-adjusted) occurrence that contains `at` and leaves at least requiredMinutes before it closes;
 * undefined otherwise. startAt = at.
 */
export function windowOpenAt(
  spec: WindowSpec,
  blackouts: Blackout[],
  at: Date,
  requiredMinutes: number,
): WindowChoice | undefined {
  for (const raw of occurrences(spec, at, new Date(at.getTime() + 1))) {
    const occ = applyBlackouts(raw, spec.timeZone, blackouts);
    if (occ && at.getTime() + requiredMinutes * MINUTE <= occ.closesAt.getTime()) {
      return { startAt: at, opensAt: occ.opensAt, closesAt: occ.closesAt };
    }
  }
  return undefined;
}

/** e.g. `Sun 29 Nov 2026 01:00–05:00 CET (Europe/Berlin)` and `Sun 29 Nov 2026 00:00–04:00 UTC`. */
export function describeWindow(
  opensAt: Date,
  closesAt: Date,
  timeZone: string,
): { localText: string; utcText: string } {
  const key = `${opensAt.getTime()} ${closesAt.getTime()} ${timeZone}`;
  let texts = descriptions.get(key);
  if (!texts) {
    texts = {
      localText: `${describeIn(opensAt, closesAt, timeZone)} (${timeZone})`,
      utcText: describeIn(opensAt, closesAt, 'UTC'),
    };
    if (descriptions.size >= 50_000) descriptions.clear();
    descriptions.set(key, texts);
  }
  return { ...texts };
}

/** Control planes that share a zone and a window share its texts: formatting them is the dearest part of planning. */
const descriptions = new Map<string, { localText: string; utcText: string }>();

/** The serializable plan; its texts show the part of the window the upgrade may use (startAt to closesAt). */
export function toWindowPlan(
  choice: WindowChoice,
  spec: WindowSpec,
  leadMinutes: number,
  requiredMinutes: number,
): WindowPlan {
  return {
    startAt: choice.startAt.toISOString(),
    opensAt: choice.opensAt.toISOString(),
    closesAt: choice.closesAt.toISOString(),
    timeZone: spec.timeZone,
    ...describeWindow(choice.startAt, choice.closesAt, spec.timeZone),
    leadMinutes,
    requiredMinutes,
  };
}

/**
 * Occurrences of the pattern in order, starting with the one on the local day before `fromMs` (a window lasts at
 * most 24 wall-clock hours, so no earlier one can still be open) and ending on local day `lastDay`.
 */
function* scan(spec: WindowSpec, zone: IANAZone, fromMs: number, lastDay: number): Generator<WindowOccurrence> {
  const matches = dayMatcher(spec);
  const [hours, minutes] = spec.start.split(':').map(Number) as [number, number];
  const startOffset = (hours * 60 + minutes) * MINUTE;
  for (let day = localDay(zone, fromMs) - 1; day <= lastDay; day++) {
    if (!matches(new Date(day * DAY))) continue;
    const wallOpen = day * DAY + startOffset;
    yield {
      opensAt: new Date(toInstant(zone, wallOpen)),
      // Wall-clock duration: the window ends at local start + duration, whatever DST does in between.
      closesAt: new Date(toInstant(zone, wallOpen + spec.durationMinutes * MINUTE)),
    };
  }
}

/**
 * The instant a local wall-clock time denotes. Written out rather than left to luxon, whose choice in the repeated
 * hour differs by zone (later instant for Europe/Berlin, earlier for Australia/Adelaide in luxon 3.7).
 */
function toInstant(zone: IANAZone, wall: number): number {
  // Offsets a day either side: the ones in force before and after any transition near this time (zones do not
  // change offset twice within two days).
  const before = offsetAt(zone, wall - DAY);
  const after = offsetAt(zone, wall + DAY);
  if (before === after) return wall - before * MINUTE;
  const valid = [before, after].filter((offset) => offsetAt(zone, wall - offset * MINUTE) === offset);
  // Repeated hour (both valid): the first occurrence, i.e. the earlier instant, i.e. the larger offset.
  if (valid.length > 0) return wall - Math.max(...valid) * MINUTE;
  // Gap (none valid): read the time with the offset from before the jump, which moves it forward by the size of
  // the gap: 02:30 on a Europe/Berlin spring-forward night becomes 03:30 CEST.
  return wall - before * MINUTE;
}

/**
 * The zone's UTC offset (minutes) at an instant. luxon's answer costs a formatToParts call, and planning a fleet asks
 * the same zones about nearby instants over and over, so answers are remembered per zone and UTC hour: when the
 * offset at the hour's first and last millisecond agree, no transition falls inside it (zones never change offset
 * twice within an hour) and the offset holds for the whole hour; an hour with a transition in it is asked per instant.
 * Bounded: a full table is dropped and refilled.
 */
const OFFSET_CACHE_LIMIT = 200_000;
const HOUR = 3_600_000;
const TRANSITION = Number.NaN; // marks an hour with a transition inside it
const offsets = new Map<string, Map<number, number>>();
let cachedOffsets = 0;

function offsetAt(zone: IANAZone, instant: number): number {
  let table = offsets.get(zone.name);
  if (!table) offsets.set(zone.name, (table = new Map()));
  const hour = Math.floor(instant / HOUR);
  let offset = table.get(hour);
  if (offset === undefined) {
    if (cachedOffsets >= OFFSET_CACHE_LIMIT) {
      offsets.clear();
      cachedOffsets = 0;
      offsets.set(zone.name, (table = new Map()));
    }
    const first = zone.offset(hour * HOUR);
    offset = first === zone.offset(hour * HOUR + HOUR - 1) ? first : TRANSITION;
    table.set(hour, offset);
    cachedOffsets++;
  }
  return Number.isNaN(offset) ? zone.offset(instant) : offset;
}

function localDay(zone: IANAZone, instant: number): number {
  return Math.floor((instant + offsetAt(zone, instant) * MINUTE) / DAY);
}

function isoDate(day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10);
}

function zoneOf(spec: { timeZone: string }): IANAZone {
  const zone = IANAZone.create(spec.timeZone);
  if (!zone.isValid) throw new NoWindowError(`window.timeZone = "${spec.timeZone}" is not a known IANA time zone`);
  return zone;
}

/** Whether a local date (a Date whose UTC fields are the local calendar date) has an occurrence. */
function dayMatcher(spec: WindowSpec): (date: Date) => boolean {
  if (spec.weekly) {
    const days = new Set(spec.weekly.days.map((d) => (WEEKDAYS.indexOf(d) + 1) % 7)); // mon..sun → getUTCDay
    return (date) => days.has(date.getUTCDay());
  }
  const match = MONTHLY_PATTERN.exec(spec.monthly ?? '');
  if (!match)
    throw new NoWindowError(`window.monthly = "${spec.monthly ?? ''}" is not like "first sunday" or "day 15"`);
  const [, ordinal, dayName, dayOfMonth] = match;
  // `day 31` never matches a 30-day month: such months have no window (rather than moving it to the 30th).
  if (dayOfMonth) return (date) => date.getUTCDate() === Number(dayOfMonth);
  const weekday = DAY_NAMES.indexOf(dayName!);
  const week = ORDINALS.indexOf(ordinal!); // -1 for `last`
  return (date) => {
    if (date.getUTCDay() !== weekday) return false;
    const dom = date.getUTCDate();
    if (week >= 0) return Math.ceil(dom / 7) === week + 1;
    const daysInMonth = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    return dom + 7 > daysInMonth;
  };
}

function patternText(spec: WindowSpec): string {
  return spec.weekly ? `window.weekly = ${spec.weekly.days.join(', ')}` : `window.monthly = "${spec.monthly ?? ''}"`;
}

/**
 * `Sun 29 Nov 2026 01:00–05:00 CET`: the wall-clock reading comes from the zone's offset (remembered per instant)
 * and name tables built from Intl once, the zone's name from a table per zone and offset; luxon's formatter cost
 * over 300 µs per window when planning a fleet. test/unit/windowTexts.test.ts checks it against luxon's output.
 */
function describeIn(opensAt: Date, closesAt: Date, zoneName: string): string {
  const zone = zoneOf({ timeZone: zoneName });
  const [openOffset, closeOffset] = [offsetAt(zone, opensAt.getTime()), offsetAt(zone, closesAt.getTime())];
  const open = new Date(opensAt.getTime() + openOffset * MINUTE);
  const close = new Date(closesAt.getTime() + closeOffset * MINUTE);
  const sameDay = Math.floor(open.getTime() / DAY) === Math.floor(close.getTime() / DAY);
  const openZone = abbreviationFor(zone, openOffset, opensAt);
  const closeZone = abbreviationFor(zone, closeOffset, closesAt);
  const from = `${dateText(open)} ${timeText(open)}`;
  const to = sameDay ? timeText(close) : `${dateText(close)} ${timeText(close)}`;
  if (openZone !== closeZone) return `${from} ${openZone} – ${to} ${closeZone}`; // across a DST change
  return sameDay ? `${from}–${to} ${closeZone}` : `${from} – ${to} ${closeZone}`;
}

/** en-GB short names, as luxon's `ccc` and `LLL` print them with this runtime's Intl data (e.g. `Sept` or `Sep`). */
const WEEKDAY_NAMES = Array.from({ length: 7 }, (_, d) =>
  new Intl.DateTimeFormat('en-GB', { weekday: 'short', timeZone: 'UTC' }).format(Date.UTC(2026, 10, 1 + d)),
); // 1 Nov 2026 is a Sunday: index = getUTCDay()
const MONTH_NAMES = Array.from({ length: 12 }, (_, m) =>
  new Intl.DateTimeFormat('en-GB', { month: 'short', timeZone: 'UTC' }).format(Date.UTC(2026, m, 1)),
);
const two = (n: number) => String(n).padStart(2, '0');
/** A wall reading (UTC fields = local fields) as `Sun 29 Nov 2026`. */
const dateText = (wall: Date) =>
  `${WEEKDAY_NAMES[wall.getUTCDay()]} ${wall.getUTCDate()} ${MONTH_NAMES[wall.getUTCMonth()]} ${wall.getUTCFullYear()}`;
const timeText = (wall: Date) => `${two(wall.getUTCHours())}:${two(wall.getUTCMinutes())}`;

/** A zone's name for an offset it uses (CET for +60 in Europe/Berlin), found once per zone and offset. */
const abbreviations = new Map<string, string>();

function abbreviationFor(zone: IANAZone, offset: number, at: Date): string {
  const key = `${zone.name} ${offset}`;
  let name = abbreviations.get(key);
  if (name === undefined) {
    name = abbreviation(DateTime.fromJSDate(at, { zone: zone.name }));
    if (abbreviations.size < 10_000) abbreviations.set(key, name);
  }
  return name;
}

/** en-GB knows CET/CEST/BST but not EST/EDT, en-US the reverse; fall back to the offset (GMT+5:30). */
function abbreviation(dt: DateTime): string {
  const gb = zoneName('en-GB', dt);
  if (!/^GMT[+-]/.test(gb)) return gb;
  const us = zoneName('en-US', dt);
  return /^GMT[+-]/.test(us) ? gb : us;
}

/**
 * The short zone name (what luxon's `ZZZZ` prints) from one Intl formatter per locale and zone: luxon builds a new
 * formatter on every call, which made it most of the cost of planning a fleet.
 */
const nameFormats = new Map<string, Intl.DateTimeFormat>();

function zoneName(locale: string, dt: DateTime): string {
  const zone = dt.zoneName ?? 'UTC';
  const key = `${locale} ${zone}`;
  let format = nameFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' });
    if (nameFormats.size < 1_000) nameFormats.set(key, format);
  }
  return format.formatToParts(dt.toJSDate()).find((part) => part.type === 'timeZoneName')?.value ?? dt.toFormat('ZZZZ');
}
