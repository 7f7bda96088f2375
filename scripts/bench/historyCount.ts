// Counting a workflow's history for the benchmark (pure): what it did (activities, timers, signals, markers, runs)
// and the fewest events Temporal needs for the same activities and timers.
import { temporal } from '@temporalio/proto';

/** An event's type as the SDK gives it (the enum number) or by name ('EVENT_TYPE_TIMER_FIRED' or 'TimerFired'). */
export type EventTypeLike = number | string | null | undefined;

/** 'TimerFired' for 'EVENT_TYPE_TIMER_FIRED', for 'TimerFired' and for the enum's number. */
export function eventName(type: EventTypeLike): string {
  const raw = typeof type === 'number' ? temporal.api.enums.v1.EventType[type] : type;
  if (!raw) return 'Unspecified';
  if (!raw.startsWith('EVENT_TYPE_')) return raw;
  return raw
    .slice('EVENT_TYPE_'.length)
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

export interface HistoryCounts {
  /** Every event, all runs together. */
  events: number;
  /** Runs (WorkflowExecutionStarted events). */
  runs: number;
  /** ActivityTaskScheduled: each activity once, however often it was retried (retries add no events). */
  activities: number;
  /** TimerStarted (fired or cancelled). */
  timers: number;
  /** WorkflowExecutionSignaled. */
  signals: number;
  /** MarkerRecorded (patch markers, local activities, side effects). */
  markers: number;
  /** WorkflowTaskScheduled. */
  workflowTasks: number;
  /** Events per type, for the report. */
  byType: Record<string, number>;
}

/** Counts the events of one or more runs (pass the runs' events concatenated). */
export function countHistory(events: readonly { eventType?: EventTypeLike }[]): HistoryCounts {
  const byType: Record<string, number> = {};
  for (const e of events) {
    const name = eventName(e.eventType);
    byType[name] = (byType[name] ?? 0) + 1;
  }
  const n = (name: string) => byType[name] ?? 0;
  return {
    events: events.length,
    runs: n('WorkflowExecutionStarted'),
    activities: n('ActivityTaskScheduled'),
    timers: n('TimerStarted'),
    signals: n('WorkflowExecutionSignaled'),
    markers: n('MarkerRecorded'),
    workflowTasks: n('WorkflowTaskScheduled'),
    byType,
  };
}

/**
 * The fewest events for a workflow that runs `activities` activities and `timers` timers one after another, in ONE run:
 *   2   WorkflowExecutionStarted and its completion;
 *   3   per activity (scheduled, started, completed; retries add none);
 *   2   per timer (started, fired);
 *   3   per workflow task (scheduled, started, completed), with 1 + A + T tasks: the first, and one woken by each
 *       activity or timer that ends;
 *   1   per signal received (the WorkflowExecutionSignaled event itself). We give a signal no workflow task of its own,
 *       as if each arrived together with another wake-up: the strictest minimum, so the ratio overstates the overhead
 *       rather than hiding it.
 * Not in the minimum, so counted as overhead: extra runs (continue-as-new: a start, an end and a task each), markers
 * (patch markers), search-attribute and memo upserts, signals sent, updates, and any other workflow task.
 */
export function minimumEvents(c: Pick<HistoryCounts, 'activities' | 'timers' | 'signals'>): number {
  return 2 + 3 * c.activities + 2 * c.timers + 3 * (1 + c.activities + c.timers) + c.signals;
}

/** Events over the minimum for the same activities, timers and signals (issue 14's target: ≤ 1.5). */
export function historyRatio(c: HistoryCounts): number {
  return c.events / minimumEvents(c);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1]!;
}
