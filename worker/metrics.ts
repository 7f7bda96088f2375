// Prometheus metrics for the worker process: the SDK's own (workflow and activity task latencies, schedule-to-start,
// pollers, sticky cache...) and nightshift's (workflows/metrics.ts), served by the SDK's native runtime on
// NIGHTSHIFT_METRICS_ADDRESS at /metrics. The runtime is process-wide: install it once, before any connection.
import type { TelemetryOptions } from '@temporalio/worker';
import type { Config } from '../config/config';

/** Runtime telemetry options for Runtime.install; undefined when NIGHTSHIFT_METRICS_ADDRESS is unset. */
export function metricsTelemetry(config: Pick<Config, 'NIGHTSHIFT_METRICS_ADDRESS'>): TelemetryOptions | undefined {
  const bindAddress = config.NIGHTSHIFT_METRICS_ADDRESS;
  if (!bindAddress) return undefined;
  // The SDK's default buckets stop at 10 s; a rollout plus its verification takes seconds to many minutes.
  const stepBucketsMs = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600].map((s) => s * 1000);
  return {
    metrics: { prometheus: { bindAddress, histogramBucketOverrides: { nightshift_step_duration: stepBucketsMs } } },
  };
}

/** The URL to scrape, for the start-up log line. 0.0.0.0 / [::] listen everywhere; show a reachable local address. */
export function metricsUrl(bindAddress: string): string {
  const local = bindAddress.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  return `http://${local}/metrics`;
}
