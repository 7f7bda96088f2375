// A simulated fleet of Tyk components served over real HTTP, for the demo and the tests, and the platform adapter
// that drives it. One listener serves every component by path:
//
//   GET  /cp/<cp>/<component>/hello    what Tyk answers there (below, and docs/decisions/0009-tyk-health.md)
//   GET  /cp/<cp>/<component>          the component's state (version, config, rollout, last rollout, generation)
//   POST /cp/<cp>/<component>/deploy   {"version":"5.8.2","requestId":"...","config":{...}} starts a rollout taking
//                                      rolloutMs; `config` (optional) replaces the configuration when it succeeds
//   PUT  /cp/<cp>/<component>/fault    {"fault":"warn-after-upgrade"} or {"fault":null}: inject or clear a fault
//   GET  /state                        every component
//
// With `auditLog`, the fleet appends one JSON line per deploy request it received (time, component, from/to, whether
// it started a rollout, and the workflow and activity attempt that asked) and one per rollout that finished: an
// account of every change written by the fleet itself, which the chaos harness judges the workflows by.
//
// <component> is `dashboard`, `gateway` or a data plane's id. The gateway's configuration starts as the inventory's
// `config`; the other components start with an empty one. Faults from the inventory (`simulate.faults`) or the
// options make a component unhealthy after an upgrade, fail its rollouts, or stop answering.
//
// /hello answers as Tyk does. A Gateway: {"status","version":"v5.8.2","description":"Tyk GW","details":{...}} with
// the checks a Tyk-Cloud-like deployment has (redis and dashboard for the management Gateway, which reads its APIs
// from the Dashboard; redis and rpc for a data plane's, which gets its policies over RPC), each pass or fail; the
// status and HTTP code by the rules of the build running (tykHelloRules); `pass` without details until its first
// check, `checkDurationMs` after it (re)started. The Dashboard: liveness only, 200 {"status":"ok"} while it runs.
// Faults, on a version other than the inventory's (`…-after-upgrade`) or on any (`degraded`, `unreachable`):
//   fail-after-upgrade  Gateway: every check fails (fail). Dashboard: stops answering (503, like `unreachable`).
//   warn-after-upgrade  Gateway: redis fails, its other check passes (warn; fail with 503 on a 503 build).
//   degraded            like warn-after-upgrade, on any version. The Dashboard's liveness shows neither.
//   unreachable         503 "no healthy upstream" from the ingress, no Tyk body.
//   upgrade-error       rollouts to another version fail (ProgressDeadlineExceeded); health is untouched.
// A Dashboard that does not answer fails its management Gateway's `dashboard` check.
//
// A rollout records when it is done (doneAt) and is settled lazily from timestamps whenever the state is read, so
// it survives a restart: state persists to `stateFile` (atomically) on every change and is loaded at start.
// SimulatedPlatform talks to the fleet only over HTTP, so the fleet may run in another process.
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import semver from 'semver';
import { z } from 'zod';
import {
  RolloutFailedError,
  type ChangeOptions,
  type ChangeRequester,
  type PlatformChangeResult,
  type PlatformPort,
  type Progress,
  type UpgradeOptions,
} from '../activities/ports';
import { applyConfigMigrations } from '../domain/compatibility';
import { SIMULATED_FAULTS, type Inventory, type SimulatedFault } from '../domain/inventory';
import { componentLabel, type ComponentKind, type ComponentRef, type ComponentSnapshot } from '../domain/model';
import { TYK_DEFAULT_CHECK_DURATION_MS } from '../domain/policy';
import { parseWith } from '../domain/validation';
import { normalizeVersion, parseVersion } from '../domain/versions';
import { HttpHealthProbe } from './httpHealth';
import { describeFetchError, withTimeout } from './httpClient';
import { sleep } from './httpClient';

export type { SimulatedFault } from '../domain/inventory';

/** How much longer than `rolloutMs` a rollout of a component with the `slow-rollout` fault takes. */
export const SLOW_ROLLOUT_FACTOR = 40;

// ---------------------------------------------------------------------------------------------------------------
// State

const KINDS = ['dashboard', 'gateway', 'data-plane'] as const satisfies readonly ComponentKind[];

const ConfigSchema = z.record(z.string(), z.unknown());
type Config = z.infer<typeof ConfigSchema>;

