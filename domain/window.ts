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
  const closesAt = closeAfterBlackouts(zoneOf({ timeZone }), occ.opensAt.getTime(), occ.closesAt.getTime(), blackouts);
  if (Number.isNaN(closesAt)) return undefined;
  return closesAt === occ.closesAt.getTime() ? occ : { opensAt: occ.opensAt, closesAt: new Date(closesAt) };
}

/** applyBlackouts on instants: the (possibly cut) closing instant, or NaN when the occurrence opens blacked out. */
function closeAfterBlackouts(zone: IANAZone, opensAt: number, closesAt: number, blackouts: Blackout[]): number {
  if (blackouts.length === 0) return closesAt;
  const openDay = localDay(zone, opensAt);
  if (isBlackedOut(openDay, blackouts)) return Number.NaN;
  for (let day = openDay + 1; ; day++) {
    const midnight = toInstant(zone, day * DAY);
    if (midnight >= closesAt) return closesAt;
    if (isBlackedOut(day, blackouts)) return midnight;
  }
}

function isBlackedOut(day: number, blackouts: Blackout[]): boolean {
  const date = isoDate(day);
  return blackouts.some((b) => b.from <= date && date <= b.to);
}

/**
 * The next window such that startAt = max(opensAt, now + lead) and startAt + required <= closesAt (after
 * blackouts). An already-open window qualifies if enough of it is left. Throws NoWindowError if none opens
 * within the horizon. Works on instants (numbers) and makes Dates only for its answer: planning a fleet calls it for
 * every control plane.
 */
