// `npm run worker`: a nightshift worker process configured by environment variables (see .env.example).
import { Runtime } from '@temporalio/worker';
import { ValidationError } from '../domain/validation';
import { loadConfig } from '../config/config';
import { ensureCatchUpScheduleExists } from '../client/catchUpSchedule';
import { metricsTelemetry, metricsUrl } from './metrics';
import { connectClient } from '../client/temporalClient';
import { connectWorker, createWorker, wireAdapters } from './worker';

/** Runs a worker until SIGINT/SIGTERM (`nightshift worker`, `npm run worker`). */
export async function runWorker(): Promise<void> {
  const config = loadConfig();
  // The runtime is process-wide and must be installed before the first connection. No logger given: the SDK's
  // default (INFO to the console), as without metrics.
  const telemetryOptions = metricsTelemetry(config);
  if (telemetryOptions) Runtime.install({ telemetryOptions });
  const wiring = await wireAdapters(config);
  const connection = await connectWorker(config);
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: wiring.deps,
  });
  console.log(
    `nightshift worker: ${config.TEMPORAL_ADDRESS} namespace=${config.TEMPORAL_NAMESPACE} task queue=${config.TEMPORAL_TASK_QUEUE} inventory=${config.NIGHTSHIFT_INVENTORY}`,
  );
  // The catch-up schedule offers open releases to control planes that should have them (late opt-ins, new ones).
  const temporal = await connectClient(config);
  try {
    const schedule = await ensureCatchUpScheduleExists(temporal.client, { taskQueue: config.TEMPORAL_TASK_QUEUE });
    console.log(
      `nightshift worker: catch-up schedule ${schedule === 'exists' ? 'exists (left as it is)' : `${schedule.result}, every ${schedule.everyMinutes} min`}`,
    );
  } finally {
    await temporal.close();
  }
  if (config.NIGHTSHIFT_METRICS_ADDRESS)
    console.log(`nightshift worker: Prometheus metrics on ${metricsUrl(config.NIGHTSHIFT_METRICS_ADDRESS)}`);
  try {
    await worker.run(); // returns after SIGINT/SIGTERM once in-flight tasks finish
  } finally {
    await connection.close();
    await wiring.close();
  }
}

/** Runs the worker and exits the process with a one-line error on configuration or inventory mistakes. */
export function runWorkerProcess(): void {
  runWorker().catch((err: unknown) => {
    // Configuration and inventory errors already say what is wrong; a stack trace would only hide it.
    if (err instanceof ValidationError || (err instanceof Error && err.message.startsWith('configuration:'))) {
      console.error(`nightshift worker: ${err.message}`);
    } else {
      console.error('nightshift worker failed:', err);
    }
    process.exit(1);
  });
}

if (require.main === module) runWorkerProcess();
