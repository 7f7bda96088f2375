// The PlatformPort for Tyk components deployed on Kubernetes (Helm chart Deployments). The version is the image tag
// of the component's container; the configuration, when the target names one, is a JSON file (tyk.conf) in a
// ConfigMap. An upgrade rewrites the ConfigMap first, then patches the image tag and a config-hash annotation of the
// pod template in one strategic-merge patch, so one rollout restarts the pods on the new version with the new
// configuration. A restore puts the ConfigMap back and replaces the pod template with the snapshot's, as
// `kubectl rollout undo` does. Both wait for the rollout the way `kubectl rollout status` does (kubeRolloutStatus.ts).
//
// The RBAC this needs is exactly deploy/kubernetes/rbac.yaml: get + patch deployments, get + update configmaps.
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { z } from 'zod';
import {
  PermissionDeniedError,
  RequestRejectedError,
  RetryLaterError,
  RolloutFailedError,
  type PlatformChangeResult,
  type PlatformPort,
  type Progress,
  type UpgradeOptions,
} from '../activities/ports';
import { applyConfigMigrations } from '../domain/compatibility';
import { componentLabel, type ComponentRef, type ComponentSnapshot, type ConfigMigration } from '../domain/model';
import { normalizeVersion, parseVersion } from '../domain/versions';
import { rolloutStatus } from './kubeRolloutStatus';
import { parseRetryAfter, sleep } from './httpClient';

/** Where a component lives in the cluster. */
export interface KubeTarget {
  namespace: string;
  deployment: string;
  /** The container whose image tag is the component's version, e.g. `gateway-tyk-gateway`. */
  container: string;
  /**
   * The repository the chart deploys, without a tag, e.g. `docker.tyk.io/tyk-gateway/tyk-gateway`. Informational:
   * an upgrade keeps the repository the container runs (customers mirror images to private registries) and changes
   * only the tag; progress reports say when the two differ.
   */
  image: string;
  /** The ConfigMap holding the component's JSON configuration, e.g. `{ name: 'tyk-gateway-conf', key: 'tyk.conf' }`. */
  configMap?: { name: string; key: string };
}

export interface KubernetesPlatformOptions {
  kubeConfig: k8s.KubeConfig;
  resolve: (component: ComponentRef) => KubeTarget | Promise<KubeTarget>;
  /** How often to read the Deployment while a rollout runs (each read reports progress). Default 2000. */
  pollMs?: number;
  /**
   * A safety net beyond the Deployment's progressDeadlineSeconds (which is what normally ends a stuck rollout):
   * waiting longer than this fails the rollout. Default 15 minutes.
   */
  rolloutTimeoutMs?: number;
  /** How many times a write that met a 409 Conflict is re-read and retried. Default 5. */
  conflictRetries?: number;
  /**
   * Deadline of each API request. A hung API server then fails the call with a retryable error that says so, instead
   * of holding the activity until its heartbeat times out. Default 30 s.
   */
  requestTimeoutMs?: number;
}

/** Pod-template annotation holding a hash of the ConfigMap content the pods must run: changing it restarts them. */
export const CONFIG_HASH_ANNOTATION = 'nightshift.io/config-hash';
/** Deployment annotation: the version nightshift's last change moved away from (reported by a retried call). */
export const PREVIOUS_VERSION_ANNOTATION = 'nightshift.io/previous-version';
const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
const RBAC_MANIFEST = 'deploy/kubernetes/rbac.yaml';

/** A client for an API server at `server` with a bearer token (e.g. a ServiceAccount token). */
export function kubeConfigFrom(opts: {
  server: string;
  token: string;
  caPem?: string;
  skipTlsVerify?: boolean;
}): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'nightshift',
        server: opts.server,
        // client-node refuses an http:// server unless this is set, although there is no TLS to skip.
        skipTLSVerify: (opts.skipTlsVerify ?? false) || opts.server.startsWith('http:'),
        ...(opts.caPem ? { caData: Buffer.from(opts.caPem, 'utf8').toString('base64') } : {}),
      },
    ],
    users: [{ name: 'nightshift', token: opts.token }],
    contexts: [{ name: 'nightshift', cluster: 'nightshift', user: 'nightshift' }],
    currentContext: 'nightshift',
  });
  return kc;
}

