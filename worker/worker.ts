// Wires configuration to adapters and adapters to activities, and builds the Temporal worker. Shared by
// `npm run worker`, `npm start` and the integration tests, so they all run the same code.
import fs from 'node:fs';
import type { DataConverter } from '@temporalio/common';
import {
  bundleWorkflowCode,
  NativeConnection,
  Runtime,
  Worker,
  type State,
  type WorkerOptions,
} from '@temporalio/worker';
import * as k8s from '@kubernetes/client-node';
import { createActivities, type ActivityDeps } from '../activities';
import type { AlerterPort, HealthPort, InventoryPort, NotifierPort, PlatformPort } from '../activities/ports';
import { FanoutAlerter, type FanoutTarget } from '../integrations/fanoutAlerter';
import { FileInventory, loadInventoryFile } from '../integrations/fileInventory';
import { HttpHealthProbe } from '../integrations/httpHealth';
import { HubSpotNotifier } from '../integrations/hubspotNotifier';
import { defaultKubeConfig, KubernetesPlatform } from '../integrations/kubernetesPlatform';
import { InventoryKubePlacements } from '../integrations/kubernetesTargets';
import { formatAlertLine, LogAlerter } from '../integrations/logAlerter';
import { OutboxNotifier } from '../integrations/outboxNotifier';
import { PagerDutyAlerter, type TemporalUiOptions } from '../integrations/pagerDutyAlerter';
import { SimulatedPlatform, simulatedHealthProbe } from '../integrations/simulatedFleet/adapter';
import { SimulatedFleet } from '../integrations/simulatedFleet/server';
import { SlackAlerter } from '../integrations/slackAlerter';
import { TemporalMessenger } from '../integrations/temporalMessenger';
import { TemporalRolloutDirectory } from '../integrations/temporalRolloutDirectory';
import type { Config } from '../config/config';
import { configuredDataConverter, connectClient } from '../client/temporalClient';
import { temporalConnectionOptions } from '../config/temporalConnection';
import { workflowBundleOptions, workflowCodeOptions } from './workflowBundle';

export interface Wiring {
  deps: ActivityDeps;
  /** The in-process simulated fleet, when the worker runs one. */
  fleet?: SimulatedFleet;
  close(): Promise<void>;
}

interface PlatformWiring {
  platform: PlatformPort;
  health: HealthPort;
  fleet?: SimulatedFleet;
}

async function simulatedPlatform(config: Config, log: (line: string) => void): Promise<PlatformWiring> {
  let fleet: SimulatedFleet | undefined;
  let baseUrl = config.NIGHTSHIFT_SIM_URL;
  if (!baseUrl) {
    fleet = await SimulatedFleet.start({
      inventory: loadInventoryFile(config.NIGHTSHIFT_INVENTORY),
      stateFile: config.NIGHTSHIFT_SIM_STATE,
      port: config.NIGHTSHIFT_SIM_PORT,
      rolloutMs: config.NIGHTSHIFT_SIM_ROLLOUT_MS,
      // The simulated Gateways' check_duration is the one the policy assumes.
      checkDurationMs: config.policy.verify.checkDurationMs,
    });
    baseUrl = fleet.baseUrl;
    log(`simulated fleet listening on ${baseUrl} (state ${config.NIGHTSHIFT_SIM_STATE})`);
  }
  const platform = new SimulatedPlatform(baseUrl);
  return {
    platform,
    // As production probes Kubernetes: each Gateway by its checks, the Dashboard for liveness (version from the platform).
    health: simulatedHealthProbe(baseUrl, { timeoutMs: config.NIGHTSHIFT_HEALTH_TIMEOUT_MS, platform }),
    fleet,
  };
}