const RolloutSchema = z.object({
  generation: z.number().int(),
  fromVersion: z.string(),
  toVersion: z.string(),
  /** The configuration the component runs once this rollout succeeds; absent: it keeps its configuration. */
  config: ConfigSchema.optional(),
  requestId: z.string().optional(),
  startedAt: z.string(),
  doneAt: z.string(),
});

const FinishedRolloutSchema = RolloutSchema.extend({
  outcome: z.enum(['succeeded', 'failed', 'superseded']),
  finishedAt: z.string(),
  /** Kubernetes-style reason, e.g. ProgressDeadlineExceeded. */
  reason: z.string().optional(),
  message: z.string().optional(),
});

const ComponentStateSchema = z.object({
  controlPlaneId: z.string(),
  componentId: z.string(),
  kind: z.enum(KINDS),
  /** The version in the inventory when the fleet first saw the component; faults trigger on any other version. */
  initialVersion: z.string(),
  version: z.string(),
  previousVersion: z.string().nullable(),
  /** The configuration it runs (tyk.conf keys); absent only in state files written before it was kept. */
  config: ConfigSchema.optional(),
  /** The rollout in progress, or null. */
  rollout: RolloutSchema.nullable(),
  /** The last rollout that finished, with its outcome, or null. */
  lastRollout: FinishedRolloutSchema.nullable(),
  /** Incremented by every deploy that starts a rollout. */
  deployGeneration: z.number().int(),
});

const RequesterSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  activityType: z.string(),
  attempt: z.number().int(),
  scheduledAt: z.string(),
});

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const StateFileSchema = z.object({
  format: z.literal(1),
  components: z.array(ComponentStateSchema),
});

export type SimulatedRollout = z.infer<typeof RolloutSchema>;
export type SimulatedFinishedRollout = z.infer<typeof FinishedRolloutSchema>;
type StoredComponentState = z.infer<typeof ComponentStateSchema> & { config: Config };

/** A component as the admin API reports it. */
export interface SimulatedComponentState extends StoredComponentState {
  fault: SimulatedFault | null;
}

export interface SimulatedFleetState {
  components: SimulatedComponentState[];
}

export interface DeployResponse {
  changed: boolean;
  /** Why nothing changed, or what started. */
  message: string;
  state: SimulatedComponentState;
}

export interface SimulatedFleetOptions {
  inventory: Inventory;
  /** JSON file the state persists to; without it the state lives only as long as the process. */
  stateFile?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** How long a rollout takes. Default 2000. */
  rolloutMs?: number;
  /**
   * The Gateways' Tyk check_duration: they re-run their checks this often, and answer `pass` without details for this
   * long after a rollout restarted them. Default 10000 (Tyk's default); tests and the demo use less. 0: checks at once.
   */
  checkDurationMs?: number;
  /** Extra faults keyed `<controlPlaneId>/<componentId>`; they override the inventory's. */
  faults?: Record<string, SimulatedFault>;
  /** JSON-lines file the fleet appends every deploy request and every finished rollout to (see SimulatedAuditEntry). */
  auditLog?: string;
}

/** One line of the audit log. */
export type SimulatedAuditEntry =
  | {
      event: 'deploy';
      at: string;
      controlPlaneId: string;
      componentId: string;
      kind: ComponentKind;
      /** The version running when the request came. */
      from: string;
      to: string;
      /** Whether the request came with a configuration other than the one running. */
      configChange: boolean;
      /** `started`: a rollout began (superseding one in progress when `supersedes` is set); `no-op`: nothing to do. */
      result: 'started' | 'no-op';
      generation?: number;
      supersedes?: number;
      requestId?: string;
      requestedBy?: ChangeRequester;
    }
  | {
      event: 'finished';
      /** When the rollout finished (its doneAt), not when the fleet noticed. */
      at: string;
      controlPlaneId: string;
      componentId: string;
      kind: ComponentKind;
      generation: number;
      outcome: 'succeeded' | 'failed';
      /** The version running afterwards. */
      version: string;
    };

function keyOf(controlPlaneId: string, componentId: string): string {
  return `${controlPlaneId}/${componentId}`;
}

function componentsOf(inventory: Inventory): { ref: ComponentRef; version: string; config: Config }[] {
  return inventory.controlPlanes.flatMap((cp) => [
    {
      ref: { controlPlaneId: cp.id, kind: 'dashboard' as const, id: 'dashboard' },
      version: cp.dashboard.version,
      config: {},
    },
    {
      ref: { controlPlaneId: cp.id, kind: 'gateway' as const, id: 'gateway' },
      version: cp.gateway.version,
      config: structuredClone(cp.config),
    },
    ...cp.dataPlanes.map((dp) => ({
      ref: { controlPlaneId: cp.id, kind: 'data-plane' as const, id: dp.id },
      version: dp.version,
      config: {},
    })),
  ]);
}