/**
 * The configuration kubectl would use: $KUBECONFIG, else ~/.kube/config, else the pod's ServiceAccount when running
 * in a cluster. Throws when there is none (client-node would silently fall back to http://localhost:8080).
 */
export function defaultKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
    throw new Error(
      'no Kubernetes configuration found: set KUBECONFIG, create ~/.kube/config, or run in a pod with a ServiceAccount',
    );
  }
  return kc;
}

// ---------------------------------------------------------------------------------------------------------------
// Image references

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

/** `registry:5000/org/name:v5.8.1@sha256:…` → repository, tag and digest (a port is not a tag). */
export function parseImageRef(image: string): ImageRef {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') ? rest.slice(colon + 1) : undefined;
  const repository = tag === undefined ? rest : rest.slice(0, colon);
  return { repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * The image running `version`: same repository, tag `v<version>` (Tyk's convention; a tag written without the `v`
 * keeps that style). A digest is dropped, since it would pin the old image whatever the tag says.
 */
export function imageForVersion(current: ImageRef, version: string): string {
  const prefix = current.tag !== undefined && !current.tag.startsWith('v') ? '' : 'v';
  return `${current.repository}:${prefix}${version}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** A 409: the object changed between our read and our write. Retried internally; never leaves this module. */
class ConflictError extends Error {}

interface Operation {
  verb: 'get' | 'patch' | 'update';
  resource: 'deployments' | 'configmaps';
  namespace: string;
  name: string;
}

const StatusSchema = z.object({ message: z.string().optional(), reason: z.string().optional() });

/** V1Status from an ApiException body: an object, or (404, 409 and most others) the raw JSON text. */
function statusOf(body: unknown): { message?: string; reason?: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() ? { message: body.trim().slice(0, 300) } : {};
    }
  }
  const parsed = StatusSchema.safeParse(value);
  return parsed.success ? parsed.data : {};
}

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  return parseRetryAfter(headers?.['retry-after'] ?? headers?.['Retry-After']);
}

function resourceName(op: Operation): string {
  return op.resource === 'deployments' ? `deployments.apps "${op.name}"` : `configmaps "${op.name}"`;
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshot data

const SnapshotDataSchema = z.object({
  podTemplate: z.record(z.string(), z.unknown()).optional(),
  configMapData: z.string().optional(),
  deploymentRevision: z.string().optional(),
});
export type KubernetesSnapshotData = z.infer<typeof SnapshotDataSchema>;

/** Plain JSON (no Dates, no undefined members), so that templates compare and travel through Temporal. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? null)) as T;
}

/** A pod template as compared and restored: plain JSON without the controller's pod-template-hash label. */
function comparableTemplate(template: unknown): Record<string, unknown> {
  const t = plain(template ?? {}) as { metadata?: { labels?: Record<string, string> } } & Record<string, unknown>;
  if (t.metadata?.labels) {
    delete t.metadata.labels['pod-template-hash'];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

function configHash(raw: string): string {
  return createHash('sha256').update(raw, 'utf8').digest('hex').slice(0, 16);
}

function jsonPointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------------------------
// The adapter

interface Resolved {
  component: ComponentRef;
  target: KubeTarget;
  /** e.g. `gateway of cp-1 (Deployment tyk/gateway-tyk-tyk-gateway)` */
  what: string;
}

/** What one read of the Deployment decided: a patch to send, or nothing. */
type Plan = { body: unknown; contentType: string; from: string } | undefined;

export class KubernetesPlatform implements PlatformPort {
  readonly name = 'kubernetes';
  private readonly apps: k8s.AppsV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly pollMs: number;
  private readonly rolloutTimeoutMs: number;
  private readonly conflictRetries: number;
  private readonly requestTimeoutMs: number;
  private readonly secrets: string[];
  private readonly userName: string;

  constructor(private readonly opts: KubernetesPlatformOptions) {
    this.apps = opts.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.pollMs = opts.pollMs ?? 2000;
    this.rolloutTimeoutMs = opts.rolloutTimeoutMs ?? 15 * 60_000;
    this.conflictRetries = opts.conflictRetries ?? 5;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    const user = opts.kubeConfig.getCurrentUser();
    this.secrets = [user?.token, user?.password].filter((s): s is string => typeof s === 'string' && s.length >= 4);
    this.userName = user?.name ?? 'the configured user';
  }

  async currentVersion(component: ComponentRef): Promise<string> {
    const r = await this.resolve(component);
    const d = await this.readDeployment(r);
    return this.versionOf(r, d);
  }

  async snapshot(component: ComponentRef): Promise<ComponentSnapshot> {
    const r = await this.resolve(component);
    const d = await this.readDeployment(r);
    const version = this.versionOf(r, d);
    const raw = r.target.configMap ? await this.readConfigData(r) : undefined;
    let config: Record<string, unknown> | undefined;
    if (raw !== undefined) {
      try {
        const parsed: unknown = JSON.parse(raw.data);
        if (isJsonObject(parsed)) config = parsed;
      } catch {
        // Not JSON: restore still puts the raw text back.
      }
    }
    const revision = d.metadata?.annotations?.[REVISION_ANNOTATION];
    const data: KubernetesSnapshotData = {
      podTemplate: comparableTemplate(d.spec?.template),
      ...(raw !== undefined ? { configMapData: raw.data } : {}),
      ...(revision !== undefined ? { deploymentRevision: revision } : {}),
    };
    return { component, version, takenAt: new Date().toISOString(), ...(config ? { config } : {}), data };
  }

  /**
   * Rolls the Deployment to `targetVersion`. With configuration migrations and a ConfigMap, the ConfigMap is
   * rewritten first and the pod template carries its hash, so the same rollout restarts the pods on it. A retry
   * finds the ConfigMap migrated (nothing applies twice) and the template on target, and only waits.
   */
  async upgrade(
    component: ComponentRef,
    targetVersion: string,
    progress: Progress,
    signal: AbortSignal,
    options: UpgradeOptions = {},
  ): Promise<PlatformChangeResult> {
    const version = parseVersion(targetVersion, 'targetVersion');
    signal.throwIfAborted();
    const r = await this.resolve(component);
    const migrations = options.configMigrations ?? [];
    if (migrations.length > 0 && !r.target.configMap) {
      // The keys are in use (that is why there are migrations) and we cannot rewrite them: the new version would
      // start on a configuration it no longer understands.
      const keys = migrations.map((m) => `${m.key} → ${m.to}`).join(', ');
      throw new RequestRejectedError(
        `${r.what}: configuration keys must be renamed (${keys}) but no ConfigMap is known`,
      );
    }
    let hash: string | undefined;
    let configChanged = false;
    if (migrations.length > 0) ({ hash, changed: configChanged } = await this.migrateConfig(r, migrations, signal));
    const result = await this.change(r, version, progress, signal, (d) => this.imagePlan(r, d, version, hash));
    return configChanged && !result.changed ? { ...result, changed: true } : result;
  }

  /**
   * The strategic-merge patch that moves the container to `version` by its image tag (and stamps the config hash,
   * when given), or undefined when the Deployment already has both.
   */
  private imagePlan(r: Resolved, d: k8s.V1Deployment, version: string, hash?: string): Plan {
    const image = parseImageRef(this.containerOf(r, d).image ?? '');
    const from = this.versionOf(r, d);
    const annotations = d.spec?.template?.metadata?.annotations ?? {};
    const imageOk = from === version && image.digest === undefined;
    const hashOk = hash === undefined || annotations[CONFIG_HASH_ANNOTATION] === hash;
    if (imageOk && hashOk) return undefined;
    return {
      from,
      contentType: k8s.PatchStrategy.StrategicMergePatch,
      body: {
        metadata: { annotations: { [PREVIOUS_VERSION_ANNOTATION]: from } },
        spec: {
          template: {
            ...(hash !== undefined ? { metadata: { annotations: { [CONFIG_HASH_ANNOTATION]: hash } } } : {}),
            spec: { containers: [{ name: r.target.container, image: imageForVersion(image, version) }] },
          },
        },
      },
    };
  }

  /**
   * Puts the ConfigMap data back when it differs, and the snapshot's pod template (a JSON Patch replacing
   * /spec/template, as `kubectl rollout undo` does), then waits for that rollout. A snapshot without a template
   * (taken by another adapter) restores the version by its image tag.
   */
  async restore(
    component: ComponentRef,
    snapshot: ComponentSnapshot,
    progress: Progress,
    signal: AbortSignal,
  ): Promise<PlatformChangeResult> {
    const version = parseVersion(snapshot.version, 'snapshot.version');
    signal.throwIfAborted();
    const r = await this.resolve(component);
    const parsed = SnapshotDataSchema.safeParse(snapshot.data ?? {});
    if (!parsed.success) {
      throw new RequestRejectedError(`${r.what}: the snapshot's data is not a Kubernetes snapshot; cannot restore it`);
    }
    const data = parsed.data;
    const configText =
      data.configMapData ?? (snapshot.config ? `${JSON.stringify(snapshot.config, null, 2)}\n` : undefined);
    let configChanged = false;
    if (r.target.configMap && configText !== undefined) configChanged = await this.restoreConfig(r, configText, signal);

    const want = data.podTemplate ? comparableTemplate(data.podTemplate) : undefined;
    const result = await this.change(r, version, progress, signal, (d) => {
      if (!want) return this.imagePlan(r, d, version);
      const from = this.versionOf(r, d);
      const annotations = d.metadata?.annotations;
      if (isDeepStrictEqual(comparableTemplate(d.spec?.template), want)) return undefined;
      const annotate = annotations
        ? { op: 'add', path: `/metadata/annotations/${jsonPointerToken(PREVIOUS_VERSION_ANNOTATION)}`, value: from }
        : { op: 'add', path: '/metadata/annotations', value: { [PREVIOUS_VERSION_ANNOTATION]: from } };
      return {
        from,
        contentType: k8s.PatchStrategy.JsonPatch,
        body: [{ op: 'replace', path: '/spec/template', value: want }, annotate],
      };
    });
    return configChanged && !result.changed ? { ...result, changed: true } : result;
  }

  // --- Rollouts -----------------------------------------------------------------------------------------------

  /**
   * Reads the Deployment, patches it when `plan` says so (re-reading on a conflict), and waits for the rollout. When
   * nothing needs patching, a finished rollout means nothing changed; an unfinished one (a retry that finds its own
   * rollout running) is waited for without patching again.
   */
  private async change(
    r: Resolved,
    version: string,
    progress: Progress,
    signal: AbortSignal,
    plan: (d: k8s.V1Deployment) => Plan,
  ): Promise<PlatformChangeResult> {
    const outcome = await this.retryingConflicts(r, signal, async () => {
      const d = await this.readDeployment(r, signal);
      const p = plan(d);
      const previous = d.metadata?.annotations?.[PREVIOUS_VERSION_ANNOTATION];
      if (!p) return { patched: false, from: previous ?? version, status: rolloutStatus(d) };
      if (d.spec?.paused) {
        throw new RequestRejectedError(
          `${r.what} is paused (spec.paused): resume it with kubectl rollout resume before nightshift changes it`,
        );
      }
      const after = await this.call(
        { verb: 'patch', resource: 'deployments', namespace: r.target.namespace, name: r.target.deployment },
        signal,
        () =>
          this.apps.patchNamespacedDeployment(
            { name: r.target.deployment, namespace: r.target.namespace, body: p.body },
            k8s.setHeaderOptions('Content-Type', p.contentType),
          ),
      );
      return { patched: true, from: p.from, status: rolloutStatus(after) };
    });
    if (!outcome.patched && outcome.status.state === 'done') return { changed: false, from: version, to: version };
    await this.waitForRollout(r, outcome.from, version, progress, signal);
    return { changed: true, from: outcome.from, to: version };
  }

  private async waitForRollout(
    r: Resolved,
    from: string,
    to: string,
    progress: Progress,
    signal: AbortSignal,
  ): Promise<void> {
    const startedAt = Date.now();
    for (;;) {
      const d = await this.readDeployment(r, signal);
      const status = rolloutStatus(d);
      const running = parseImageRef(this.containerOf(r, d).image ?? '').repository;
      progress({
        phase: 'rolling-out',
        component: componentLabel(r.component),
        namespace: r.target.namespace,
        deployment: r.target.deployment,
        from,
        to,
        state: status.state,
        message: status.message,
        ...status.counts,
        ...(running !== r.target.image ? { repository: running, expectedRepository: r.target.image } : {}),
        elapsedMs: Date.now() - startedAt,
      });
      if (status.state === 'done') return;
      if (status.state === 'failed') {
        throw new RolloutFailedError(this.redact(`rollout of ${r.what} to ${to} failed: ${status.message}`));
      }
      if (Date.now() - startedAt > this.rolloutTimeoutMs) {
        const minutes = Math.round(this.rolloutTimeoutMs / 60_000);
        throw new RolloutFailedError(
          this.redact(`rollout of ${r.what} to ${to} did not finish within ${minutes} min: ${status.message}`),
        );
      }
      await sleep(this.pollMs, signal);
    }
  }

  // --- ConfigMap ----------------------------------------------------------------------------------------------

  /** Applies the migrations to the ConfigMap's JSON (once: a retry finds them applied); returns the content's hash. */
  private async migrateConfig(
    r: Resolved,
    migrations: ConfigMigration[],
    signal: AbortSignal,
  ): Promise<{ hash: string; changed: boolean }> {
    return this.retryingConflicts(r, signal, async () => {
      const current = await this.readConfigData(r, signal);
      let config: unknown;
      try {
        config = JSON.parse(current.data);
      } catch (err) {
        throw new RequestRejectedError(`${this.configWhat(r)} is not JSON: ${(err as Error).message}`, { cause: err });
      }
      if (!isJsonObject(config)) throw new RequestRejectedError(`${this.configWhat(r)} is not a JSON object`);
      let migrated: ReturnType<typeof applyConfigMigrations>;
      try {
        migrated = applyConfigMigrations(config, migrations);
      } catch (err) {
        // The configuration contradicts the migration: a retry would meet the same configuration.
        throw new RolloutFailedError(`${this.configWhat(r)}: ${(err as Error).message}`, { cause: err });
      }
      if (migrated.applied.length === 0) return { hash: configHash(current.data), changed: false };
      const text = `${JSON.stringify(migrated.config, null, 2)}${current.data.endsWith('\n') ? '\n' : ''}`;
      await this.writeConfigData(r, current.configMap, text, signal);
      return { hash: configHash(text), changed: true };
    });
  }

  /** Puts `text` back as the ConfigMap key's content; false when it already was. */
  private async restoreConfig(r: Resolved, text: string, signal: AbortSignal): Promise<boolean> {
    return this.retryingConflicts(r, signal, async () => {
      const current = await this.readConfigData(r, signal);
      if (current.data === text) return false;
      await this.writeConfigData(r, current.configMap, text, signal);
      return true;
    });
  }

  private async readConfigData(
    r: Resolved,
    signal?: AbortSignal,
  ): Promise<{ configMap: k8s.V1ConfigMap; data: string }> {
    const { name, key } = r.target.configMap!;
    const configMap = await this.call(
      { verb: 'get', resource: 'configmaps', namespace: r.target.namespace, name },
      signal,
      () => this.core.readNamespacedConfigMap({ name, namespace: r.target.namespace }),
    );
    const data = configMap.data?.[key];
    if (data === undefined) throw new RequestRejectedError(`${this.configWhat(r)} does not exist (no such key)`);
    return { configMap, data };
  }

  /** PUT with the resourceVersion we read: a concurrent change answers 409 and the caller re-reads. */
  private async writeConfigData(
    r: Resolved,
    configMap: k8s.V1ConfigMap,
    text: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { name, key } = r.target.configMap!;
    const body: k8s.V1ConfigMap = { ...configMap, data: { ...configMap.data, [key]: text } };
    await this.call({ verb: 'update', resource: 'configmaps', namespace: r.target.namespace, name }, signal, () =>
      this.core.replaceNamespacedConfigMap({ name, namespace: r.target.namespace, body }),
    );
  }

  private configWhat(r: Resolved): string {
    const { name, key } = r.target.configMap!;
    return `key ${key} of ConfigMap ${r.target.namespace}/${name} (${componentLabel(r.component)} of ${r.component.controlPlaneId})`;
  }

  // --- Reads, calls, errors -----------------------------------------------------------------------------------

  private async resolve(component: ComponentRef): Promise<Resolved> {
    const target = await this.opts.resolve(component);
    const what = `${componentLabel(component)} of ${component.controlPlaneId} (Deployment ${target.namespace}/${target.deployment})`;
    return { component, target, what };
  }

  private readDeployment(r: Resolved, signal?: AbortSignal): Promise<k8s.V1Deployment> {
    const { namespace, deployment: name } = r.target;
    return this.call({ verb: 'get', resource: 'deployments', namespace, name }, signal, () =>
      this.apps.readNamespacedDeployment({ name, namespace }),
    );
  }

  private containerOf(r: Resolved, d: k8s.V1Deployment): k8s.V1Container {
    const containers = d.spec?.template?.spec?.containers ?? [];
    const container = containers.find((c) => c.name === r.target.container);
    if (!container) {
      const names = containers.map((c) => c.name).join(', ') || 'none';
      throw new RequestRejectedError(`${r.what} has no container ${r.target.container} (containers: ${names})`);
    }
    return container;
  }

  private versionOf(r: Resolved, d: k8s.V1Deployment): string {
    const image = this.containerOf(r, d).image ?? '';
    const tag = parseImageRef(image).tag;
    const version = tag === undefined ? undefined : normalizeVersion(tag);
    if (!version) {
      throw new RequestRejectedError(
        `${r.what}: container ${r.target.container} runs image ${JSON.stringify(image)}, whose tag is not a version ` +
          'such as v5.8.1; nightshift manages only images tagged by version',
      );
    }
    return version;
  }

  /** Runs `fn`, re-running it (it re-reads) after a 409 Conflict, up to conflictRetries times. */
  private async retryingConflicts<T>(r: Resolved, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        if (attempt >= this.conflictRetries) {
          // Plain Error: retryable; a later attempt may meet a calmer object.
          throw new Error(`${r.what}: still conflicting after ${attempt + 1} attempts: ${err.message}`, {
            cause: err,
          });
        }
        await sleep(Math.min(50 * 2 ** attempt, 1000), signal);
      }
    }
  }

  /** One API call, abandoned when `signal` aborts, with its failure translated for the activity's retry policy. */
  private async call<T>(op: Operation, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    // The request itself is abandoned, not cancelled: client-node 1.x takes no per-call signal.
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return await abortable(fn(), signal ? AbortSignal.any([signal, timeout]) : timeout);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted)
        throw new Error(
          `kubernetes: ${op.verb} ${resourceName(op)} in namespace "${op.namespace}": no answer within ${this.requestTimeoutMs} ms`,
          { cause: err },
        );
      throw this.translate(err, op);
    }
  }

  private translate(err: unknown, op: Operation): Error {
    const where = `${resourceName(op)} in namespace "${op.namespace}"`;
    if (!(err instanceof k8s.ApiException)) {
      const message = err instanceof Error ? err.message : String(err);
      return new Error(this.redact(`kubernetes: ${op.verb} ${where} failed: ${message}`));
    }
    const code = err.code;
    const status = statusOf(err.body);
    const detail = status.message ? `: ${status.message}` : '';
    const reason = status.reason ?? '';
    if (code === 401) {
      return new PermissionDeniedError(
        this.redact(
          `kubernetes: the API server rejected the credentials of ${this.userName} (401 Unauthorized) to ${op.verb} ` +
            `${where}: the token is missing, expired or not valid for this cluster`,
        ),
      );
    }
    if (code === 403) {
      const user = /User "([^"]+)"/.exec(status.message ?? '')?.[1] ?? this.userName;
      return new PermissionDeniedError(
        this.redact(
          `kubernetes: ${user} may not ${op.verb} ${where} (403 Forbidden${detail}). The worker's ServiceAccount needs ` +
            `the Role in ${RBAC_MANIFEST} bound in namespace "${op.namespace}"`,
        ),
      );
    }
    if (code === 404) {
      const kind = op.resource === 'deployments' ? 'Deployment' : 'ConfigMap';
      return new RequestRejectedError(
        this.redact(
          `kubernetes: ${kind} "${op.name}" not found in namespace "${op.namespace}" (404${detail}): check that the ` +
            'namespace and the object exist and that the target resolved for the component names them',
        ),
      );
    }
    if (code === 409) return new ConflictError(this.redact(`${op.verb} ${where} conflicted (409 ${reason}${detail})`));
    if (code === 429) {
      const after = retryAfterMs(err.headers);
      const message = this.redact(`kubernetes: ${op.verb} ${where} was throttled (429 Too Many Requests${detail})`);
      return after === undefined ? new Error(message) : new RetryLaterError(message, after);
    }
    const message = this.redact(
      `kubernetes: ${op.verb} ${where} answered ${code}${reason ? ` ${reason}` : ''}${detail}`,
    );
    return code >= 400 && code < 500 ? new RequestRejectedError(message) : new Error(message);
  }

  /** Credentials never appear in an error, whatever the server or the network library put in its text. */
  private redact(text: string): string {
    return this.secrets.reduce((t, secret) => t.split(secret).join('[redacted]'), text);
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
