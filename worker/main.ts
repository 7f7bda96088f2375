// `npm run worker`: a nightshift worker process configured by environment variables (see .env.example).
import { Runtime } from '@temporalio/worker';
import { ValidationError } from '../domain/validation';
import { loadConfig, type Config } from '../config/config';
import { ensureCatchUpScheduleExists } from '../client/catchUpSchedule';
import { metricsTelemetry, metricsUrl } from './metrics';
import { serveHealth, WorkerHealth, type HealthServer } from './health';
import { connectClient } from '../client/temporalClient';
import { connectWorker, createWorkers, wireAdapters } from './worker';
import { checkHeapForCache } from './heapBudget';

/** Runs a worker until SIGINT/SIGTERM (`nightshift worker`, `npm run worker`). */
export async function runWorker(): Promise<void> {
  const config = loadConfig();
  checkHeapForCache(config.NIGHTSHIFT_WORKFLOW_CACHE_SIZE);
  // The runtime is process-wide and must be installed before the first connection. No logger given: the SDK's
  // default (INFO to the console), as without metrics.
  const telemetryOptions = metricsTelemetry(config);
  if (telemetryOptions) Runtime.install({ telemetryOptions });
  // Up first, so that a liveness probe sees the process alive while the worker starts (not ready until it runs).
  const health = new WorkerHealth({ namespace: config.TEMPORAL_NAMESPACE });
  const healthServer = config.NIGHTSHIFT_HEALTH_ADDRESS
    ? await startHealthServer(health, config.NIGHTSHIFT_HEALTH_ADDRESS)
    : undefined;
  try {
    await startAndRun(config, health);
  } finally {
    await healthServer?.close();
  }
}

async function startHealthServer(health: WorkerHealth, address: string): Promise<HealthServer> {
  try {
    const server = await serveHealth(health, address);
    console.log(`nightshift worker: health on ${server.url}/livez and ${server.url}/readyz`);
    return server;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`configuration: NIGHTSHIFT_HEALTH_ADDRESS = ${JSON.stringify(address)}: cannot listen (${code})`, {
      cause: err,
    });
  }
}

async function startAndRun(config: Config, health: WorkerHealth): Promise<void> {
  const wiring = await wireAdapters(config);
  const connection = await connectWorker(config);
  const graceMs = Math.round(config.NIGHTSHIFT_SHUTDOWN_GRACE * 60_000);
  const worker = await createWorkers({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    fleetTaskQueue: config.fleetTaskQueue,
    deps: wiring.deps,
    // On SIGTERM the worker stops polling, lets running activities finish for this long, then cancels them (they are
    // retried elsewhere). deploy/kubernetes/worker.yaml's terminationGracePeriodSeconds is longer.
    extra: { shutdownGraceTime: graceMs, maxCachedWorkflows: config.NIGHTSHIFT_WORKFLOW_CACHE_SIZE },
  });
  health.attach(worker, connection);
  console.log(
    `nightshift worker: ${config.TEMPORAL_ADDRESS} namespace=${config.TEMPORAL_NAMESPACE} task queues=${config.TEMPORAL_TASK_QUEUE} (control planes), ${config.fleetTaskQueue} (fleet rollouts) inventory=${config.NIGHTSHIFT_INVENTORY}`,
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
  console.log(`nightshift worker: on SIGTERM, running activities get ${graceMs / 1000}s to finish`);
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