function faultsOf(inventory: Inventory, extra: Record<string, SimulatedFault> = {}): Map<string, SimulatedFault> {
  const faults = new Map<string, SimulatedFault>();
  for (const cp of inventory.controlPlanes) {
    for (const [componentId, fault] of Object.entries(cp.simulate?.faults ?? {}))
      faults.set(keyOf(cp.id, componentId), fault);
  }
  for (const [key, fault] of Object.entries(extra)) {
    if (!key.includes('/'))
      throw new Error(`faults: key ${JSON.stringify(key)} must be <controlPlaneId>/<componentId>`);
    if (!(SIMULATED_FAULTS as readonly string[]).includes(fault)) {
      throw new Error(`faults.${key}: ${JSON.stringify(fault)} is not one of ${SIMULATED_FAULTS.join(', ')}`);
    }
    faults.set(key, fault);
  }
  return faults;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The fleet

export class SimulatedFleet {
  readonly baseUrl: string;
  private readonly components: Map<string, StoredComponentState>;
  private readonly faults: Map<string, SimulatedFault>;
  private readonly rolloutMs: number;
  private readonly checkDurationMs: number;

  private constructor(
    private readonly server: Server,
    private readonly opts: SimulatedFleetOptions,
    components: Map<string, StoredComponentState>,
  ) {
    const { address, port } = server.address() as AddressInfo;
    this.baseUrl = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
    this.components = components;
    this.faults = faultsOf(opts.inventory, opts.faults);
    this.rolloutMs = opts.rolloutMs ?? 2000;
    this.checkDurationMs = opts.checkDurationMs ?? TYK_DEFAULT_CHECK_DURATION_MS;
  }

  static async start(opts: SimulatedFleetOptions): Promise<SimulatedFleet> {
    const rolloutMs = opts.rolloutMs ?? 2000;
    if (!Number.isFinite(rolloutMs) || rolloutMs < 0) throw new RangeError(`rolloutMs must be >= 0, got ${rolloutMs}`);
    const checkDurationMs = opts.checkDurationMs ?? TYK_DEFAULT_CHECK_DURATION_MS;
    if (!Number.isFinite(checkDurationMs) || checkDurationMs < 0)
      throw new RangeError(`checkDurationMs must be >= 0, got ${checkDurationMs}`);
    faultsOf(opts.inventory, opts.faults); // validate before listening
    const components = initialState(opts.inventory, opts.stateFile);
    const started: { fleet?: SimulatedFleet } = {};
    const server = createServer((req, res) => {
      if (started.fleet) return started.fleet.handle(req, res);
      res.writeHead(503).end(); // only between listening and the lines below
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const fleet = new SimulatedFleet(server, opts, components);
    started.fleet = fleet;
    // Records new components, and settles rollouts that finished while no fleet was running.
    fleet.settleAll();
    fleet.persist();
    return fleet;
  }

  /** The Tyk /hello URL of a component. */
  healthUrl(c: ComponentRef): string {
    return simulatedHealthUrl(this.baseUrl, c);
  }

  /** The admin URL of a component (GET state, POST …/deploy). */
  componentUrl(controlPlaneId: string, componentId: string): string {
    return componentUrl(this.baseUrl, controlPlaneId, componentId);
  }

  /** Every component, with rollouts settled as of now. */
  state(): SimulatedFleetState {
    this.settleAll();
    return { components: [...this.components.values()].map((c) => this.view(c)) };
  }

  /** One component, or undefined. */
  component(controlPlaneId: string, componentId: string): SimulatedComponentState | undefined {
    const c = this.components.get(keyOf(controlPlaneId, componentId));
    if (!c) return undefined;
    if (this.settle(c)) this.persist();
    return this.view(c);
  }

  /** Injects a fault into a component, or clears it (`null`): an SRE "fixing redis" in a demo or a test. */
  setFault(controlPlaneId: string, componentId: string, fault: SimulatedFault | null): void {
    const key = keyOf(controlPlaneId, componentId);
    if (!this.components.has(key)) throw new Error(`no component ${componentId} in control plane ${controlPlaneId}`);
    if (fault !== null && !(SIMULATED_FAULTS as readonly string[]).includes(fault))
      throw new Error(`fault = ${JSON.stringify(fault)}: not one of ${SIMULATED_FAULTS.join(', ')}`);
    if (fault === null) this.faults.delete(key);
    else this.faults.set(key, fault);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      // Keep-alive connections (fetch pools them) would hold close() open until they time out.
      this.server.closeAllConnections();
    });
  }

  // --- HTTP ---------------------------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: (err as Error).message });
      else res.destroy();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fleet');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';

    if (parts.length === 1 && parts[0] === 'state') {
      allow(method, 'GET');
      return sendJson(res, 200, this.state());
    }
    if (parts[0] !== 'cp' || parts.length < 3 || parts.length > 4) throw new HttpError(404, `no route ${url.pathname}`);
    const [, cpId, componentId, action] = parts as [string, string, string, string | undefined];
    const component = this.components.get(keyOf(cpId, componentId));
    if (!component) throw new HttpError(404, `no component ${componentId} in control plane ${cpId}`);
    if (this.settle(component)) this.persist();

    if (action === undefined) {
      allow(method, 'GET');
      return sendJson(res, 200, this.view(component));
    }
    if (action === 'hello') {
      allow(method, 'GET');
      return this.hello(component, res);
    }
    if (action === 'fault') {
      allow(method, 'PUT');
      const body = (await readJsonBody(req)) as { fault?: unknown } | null;
      const fault = body?.fault;
      if (fault !== null && (typeof fault !== 'string' || !(SIMULATED_FAULTS as readonly string[]).includes(fault)))
        throw new HttpError(
          400,
          `fault = ${JSON.stringify(fault)}: must be null or one of ${SIMULATED_FAULTS.join(', ')}`,
        );
      this.setFault(cpId, componentId, fault as SimulatedFault | null);
      return sendJson(res, 200, this.view(component));
    }
    if (action === 'deploy') {
      allow(method, 'POST');
      const body = await readJsonBody(req);
      const result = this.deploy(component, body);
      return sendJson(res, result.changed ? 202 : 200, result);
    }
    throw new HttpError(404, `no route ${url.pathname}`);
  }

  private hello(c: StoredComponentState, res: ServerResponse): void {
    const fault = this.faultOf(c);
    if (!this.answers(c)) {
      // What an ingress in front of a Service without ready endpoints answers: no Tyk body at all.
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('no healthy upstream');
      return;
    }
    if (c.kind === 'dashboard') return sendJson(res, 200, { status: 'ok' });

    const now = Date.now();
    const startedAt = this.startedAt(c);
    const body = { version: `v${c.version}`, description: 'Tyk GW' };
    // Tyk keeps no check results until its first check, one check_duration after start (and omits empty details).
    if (startedAt !== undefined && now < startedAt + this.checkDurationMs)
      return sendJson(res, 200, { status: 'pass', ...body });

    const upgraded = c.version !== c.initialVersion;
    const since = ` since v${c.version}`;
    const time = rfc3339(this.lastCheckAt(startedAt ?? 0, now));
    const check = (componentType: string, failure?: string) => ({
      status: failure ? 'fail' : 'pass',
      ...(failure ? { output: failure } : {}),
      componentType,
      time,
    });
    const other = c.kind === 'gateway' ? 'dashboard' : 'rpc';
    let redisFailure: string | undefined;
    let otherFailure: string | undefined;
    if (upgraded && fault === 'fail-after-upgrade') {
      redisFailure = `simulated fault fail-after-upgrade: redis unreachable${since}`;
      otherFailure = `simulated fault fail-after-upgrade: ${other} unreachable${since}`;
    } else if (upgraded && fault === 'warn-after-upgrade') {
      redisFailure = `simulated fault warn-after-upgrade: redis slow${since}`;
    } else if (fault === 'degraded') {
      redisFailure = 'simulated fault degraded: redis slow';
    }
    if (!otherFailure && c.kind === 'gateway') {
      const dashboard = this.components.get(keyOf(c.controlPlaneId, 'dashboard'));
      if (dashboard && !this.answers(dashboard))
        otherFailure = `simulated: the Dashboard of ${c.controlPlaneId} does not answer`;
    }
    const details = { redis: check('datastore', redisFailure), [other]: check('system', otherFailure) };

    const checks = Object.values(details);
    const failing = checks.filter((d) => d.status === 'fail').length;
    let status: 'pass' | 'warn' | 'fail' = failing === 0 ? 'pass' : failing === checks.length ? 'fail' : 'warn';
    let httpStatus = 200;
    // The 503 builds: any failing critical check (here all are: redis, the Dashboard, RPC outside emergency mode).
    if (failing > 0 && tykHelloRules(c.version) === 'critical-503') {
      status = 'fail';
      httpStatus = 503;
    }
    sendJson(res, httpStatus, { status, ...body, details });
  }

  /** Whether the component's pods answer at all (behind its ingress). */
  private answers(c: StoredComponentState): boolean {
    const fault = this.faultOf(c);
    if (fault === 'unreachable') return false;
    // A Dashboard broken by its upgrade: liveness only, so all it can do is stop answering.
    return !(c.kind === 'dashboard' && fault === 'fail-after-upgrade' && c.version !== c.initialVersion);
  }

  /** When a rollout last restarted the component (epoch ms), or undefined: running since before the fleet knew it. */
  private startedAt(c: StoredComponentState): number | undefined {
    // A failed rollout leaves the old pods running; a superseded one is followed by the rollout that superseded it.
    return c.lastRollout?.outcome === 'succeeded' ? Date.parse(c.lastRollout.finishedAt) : undefined;
  }

  /** When the Gateway's latest check ran: Tyk checks every check_duration from its start. */
  private lastCheckAt(startedAt: number, now: number): number {
    if (this.checkDurationMs <= 0) return now;
    return startedAt + Math.floor((now - startedAt) / this.checkDurationMs) * this.checkDurationMs;
  }

  // --- Rollouts -----------------------------------------------------------------------------------------------

  private deploy(c: StoredComponentState, body: unknown): DeployResponse {
    const request = body as { version?: unknown; requestId?: unknown; config?: unknown } | null;
    const raw = request && typeof request === 'object' ? request.version : undefined;
    const version = typeof raw === 'string' ? normalizeVersion(raw) : undefined;
    if (!version) throw new HttpError(400, `version = ${JSON.stringify(raw)}: not a semantic version such as 5.8.2`);
    const requestId = typeof request?.requestId === 'string' ? request.requestId : undefined;
    const parsedConfig = ConfigSchema.optional().safeParse(request?.config);
    if (!parsedConfig.success) throw new HttpError(400, 'config: must be a JSON object of configuration keys');
    const config = parsedConfig.data;
    const parsedRequester = RequesterSchema.optional().safeParse((request as { requestedBy?: unknown }).requestedBy);
    if (!parsedRequester.success)
      throw new HttpError(400, 'requestedBy: must be {workflowId, runId, activityType, attempt, scheduledAt}');
    const now = Date.now();
    const audit = {
      at: new Date(now).toISOString(),
      from: c.version,
      to: version,
      configChange: config !== undefined && !isDeepStrictEqual(config, c.config),
      ...(requestId ? { requestId } : {}),
      ...(parsedRequester.data ? { requestedBy: parsedRequester.data } : {}),
    };

    // Like a Deployment spec: the same version and configuration again is not a new rollout.
    if (c.rollout?.toVersion === version && (!config || isDeepStrictEqual(config, c.rollout.config ?? c.config))) {
      this.audit(c, { event: 'deploy', ...audit, result: 'no-op' });
      return { changed: false, message: `already rolling out to ${version}`, state: this.view(c) };
    }
    if (!c.rollout && c.version === version && (!config || isDeepStrictEqual(config, c.config))) {
      this.audit(c, { event: 'deploy', ...audit, result: 'no-op' });
      return { changed: false, message: `already running ${version}`, state: this.view(c) };
    }
    const superseded = c.rollout?.generation;
    if (c.rollout) {
      // Like a Deployment whose image changes mid-rollout: the new spec supersedes the old one.
      c.lastRollout = { ...c.rollout, outcome: 'superseded', finishedAt: new Date(now).toISOString() };
    }
    c.deployGeneration += 1;
    c.rollout = {
      generation: c.deployGeneration,
      fromVersion: c.version,
      toVersion: version,
      ...(config ? { config } : {}),
      ...(requestId ? { requestId } : {}),
      startedAt: new Date(now).toISOString(),
      doneAt: new Date(
        now + this.rolloutMs * (this.faultOf(c) === 'slow-rollout' ? SLOW_ROLLOUT_FACTOR : 1),
      ).toISOString(),
    };
    this.persist();
    this.audit(c, {
      event: 'deploy',
      ...audit,
      result: 'started',
      generation: c.deployGeneration,
      ...(superseded !== undefined ? { supersedes: superseded } : {}),
    });
    const withConfig = config && !isDeepStrictEqual(config, c.config) ? ' with a new configuration' : '';
    return { changed: true, message: `rolling out ${c.version} → ${version}${withConfig}`, state: this.view(c) };
  }

  /** Finishes the component's rollout if its time has come; true when it changed the state (caller persists). */
  private settle(c: StoredComponentState, now = Date.now()): boolean {
    const rollout = c.rollout;
    if (!rollout || Date.parse(rollout.doneAt) > now) return false;
    const fails = this.faultOf(c) === 'upgrade-error' && rollout.toVersion !== c.initialVersion;
    if (fails) {
      c.lastRollout = {
        ...rollout,
        outcome: 'failed',
        finishedAt: rollout.doneAt,
        reason: 'ProgressDeadlineExceeded',
        message: `progress deadline exceeded; ${c.version} keeps running`,
      };
    } else {
      c.previousVersion = c.version;
      c.version = rollout.toVersion;
      if (rollout.config) c.config = rollout.config;
      c.lastRollout = { ...rollout, outcome: 'succeeded', finishedAt: rollout.doneAt };
    }
    c.rollout = null;
    this.audit(c, {
      event: 'finished',
      at: rollout.doneAt,
      generation: rollout.generation,
      outcome: fails ? 'failed' : 'succeeded',
      version: c.version,
    });
    return true;
  }

  private audit(
    c: StoredComponentState,
    entry: DistributiveOmit<SimulatedAuditEntry, 'controlPlaneId' | 'componentId' | 'kind'>,
  ): void {
    const file = this.opts.auditLog;
    if (!file) return;
    const line: SimulatedAuditEntry = {
      ...entry,
      controlPlaneId: c.controlPlaneId,
      componentId: c.componentId,
      kind: c.kind,
    } as SimulatedAuditEntry;
    appendFileSync(file, `${JSON.stringify(line)}\n`, 'utf8');
  }

  private settleAll(): void {
    const now = Date.now();
    let changed = false;
    for (const c of this.components.values()) changed = this.settle(c, now) || changed;
    if (changed) this.persist();
  }

  private faultOf(c: StoredComponentState): SimulatedFault | undefined {
    return this.faults.get(keyOf(c.controlPlaneId, c.componentId));
  }

  private view(c: StoredComponentState): SimulatedComponentState {
    return structuredClone({ ...c, fault: this.faultOf(c) ?? null });
  }

  /** Atomic: a reader (or a crash) sees the old file or the new one, never half of one. */
  private persist(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    const data: z.input<typeof StateFileSchema> = { format: 1, components: [...this.components.values()] };
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, 'utf8');
    renameSync(tmp, file);
  }
}

