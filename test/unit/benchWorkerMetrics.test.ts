import { sumMetrics, workflowTaskFigures } from '../../scripts/bench/workerMetrics';

const scrape = (hits: number, misses: number, tasks: number, waitSumMs: number) =>
  [
    '# HELP temporal_sticky_cache_hit Count of times the workflow cache was used for a new workflow task',
    '# TYPE temporal_sticky_cache_hit counter',
    `temporal_sticky_cache_hit_total{namespace="default",task_queue="q",workflow_type="controlPlane"} ${hits - 1}`,
    `temporal_sticky_cache_hit_total{namespace="default",task_queue="q-fleet",workflow_type="fleetRollout"} 1`,
    `temporal_sticky_cache_miss_total{namespace="default",task_queue="q"} ${misses}`,
    `temporal_sticky_cache_total_forced_eviction_total{namespace="default"} 0`,
    `temporal_workflow_task_execution_latency_bucket{le="+Inf",task_queue="q"} ${tasks}`,
    `temporal_workflow_task_execution_latency_count{task_queue="q"} ${tasks}`,
    `temporal_workflow_task_schedule_to_start_latency_sum{task_queue="q"} ${waitSumMs}`,
    `temporal_workflow_task_schedule_to_start_latency_count{task_queue="q"} ${tasks}`,
    'not a metric line at all',
  ].join('\n');

describe("the cluster bench's reading of a worker's SDK metrics", () => {
  it('sums each metric over its label sets, counters without _total', () => {
    const m = sumMetrics(scrape(10, 2, 30, 600));
    expect(m.get('temporal_sticky_cache_hit')).toBe(10);
    expect(m.get('temporal_sticky_cache_miss')).toBe(2);
    expect(m.get('temporal_workflow_task_execution_latency_count')).toBe(30);
    expect(m.has('not')).toBe(false);
  });

  it('gives what happened between two scrapes', () => {
    expect(workflowTaskFigures(scrape(10, 2, 30, 600), scrape(110, 12, 150, 3000))).toEqual({
      workflowTasks: 120,
      stickyCacheHits: 100,
      stickyCacheMisses: 10,
      forcedEvictions: 0,
      scheduleToStartMeanMs: 20,
    });
  });

  it('counts from zero when the first scrape is empty, and reports no wait without tasks', () => {
    expect(workflowTaskFigures('', scrape(1, 0, 0, 0))).toMatchObject({
      stickyCacheHits: 1,
      scheduleToStartMeanMs: 0,
    });
  });
});