function kubeConfigOf(config: Config): k8s.KubeConfig {
  const file = config.NIGHTSHIFT_K8S_KUBECONFIG;
  let kc: k8s.KubeConfig;
  try {
    if (file) {
      kc = new k8s.KubeConfig();
      kc.loadFromFile(file);
    } else kc = defaultKubeConfig();
  } catch (err) {
    const where = file ? `NIGHTSHIFT_K8S_KUBECONFIG = ${JSON.stringify(file)}` : 'NIGHTSHIFT_PLATFORM=kubernetes';
    throw new Error(`configuration: ${where}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const context = config.NIGHTSHIFT_K8S_CONTEXT;
  if (context) {
    if (!kc.getContextObject(context))
      throw new Error(
        `configuration: NIGHTSHIFT_K8S_CONTEXT = ${JSON.stringify(context)}: no such context in the kubeconfig`,
      );
    kc.setCurrentContext(context);
  }
  return kc;
}

/**
 * Components run as Deployments placed by the inventory's `kubernetes` section. Health comes from each component's
 * Tyk /hello; the Dashboard's /hello is a plain liveness check, so its version is the Deployment's image tag.
 */
function kubernetesPlatform(config: Config, inventory: InventoryPort, log: (line: string) => void): PlatformWiring {
  const kubeConfig = kubeConfigOf(config);
  const placements = new InventoryKubePlacements(inventory, {
    dashboard: config.NIGHTSHIFT_K8S_IMAGE_DASHBOARD,
    gateway: config.NIGHTSHIFT_K8S_IMAGE_GATEWAY,
  });
  const platform = new KubernetesPlatform({
    kubeConfig,
    resolve: (c) => placements.placementOf(c),
    pollMs: config.NIGHTSHIFT_K8S_POLL_MS,
    rolloutTimeoutMs: config.NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT * 60_000,
  });
  const health = new HttpHealthProbe((c) => placements.healthUrlOf(c), {
    timeoutMs: config.NIGHTSHIFT_HEALTH_TIMEOUT_MS,
    livenessOnly: (c) => c.kind === 'dashboard',
    versionOf: (c) => platform.currentVersion(c),
  });
  const cluster = kubeConfig.getCurrentCluster();
  log(`platform: kubernetes (${cluster?.server ?? 'no cluster'}, context ${kubeConfig.getCurrentContext()})`);
  return { platform, health };
}

function notifierOf(config: Config, log: (line: string) => void): NotifierPort {
  if (config.NIGHTSHIFT_NOTIFIER === 'hubspot') {
    log(`notices: HubSpot transactional email (${config.NIGHTSHIFT_HUBSPOT_BASE_URL})`);
    return new HubSpotNotifier({
      accessToken: config.NIGHTSHIFT_HUBSPOT_TOKEN!,
      basePath: config.NIGHTSHIFT_HUBSPOT_BASE_URL,
      from: config.NIGHTSHIFT_HUBSPOT_FROM,
      templates: config.NIGHTSHIFT_HUBSPOT_TEMPLATES!,
      requestTimeoutMs: config.NIGHTSHIFT_HUBSPOT_TIMEOUT_MS,
      log,
    });
  }
  return new OutboxNotifier(config.NIGHTSHIFT_OUTBOX, { echo: (line) => log(line) });
}

function alerterOf(config: Config, log: (line: string) => void): AlerterPort {
  const ui: TemporalUiOptions | undefined = config.NIGHTSHIFT_UI_URL
    ? { baseUrl: config.NIGHTSHIFT_UI_URL, namespace: config.TEMPORAL_NAMESPACE }
    : undefined;
  const targets: FanoutTarget[] = config.NIGHTSHIFT_ALERTER.map((name) => {
    if (name === 'pagerduty')
      return {
        alerter: new PagerDutyAlerter({
          routingKey: config.NIGHTSHIFT_PAGERDUTY_ROUTING_KEY!,
          baseUrl: config.NIGHTSHIFT_PAGERDUTY_URL,
          temporalUi: ui,
          timeoutMs: config.NIGHTSHIFT_ALERT_TIMEOUT_MS,
        }),
        minSeverity: config.NIGHTSHIFT_PAGERDUTY_MIN_SEVERITY,
      };
    if (name === 'slack')
      return {
        alerter: new SlackAlerter({
          webhookUrl: config.NIGHTSHIFT_SLACK_WEBHOOK_URL!,
          temporalUi: ui,
          timeoutMs: config.NIGHTSHIFT_ALERT_TIMEOUT_MS,
        }),
        minSeverity: config.NIGHTSHIFT_SLACK_MIN_SEVERITY,
      };
    return { alerter: new LogAlerter({ path: config.NIGHTSHIFT_ALERT_LOG, log: (line) => log(line) }) };
  });
  if (targets.length === 1 && config.NIGHTSHIFT_ALERTER[0] === 'log') return targets[0]!.alerter;
  log(`SRE alerts: ${config.NIGHTSHIFT_ALERTER.join(', ')}`);
  return new FanoutAlerter(targets, {
    onUnrouted: (alert) => log(`${formatAlertLine(alert)} [below every target's minimum severity: not sent]`),
  });
}

/** The inventory file must be readable at start: one line naming the setting, not a stack trace from deep inside. */
function checkInventoryReadable(file: string): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    if (fs.statSync(file).isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : `not readable (${code})`;
    throw new Error(`configuration: NIGHTSHIFT_INVENTORY = ${JSON.stringify(file)}: ${why}`, { cause: err });
  }
}

export async function wireAdapters(config: Config, log: (line: string) => void = console.log): Promise<Wiring> {
  checkInventoryReadable(config.NIGHTSHIFT_INVENTORY);
  const inventory = new FileInventory(config.NIGHTSHIFT_INVENTORY);
  // Built before anything starts listening, so a bad setting leaves nothing behind.
  const notifier = notifierOf(config, log);
  const alerter = alerterOf(config, log);
  const { platform, health, fleet } =
    config.NIGHTSHIFT_PLATFORM === 'kubernetes'
      ? kubernetesPlatform(config, inventory, log)
      : await simulatedPlatform(config, log);
  const temporal = await connectClient(config, { lazy: true });
  const deps: ActivityDeps = {
    inventory,
    platform,
    health,
    notifier,
    alerter,
    policy: config.policy,
    // A newer release supersedes an older rollout of the same line; visibility finds the running ones.
    rollouts: new TemporalRolloutDirectory(temporal.client),
    // Releases reach the control-plane workflows, and their messages the fleet rollouts, through the client.
    messenger: new TemporalMessenger(temporal.client, { taskQueue: config.TEMPORAL_TASK_QUEUE }),
  };
  return {
    deps,
    fleet,
    close: async () => {
      await temporal.close();
      await fleet?.close();
    },
  };
}

