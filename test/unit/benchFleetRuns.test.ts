import { temporal } from '@temporalio/proto';
import { grantLatency, handOvers } from '../../scripts/bench/fleetRuns';

const T = temporal.api.enums.v1.EventType;
const C = temporal.api.enums.v1.WorkflowTaskFailedCause;
const at = (s: number) => ({ seconds: s, nanos: 0 });
const grant = (s: number) => ({
  eventType: T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  eventTime: at(s),
});
const failed = (s: number, cause: number) => ({
  eventType: T.EVENT_TYPE_WORKFLOW_TASK_FAILED,
  eventTime: at(s),
  workflowTaskFailedEventAttributes: { cause },
});

describe('bench: the fleet at continue-as-new', () => {
  it('measures the time without a grant across each hand-over and counts failed tasks by cause', () => {
    const run1 = [
      { eventType: T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, eventTime: at(100) },
      grant(101),
      grant(105),
      failed(110, C.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND),
      failed(112, C.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND),
      failed(113, C.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE),
      { eventType: T.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, eventTime: at(120) },
    ];
    // The second run grants nothing; the third does, 40 s after the first run's last grant.
    const run2 = [{ eventType: T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, eventTime: at(121) }];
    const run3 = [{ eventType: T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, eventTime: at(130) }, grant(145)];
    const [first, second] = handOvers([run1, run2, run3]);
    expect(first).toEqual({
      run: 1,
      events: 7,
      grantGapSeconds: 40,
      lastGrantToCloseSeconds: 15,
      failedTasks: { UNHANDLED_COMMAND: 2, WORKFLOW_WORKER_UNHANDLED_FAILURE: 1 },
    });
    // A run without a grant has no gap to measure.
    expect(second).toMatchObject({ run: 2, grantGapSeconds: undefined, failedTasks: {} });
    expect(handOvers([run3])).toEqual([]);
  });

  it('measures each grant from its initiation to the confirmation of its delivery', () => {
    const initiated = (id: number, s: number) => ({ ...grant(s), eventId: id });
    const signaled = (initiatedEventId: number, s: number) => ({
      eventType: T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
      eventTime: at(s),
      externalWorkflowExecutionSignaledEventAttributes: { initiatedEventId },
    });
    // Run 1: grants 5 and 6 delivered after 1 s and 20 s; grant 7 never confirmed (not counted). Run 2 reuses event ids.
    const run1 = [initiated(5, 100), initiated(6, 100), initiated(7, 101), signaled(5, 101), signaled(6, 120)];
    const run2 = [initiated(5, 200), signaled(5, 203)];
    expect(grantLatency([run1, run2])).toEqual({ confirmed: 3, p50Seconds: 3, p90Seconds: 3, maxSeconds: 20 });
    expect(grantLatency([[initiated(1, 1)]])).toBeUndefined();
    // After patch grants-by-activity: a grantSlots batch, from scheduled to completed; other activities do not count.
    const scheduled = (id: number, s: number, name: string) => ({
      eventType: T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
      eventTime: at(s),
      eventId: id,
      activityTaskScheduledEventAttributes: { activityType: { name } },
    });
    const completed = (scheduledEventId: number, s: number) => ({
      eventType: T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
      eventTime: at(s),
      activityTaskCompletedEventAttributes: { scheduledEventId },
    });
    const byActivity = [
      scheduled(3, 10, 'grantSlots'),
      scheduled(4, 10, 'offerFleetPage'),
      completed(4, 30),
      completed(3, 10.5),
    ];
    expect(grantLatency([byActivity])).toEqual({ confirmed: 1, p50Seconds: 0.5, p90Seconds: 0.5, maxSeconds: 0.5 });
    expect(handOvers([byActivity, [grant(12)]])[0]).toMatchObject({ grantGapSeconds: 2 });
  });
});
