// The simulated fleet's HTTP server: Tyk components served over real HTTP, for the demo, the tests and the chaos
// harness. Its routes and what they exchange are in wire.ts; adapter.ts drives it over HTTP.
//
// With `auditLog`, the fleet appends one JSON line per deploy request it received (time, component, from/to, whether
// it started a rollout, and the workflow and activity attempt that asked) and one per rollout that finished: an
// account of every change written by the fleet itself, which the chaos harness judges the workflows by.
//
// The gateway's configuration starts as the inventory's `config`; the other components start with an empty one.
// Faults from the inventory (`simulate.faults`) or the options make a component unhealthy after an upgrade, fail its
// rollouts, or stop answering.
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
// it survives a restart: state persists to `stateFile` (atomically, state.ts) on every change and is loaded at start.
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import semver from 'semver';
import { SIMULATED_FAULTS, type Inventory, type SimulatedFault } from '../../domain/inventory';
import type { ComponentRef } from '../../domain/model';
import { TYK_DEFAULT_CHECK_DURATION_MS } from '../../domain/policy';
import { normalizeVersion, parseVersion } from '../../domain/versions';
import { faultsOf, initialState, keyOf, writeStateFile } from './state';
import {
  ConfigSchema,
  RequesterSchema,
  componentUrl,
  simulatedHealthUrl,
  type DeployResponse,
  type SimulatedAuditEntry,
  type SimulatedComponentState,
  type SimulatedFleetState,
  type StoredComponentState,
} from './wire';

/** How much longer than `rolloutMs` a rollout of a component with the `slow-rollout` fault takes. */
export const SLOW_ROLLOUT_FACTOR = 40;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

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

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

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

  /** Writes the state file, if there is one. */
  private persist(): void {
    if (this.opts.stateFile) writeStateFile(this.opts.stateFile, this.components.values());
  }
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
