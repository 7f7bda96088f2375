// Where a worker's workflow tasks went, from the SDK's own Prometheus metrics (a worker started with
// NIGHTSHIFT_METRICS_ADDRESS): how many it completed, how many found their workflow in its sticky cache or missed it,
// and how long they waited to be picked up. The cluster bench reads them from each worker process before and after a
// rollout.

/** Prometheus text → the sum of each metric over its label sets (`_total` dropped from counter names). */
export function sumMetrics(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    const name = m[1]!.replace(/_total$/, '');
    sums.set(name, (sums.get(name) ?? 0) + value);
  }
  return sums;
}

export interface WorkflowTaskFigures {
  /** Workflow tasks completed (the execution latency histogram's count). */
  workflowTasks: number;
  stickyCacheHits: number;
  stickyCacheMisses: number;
  /** Workflows evicted from the cache to make room. */
  forcedEvictions: number;
  /** Mean wait from a workflow task being scheduled to a worker starting it, ms. */
  scheduleToStartMeanMs: number;
}

const get = (m: Map<string, number>, name: string) => m.get(`temporal_${name}`) ?? 0;

/** The figures between two scrapes of the same worker (`before` may be empty: since the worker started). */
export function workflowTaskFigures(before: string, after: string): WorkflowTaskFigures {
  const [a, b] = [sumMetrics(before), sumMetrics(after)];
  const delta = (name: string) => get(b, name) - get(a, name);
  const waits = delta('workflow_task_schedule_to_start_latency_count');
  return {
    workflowTasks: delta('workflow_task_execution_latency_count'),
    stickyCacheHits: delta('sticky_cache_hit'),
    stickyCacheMisses: delta('sticky_cache_miss'),
    forcedEvictions: delta('sticky_cache_total_forced_eviction'),
    scheduleToStartMeanMs: waits > 0 ? Math.round(delta('workflow_task_schedule_to_start_latency_sum') / waits) : 0,
  };
}
