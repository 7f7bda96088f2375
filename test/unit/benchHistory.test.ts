import { temporal } from '@temporalio/proto';
import {
  countHistory,
  eventName,
  historyRatio,
  median,
  minimumEvents,
  percentile,
} from '../../scripts/bench/historyCount';

const T = temporal.api.enums.v1.EventType;
const wt = ['WorkflowTaskScheduled', 'WorkflowTaskStarted', 'WorkflowTaskCompleted'];

// One run, by hand: start, a task; one activity and its task; a patch marker and a search-attribute upsert; a timer;
// a signal that gets a task of its own; the timer fires and its task completes the workflow.
//   22 events: A = 1, T = 1, S = 1, 1 marker, 4 workflow tasks.
//   minimum = 2 (start, end) + 3·1 (activity) + 2·1 (timer) + 3·(1 + 1 + 1) (tasks) + 1 (signal) = 17.
//   The 5 over it: the marker (1), the upsert (1) and the signal's own workflow task (3).
const oneRun = [
  'WorkflowExecutionStarted',
  ...wt,
  'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED', // the server's name: same as 'ActivityTaskScheduled'
  T.EVENT_TYPE_ACTIVITY_TASK_STARTED, // the SDK's enum number
  'ActivityTaskCompleted',
  ...wt,
  'MarkerRecorded',
  'UpsertWorkflowSearchAttributes',
  'TimerStarted',
  'WorkflowExecutionSignaled',
  ...wt,
  'TimerFired',
  ...wt,
  'WorkflowExecutionCompleted',
].map((eventType) => ({ eventType }));

describe('bench history counting', () => {
  it('names event types the same from the enum number, the server name and the short name', () => {
    expect(eventName(T.EVENT_TYPE_TIMER_FIRED)).toBe('TimerFired');
    expect(eventName('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW')).toBe('WorkflowExecutionContinuedAsNew');
    expect(eventName('TimerFired')).toBe('TimerFired');
    expect(eventName(undefined)).toBe('Unspecified');
  });

  it('counts a hand-made run and its minimum (worked out above)', () => {
    const c = countHistory(oneRun);
    expect(c).toMatchObject({
      events: 22,
      runs: 1,
      activities: 1,
      timers: 1,
      signals: 1,
      markers: 1,
      workflowTasks: 4,
    });
    expect(c.byType.ActivityTaskStarted).toBe(1);
    expect(minimumEvents(c)).toBe(17);
    expect(historyRatio(c)).toBeCloseTo(22 / 17);
  });

  it('adds a continued run to the counts, not to the minimum', () => {
    // The run above, ended by continue-as-new instead, then a new run that starts and idles in one task: 22 + 4 = 26
    // events, the same activities, timers and signals, so the same minimum of 17.
    const continued = [
      ...oneRun.slice(0, -1),
      { eventType: 'WorkflowExecutionContinuedAsNew' },
      ...['WorkflowExecutionStarted', ...wt].map((eventType) => ({ eventType })),
    ];
    const c = countHistory(continued);
    expect(c).toMatchObject({ events: 26, runs: 2, workflowTasks: 5 });
    expect(minimumEvents(c)).toBe(17);
  });

  it('gives a bare workflow of K activities exactly the minimum, 5 + 6K', () => {
    const k = 12;
    const events = [
      'WorkflowExecutionStarted',
      ...wt,
      ...Array.from({ length: k }, () => [
        'ActivityTaskScheduled',
        'ActivityTaskStarted',
        'ActivityTaskCompleted',
        ...wt,
      ]).flat(),
      'WorkflowExecutionCompleted',
    ].map((eventType) => ({ eventType }));
    expect(countHistory(events).events).toBe(5 + 6 * k);
    expect(historyRatio(countHistory(events))).toBe(1);
  });

  it('takes medians and nearest-rank percentiles', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });
});