/**
 * The data converter of the configuration a connection was made for (connectWorker): workers created on it encode and
 * decode payloads as the configuration's clients do (payload encryption), without every entry point passing it.
 */
const dataConverters = new WeakMap<NativeConnection, DataConverter>();

/** The worker's connection: the same profile, address, TLS / mTLS and API key as the operator client. */
export async function connectWorker(config: Config): Promise<NativeConnection> {
  const options = temporalConnectionOptions(config); // reads the TLS files, naming one it cannot read
  const dataConverter = configuredDataConverter(config); // a bad key setting fails before connecting
  const connection = await NativeConnection.connect(options);
  if (dataConverter) dataConverters.set(connection, dataConverter);
  return connection;
}

export function workflowsPath(): string {
  return require.resolve('../workflows');
}

export async function createWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Payload codecs (encryption); default: the one of the configuration connectWorker made the connection for. */
  dataConverter?: DataConverter;
  extra?: Partial<WorkerOptions>;
}): Promise<Worker> {
  const dataConverter = opts.dataConverter ?? dataConverters.get(opts.connection);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    // The prebuilt bundle in dist/, else bundled now (worker/workflowBundle.ts); createWorkers passes one bundle in extra.
    ...(opts.extra?.workflowBundle ? {} : workflowCodeOptions(workflowsPath())),
    activities: createActivities(opts.deps),
    ...(dataConverter && { dataConverter }),
    ...opts.extra,
  });
}

/**
 * Workflows the fleet task queue's worker keeps cached. Fleet rollouts are few (one per open release) and long-lived;
 * kept in a cache of their own, thousands of control-plane workflows passing through the main worker never evict them.
 */
export const FLEET_CACHED_WORKFLOWS = 100;

/**
 * A nightshift worker process's Temporal workers, run, stopped and watched as one: the main task queue (control planes,
 * the catch-up, and the activities they call) and the fleet task queue (fleet rollouts and theirs). Its state is
 * FAILED if one failed, else the first that is not RUNNING: health reports not ready when either stops.
 */
export class WorkerGroup {
  constructor(readonly workers: Worker[]) {}

  /** Runs every worker until each has shut down; if one fails, the others are shut down and its error is thrown. */
  async run(): Promise<void> {
    const runs = this.workers.map((w) => w.run());
    try {
      await Promise.all(runs);
    } catch (err) {
      this.shutdown();
      await Promise.allSettled(runs);
      throw err;
    }
  }

  /** What SIGTERM does to each worker: stop polling, let running tasks finish within the shutdown grace time. */
  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }

  getState(): State {
    const states = this.workers.map((w) => w.getState());
    return states.find((s) => s === 'FAILED') ?? states.find((s) => s !== 'RUNNING') ?? 'RUNNING';
  }
}

/**
 * The workers of one nightshift process: `taskQueue` for control planes, `fleetTaskQueue` (its own worker and workflow
 * cache) for fleet rollouts; one worker when both names are the same. The workflow code is bundled once for both.
 */
export async function createWorkers(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  fleetTaskQueue: string;
  deps: ActivityDeps;
  dataConverter?: DataConverter;
  /** Options for both workers. */
  extra?: Partial<WorkerOptions>;
  /** Options for the fleet task queue's worker only (after `extra`). */
  fleetExtra?: Partial<WorkerOptions>;
}): Promise<WorkerGroup> {
  const code = workflowCodeOptions(workflowsPath());
  const shared: Partial<WorkerOptions> =
    'workflowsPath' in code && code.workflowsPath
      ? {
          workflowBundle: await bundleWorkflowCode(
            workflowBundleOptions(code.workflowsPath, Runtime.instance().logger),
          ),
        }
      : code;
  const main = await createWorker({ ...opts, extra: { ...shared, ...opts.extra } });
  if (opts.fleetTaskQueue === opts.taskQueue) return new WorkerGroup([main]);
  const fleet = await createWorker({
    ...opts,
    taskQueue: opts.fleetTaskQueue,
    extra: {
      ...shared,
      ...opts.extra,
      maxCachedWorkflows: FLEET_CACHED_WORKFLOWS,
      // The SDK allows no more concurrent workflow tasks than cached workflows.
      maxConcurrentWorkflowTaskExecutions: Math.min(
        opts.extra?.maxConcurrentWorkflowTaskExecutions ?? 40,
        FLEET_CACHED_WORKFLOWS,
      ),
      ...opts.fleetExtra,
    },
  });
  return new WorkerGroup([main, fleet]);
}
