// The platform adapter for the simulated fleet: implements PlatformPort over the fleet's admin API (wire.ts), like
// the Kubernetes adapter drives Deployments, and wires a health probe to its Tyk-style /hello. It talks to the fleet
// only over HTTP, so the fleet (server.ts) may run in another process.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  RolloutFailedError,
  type ChangeOptions,
  type PlatformChangeResult,
  type PlatformPort,
  type Progress,
  type UpgradeOptions,
} from '../../activities/ports';
import { applyConfigMigrations } from '../../domain/compatibility';
import { componentLabel, type ComponentRef, type ComponentSnapshot } from '../../domain/model';
import { parseVersion } from '../../domain/versions';
import { HttpHealthProbe } from '../httpHealth';
import { describeFetchError, sleep, withTimeout } from '../httpClient';
import {
  componentUrl,
  simulatedHealthUrl,
  type DeployResponse,
  type SimulatedComponentState,
  type SimulatedFinishedRollout,
} from './wire';

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
