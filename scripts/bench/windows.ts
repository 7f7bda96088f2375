// Maintenance windows for the scale run and the benchmarks.

/**
 * A daily 24-hour window that opened at the start of the last UTC hour: open for the next 23 hours. (A window from
 * 00:00 is open too, but near midnight UTC its latest start has passed, and every control plane rightly moves to the
 * next window: a run started at 23:00 UTC parked half the fleet.)
 */
export function openWindow(days: string[], now = Date.now()) {
  const start = new Date(now - 3_600_000).toISOString().slice(11, 13);
  return { timeZone: 'UTC', start: `${start}:00`, durationMinutes: 1440, weekly: { days } };
}