/** Components in the state file keep their state; components only in the inventory start at its versions. */
function initialState(inventory: Inventory, stateFile: string | undefined): Map<string, StoredComponentState> {
  const components = new Map<string, StoredComponentState>();
  const saved = new Map<string, z.infer<typeof ComponentStateSchema>>();
  if (stateFile && existsSync(stateFile)) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(stateFile, 'utf8'));
    } catch (err) {
      throw new Error(`simulated fleet state ${stateFile} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    for (const c of parseWith(StateFileSchema, data, `simulated fleet state ${stateFile}`).components) {
      // Written before configurations were kept: seeded from the inventory below, like a new component's.
      if (c.config) components.set(keyOf(c.controlPlaneId, c.componentId), { ...c, config: c.config });
      else saved.set(keyOf(c.controlPlaneId, c.componentId), c);
    }
  }
  for (const { ref, version, config } of componentsOf(inventory)) {
    const key = keyOf(ref.controlPlaneId, ref.id);
    if (components.has(key)) continue;
    const old = saved.get(key);
    if (old) {
      components.set(key, { ...old, config });
      saved.delete(key);
      continue;
    }
    components.set(key, {
      controlPlaneId: ref.controlPlaneId,
      componentId: ref.id,
      kind: ref.kind,
      initialVersion: version,
      version,
      previousVersion: null,
      config,
      rollout: null,
      lastRollout: null,
      deployGeneration: 0,
    });
  }
  for (const [key, old] of saved) components.set(key, { ...old, config: {} });
  return components;
}

/** Where the simulated fleet at `baseUrl` serves a component's Tyk-style `/hello`; usable from any process. */
export function simulatedHealthUrl(baseUrl: string, c: ComponentRef): string {
  return `${componentUrl(baseUrl, c.controlPlaneId, c.id)}/hello`;
}

/**
 * The health probe of a simulated fleet, wired the way production wires Kubernetes: each Gateway's /hello is judged
 * by its checks, the Dashboard's is liveness only, with its version from the platform (there, the image tag).
 */
export function simulatedHealthProbe(
  baseUrl: string,
  opts: { timeoutMs?: number; platform?: PlatformPort } = {},
): HttpHealthProbe {
  const platform = opts.platform ?? new SimulatedPlatform(baseUrl);
  return new HttpHealthProbe((c) => simulatedHealthUrl(baseUrl, c), {
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    livenessOnly: (c) => c.kind === 'dashboard',
    versionOf: (c) => platform.currentVersion(c),
  });
}

/**
 * How a Tyk Gateway build answers /hello. `always-200`: HTTP 200, `fail` only when every check fails, `warn` when some
 * do. `critical-503`: `fail` with HTTP 503 as soon as a critical check fails (TT-9234's rules, shipped in 5.8.3,
 * 5.8.6–5.8.12 and 5.9.0, reverted by TT-15507 in 5.8.4, 5.9.1 and, on the 5.8 line again, 5.8.13).
 */
export function tykHelloRules(version: string): 'always-200' | 'critical-503' {
  const { major, minor, patch } = semver.parse(parseVersion(version, 'version'))!;
  if (major !== 5) return 'always-200';
  if (minor === 9) return patch === 0 ? 'critical-503' : 'always-200';
  if (minor === 8) return patch === 3 || (patch >= 6 && patch <= 12) ? 'critical-503' : 'always-200';
  return 'always-200';
}

/** Go's time.RFC3339, as Tyk writes a check's time: whole seconds. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function componentUrl(baseUrl: string, controlPlaneId: string, componentId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/cp/${encodeURIComponent(controlPlaneId)}/${encodeURIComponent(componentId)}`;
}

function allow(method: string, expected: string): void {
  if (method !== expected) throw new HttpError(405, `method ${method} not allowed here; use ${expected}`);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const MAX_BODY_BYTES = 64 * 1024;

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The platform adapter

export interface SimulatedPlatformOptions {
  /** How often to poll a rollout. Default 250. */
  pollMs?: number;
  /** Timeout of each HTTP call. Default 5000. */
  requestTimeoutMs?: number;
}

/** Drives a SimulatedFleet over its admin API, like a Kubernetes adapter drives Deployments. */
export class SimulatedPlatform implements PlatformPort {
  readonly name = 'simulated';
  private readonly pollMs: number;
  private readonly requestTimeoutMs: number;

  constructor(
    readonly baseUrl: string,
    opts: SimulatedPlatformOptions = {},
  ) {
    this.pollMs = opts.pollMs ?? 250;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
  }

  async currentVersion(component: ComponentRef): Promise<string> {
    return (await this.componentState(component)).version;
  }

  async snapshot(component: ComponentRef): Promise<ComponentSnapshot> {
    const state = await this.componentState(component);
    return {
      component,
      version: state.version,
      takenAt: new Date().toISOString(),
      config: state.config,
      data: { version: state.version },
    };
  }

  /**
   * Rolls the component to `targetVersion`; configuration migrations go into the same rollout, computed from the
   * configuration it runs now, so a retry (mid-rollout or after it) asks for the same thing and migrates nothing twice.
   */
  async upgrade(
    component: ComponentRef,
    targetVersion: string,
    progress: Progress,
    signal: AbortSignal,
    options: UpgradeOptions = {},
  ): Promise<PlatformChangeResult> {
    const target = parseVersion(targetVersion, 'targetVersion');
    signal.throwIfAborted();
    const before = await this.componentState(component, signal);
    const migrations = options.configMigrations ?? [];
    let migrated: ReturnType<typeof applyConfigMigrations> | undefined;
    try {
      migrated = migrations.length > 0 ? applyConfigMigrations(before.config, migrations) : undefined;
    } catch (err) {
      // The configuration contradicts the migration: a retry would meet the same configuration.
      const what = `${componentLabel(component)} of ${component.controlPlaneId}`;
      throw new RolloutFailedError(`${what}: ${(err as Error).message}`, { cause: err });
    }
    return this.rollTo(
      component,
      target,
      migrated?.applied.length ? migrated.config : undefined,
      before,
      progress,
      signal,
      options,
    );
  }

  /** Puts the component back on the snapshot's version and configuration; a no-op when it already runs them. */
  async restore(
    component: ComponentRef,
    snapshot: ComponentSnapshot,
    progress: Progress,
    signal: AbortSignal,
    options: ChangeOptions = {},
  ): Promise<PlatformChangeResult> {
    const target = parseVersion(snapshot.version, 'snapshot.version');
    signal.throwIfAborted();
    const before = await this.componentState(component, signal);
    return this.rollTo(component, target, snapshot.config, before, progress, signal, options);
  }

  /** Deploys `target` (with `config` when given, else the configuration it has) and waits for that rollout. */
  private async rollTo(
    component: ComponentRef,
    target: string,
    config: Record<string, unknown> | undefined,
    before: SimulatedComponentState,
    progress: Progress,
    signal: AbortSignal,
    options: ChangeOptions = {},
  ): Promise<PlatformChangeResult> {
    const configDone = !config || isDeepStrictEqual(config, before.config);
    if (before.version === target && !before.rollout && configDone) return { changed: false, from: target, to: target };

    const deployed = await this.call<DeployResponse>(
      'POST',
      `${this.url(component)}/deploy`,
      {
        version: target,
        requestId: randomUUID(),
        ...(config ? { config } : {}),
        ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}),
      },
      signal,
    );
    // A retry finds its own rollout still running (changed: false) and waits for that one.
    const generation = deployed.state.rollout?.generation;
    const from = deployed.state.rollout?.fromVersion ?? deployed.state.version;
    if (generation === undefined) {
      // Nothing to wait for: it finished between our two calls.
      if (deployed.state.version === target) return { changed: true, from: before.version, to: target };
      throw new Error(this.failureMessage(component, target, deployed.state));
    }

    const startedAt = Date.now();
    for (;;) {
      const state = await this.componentState(component, signal);
      if (state.rollout?.generation === generation) {
        progress({
          phase: 'rolling-out',
          component: componentLabel(component),
          from,
          to: target,
          elapsedMs: Date.now() - startedAt,
          doneAt: state.rollout.doneAt,
        });
        await sleep(this.pollMs, signal);
        continue;
      }
      const finished = state.lastRollout?.generation === generation ? state.lastRollout : undefined;
      if (finished?.outcome === 'succeeded' && state.version === target) return { changed: true, from, to: target };
      const message = this.failureMessage(component, target, state, finished);
      // A failed rollout will fail again if retried (RolloutFailedError is not retried); a superseded one may not.
      throw finished?.outcome === 'failed' ? new RolloutFailedError(message) : new Error(message);
    }
  }

  private failureMessage(
    component: ComponentRef,
    target: string,
    state: SimulatedComponentState,
    finished?: SimulatedFinishedRollout,
  ): string {
    const what = `rollout of ${componentLabel(component)} of ${component.controlPlaneId} to ${target}`;
    if (finished?.outcome === 'failed') {
      const reason =
        finished.reason === 'ProgressDeadlineExceeded' ? 'progress deadline exceeded' : (finished.reason ?? 'failed');
      return `${what} failed: ${reason}; ${state.version} keeps running`;
    }
    const now = state.rollout ? `, now rolling out to ${state.rollout.toVersion}` : '';
    return `${what} was superseded by another deploy: ${state.version} is running${now}`;
  }

  private url(component: ComponentRef): string {
    return componentUrl(this.baseUrl, component.controlPlaneId, component.id);
  }

  private componentState(component: ComponentRef, signal?: AbortSignal): Promise<SimulatedComponentState> {
    return this.call<SimulatedComponentState>('GET', this.url(component), undefined, signal);
  }

  private async call<T>(method: 'GET' | 'POST', url: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const { timeout, combined } = withTimeout(this.requestTimeoutMs, signal);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        signal: combined,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const why = timeout.aborted ? `timed out after ${this.requestTimeoutMs} ms` : describeFetchError(err);
      throw new Error(`simulated platform: ${method} ${url} ${why}`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { error?: string }).error ?? detail;
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`simulated platform: ${method} ${url} answered ${res.status}: ${detail}`);
    }
    return JSON.parse(text) as T;
  }
}