export function nextWindow(spec: WindowSpec, blackouts: Blackout[], q: WindowQuery): WindowChoice {
  if (spec.durationMinutes < q.requiredMinutes) {
    throw new NoWindowError(
      `window.durationMinutes = ${spec.durationMinutes} is shorter than the ${q.requiredMinutes} minutes the upgrade needs`,
    );
  }
  const zone = zoneOf(spec);
  const matches = dayMatcher(spec);
  const [startOffset, length] = [startOffsetOf(spec), spec.durationMinutes * MINUTE];
  const horizonDays = q.horizonDays ?? 400;
  const earliest = q.now.getTime() + q.leadMinutes * MINUTE;
  const horizonEnd = q.now.getTime() + horizonDays * DAY;
  const required = q.requiredMinutes * MINUTE;
  let seen = 0;
  let blackedOut = 0;
  for (let day = localDay(zone, earliest) - 1, lastDay = localDay(zone, horizonEnd); day <= lastDay; day++) {
    if (!matches(day)) continue;
    const wallOpen = day * DAY + startOffset;
    const opensAt = toInstant(zone, wallOpen);
    if (opensAt >= horizonEnd) break;
    const rawClose = toInstant(zone, wallOpen + length);
    if (rawClose <= earliest) continue;
    seen++;
    const closesAt = closeAfterBlackouts(zone, opensAt, rawClose, blackouts);
    if (Number.isNaN(closesAt)) {
      blackedOut++;
      continue;
    }
    const startAt = Math.max(opensAt, earliest);
    if (startAt + required <= closesAt) {
      return { startAt: new Date(startAt), opensAt: new Date(opensAt), closesAt: new Date(closesAt) };
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
  return windowTexts(opensAt, closesAt, timeZone);
}

/**
 * Window texts, remembered: the UTC text per window (a fleet's windows fall on a few thousand distinct instants), the
 * local one per zone and window. Keyed by a number (the opening minute and the length in minutes), as building a
 * string key cost as much as a cache hit saved. Bounded.
 */
const utcTexts = new Map<number, string>();
const localTexts = new Map<string, Map<number, string>>();
let localCount = 0;

function windowTexts(opensAt: Date, closesAt: Date, timeZone: string): { localText: string; utcText: string } {
  const [open, close] = [opensAt.getTime(), closesAt.getTime()];
  // Whole minutes (window starts are `HH:MM`) and lengths under 2^12 minutes fit a safe integer; others are not kept.
  const key =
    open % MINUTE === 0 && close % MINUTE === 0 && close >= open && close - open < 4096 * MINUTE
      ? (open / MINUTE) * 4096 + (close - open) / MINUTE
      : undefined;
  if (key === undefined) {
    return {
      localText: `${describeIn(opensAt, closesAt, timeZone)} (${timeZone})`,
      utcText: describeIn(opensAt, closesAt, 'UTC'),
    };
  }
  let utcText = utcTexts.get(key);
  if (utcText === undefined) {
    utcText = describeIn(opensAt, closesAt, 'UTC');
    if (utcTexts.size >= 50_000) utcTexts.clear();
    utcTexts.set(key, utcText);
  }
  let table = localTexts.get(timeZone);
  let localText = table?.get(key);
  if (localText === undefined) {
    localText = `${describeIn(opensAt, closesAt, timeZone)} (${timeZone})`;
    if (localCount >= 50_000) {
      localTexts.clear();
      localCount = 0;
      table = undefined;
    }
    if (!table) localTexts.set(timeZone, (table = new Map()));
    table.set(key, localText);
    localCount++;
  }
  return { localText, utcText };
}

/**
 * `toISOString`, remembered per instant: a fleet's windows open and close on a few thousand distinct minutes, and the
 * native call (about 0.5 µs) was a tenth of planning 100,000 control planes. Bounded.
 */
const isoTexts = new Map<number, string>();

function isoText(at: Date): string {
  const ms = at.getTime();
  let text = isoTexts.get(ms);
  if (text === undefined) {
    text = at.toISOString();
    if (isoTexts.size >= 100_000) isoTexts.clear();
    isoTexts.set(ms, text);
  }
  return text;
}

/** The serializable plan; its texts show the part of the window the upgrade may use (startAt to closesAt). */
export function toWindowPlan(
  choice: WindowChoice,
  spec: WindowSpec,
  leadMinutes: number,
  requiredMinutes: number,
): WindowPlan {
  const texts = windowTexts(choice.startAt, choice.closesAt, spec.timeZone);
  return {
    startAt: isoText(choice.startAt),
    opensAt: isoText(choice.opensAt),
    closesAt: isoText(choice.closesAt),
    timeZone: spec.timeZone,
    localText: texts.localText,
    utcText: texts.utcText,
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
  const startOffset = startOffsetOf(spec);
  for (let day = localDay(zone, fromMs) - 1; day <= lastDay; day++) {
    if (!matches(day)) continue;
    const wallOpen = day * DAY + startOffset;
    yield {
      opensAt: new Date(toInstant(zone, wallOpen)),
      // Wall-clock duration: the window ends at local start + duration, whatever DST does in between.
      closesAt: new Date(toInstant(zone, wallOpen + spec.durationMinutes * MINUTE)),
    };
  }
}

/** `HH:MM` as milliseconds after local midnight, remembered (a day has 1,440 of them). */
const startOffsets = new Map<string, number>();

function startOffsetOf(spec: WindowSpec): number {
  let offset = startOffsets.get(spec.start);
  if (offset === undefined) {
    const [hours, minutes] = spec.start.split(':').map(Number) as [number, number];
    offset = (hours * 60 + minutes) * MINUTE;
    if (startOffsets.size < 2_000) startOffsets.set(spec.start, offset);
  }
  return offset;
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
 * the same zones about nearby instants over and over, so answers are remembered per zone and UTC day: when the offset
 * at the day's first millisecond, its middle and its last millisecond agree, no transition falls inside it (zones
 * change offset at most once in half a day) and the offset holds for the whole day. A day with a transition in it is
 * remembered per UTC hour the same way, and an hour with the transition in it is asked per instant. Bounded: a full
 * table is dropped and refilled.
 */
const OFFSET_CACHE_LIMIT = 200_000;
const HOUR = 3_600_000;
const TRANSITION = Number.NaN; // marks a day or hour with a transition inside it
const dayOffsets = new Map<string, Map<number, number>>();
const hourOffsets = new Map<string, Map<number, number>>();
let cachedOffsets = 0;

function offsetAt(zone: IANAZone, instant: number): number {
  const day = Math.floor(instant / DAY);
  const offset = remembered(dayOffsets, zone, day, DAY);
  if (!Number.isNaN(offset)) return offset;
  const inHour = remembered(hourOffsets, zone, Math.floor(instant / HOUR), HOUR);
  return Number.isNaN(inHour) ? zone.offset(instant) : inHour;
}

/** The offset that holds through span number `index` (of `span` ms), or TRANSITION; asked of luxon once per span. */
function remembered(tables: Map<string, Map<number, number>>, zone: IANAZone, index: number, span: number): number {
  let table = tables.get(zone.name);
  if (!table) tables.set(zone.name, (table = new Map()));
  let offset = table.get(index);
  if (offset === undefined) {
    if (cachedOffsets >= OFFSET_CACHE_LIMIT) {
      dayOffsets.clear();
      hourOffsets.clear();
      cachedOffsets = 0;
      tables.set(zone.name, (table = new Map()));
    }
    const start = index * span;
    const first = zone.offset(start);
    const same = first === zone.offset(start + span / 2) && first === zone.offset(start + span - 1);
    offset = same ? first : TRANSITION;
    table.set(index, offset);
    cachedOffsets++;
  }
  return offset;
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

/** Whether a local date (a day number: days since 1970-01-01) has an occurrence. */
function dayMatcher(spec: WindowSpec): (day: number) => boolean {
  if (spec.weekly) {
    const days = new Set(spec.weekly.days.map((d) => (WEEKDAYS.indexOf(d) + 1) % 7)); // mon..sun → getUTCDay
    return (day) => days.has((((day + 4) % 7) + 7) % 7); // 1970-01-01 was a Thursday (getUTCDay 4)
  }
  const match = MONTHLY_PATTERN.exec(spec.monthly ?? '');
  if (!match)
    throw new NoWindowError(`window.monthly = "${spec.monthly ?? ''}" is not like "first sunday" or "day 15"`);
  const [, ordinal, dayName, dayOfMonth] = match;
  // `day 31` never matches a 30-day month: such months have no window (rather than moving it to the 30th).
  if (dayOfMonth) return (day) => new Date(day * DAY).getUTCDate() === Number(dayOfMonth);
  const weekday = DAY_NAMES.indexOf(dayName!);
  const week = ORDINALS.indexOf(ordinal!); // -1 for `last`
  return (day) => {
    const date = new Date(day * DAY);
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
/** `00:00` … `23:59`, by minute of the day. */
const TIME_TEXTS = Array.from({ length: 1440 }, (_, m) => `${two(Math.floor(m / 60))}:${two(m % 60)}`);
const dateTexts = new Map<number, string>();
/** A wall reading (UTC fields = local fields) as `Sun 29 Nov 2026`, remembered per day. */
function dateText(wall: Date): string {
  const day = Math.floor(wall.getTime() / DAY);
  let text = dateTexts.get(day);
  if (text === undefined) {
    text = `${WEEKDAY_NAMES[wall.getUTCDay()]} ${wall.getUTCDate()} ${MONTH_NAMES[wall.getUTCMonth()]} ${wall.getUTCFullYear()}`;
    if (dateTexts.size >= 10_000) dateTexts.clear();
    dateTexts.set(day, text);
  }
  return text;
}
const timeText = (wall: Date) => TIME_TEXTS[wall.getUTCHours() * 60 + wall.getUTCMinutes()]!;

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
