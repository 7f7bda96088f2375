// The fake kube-apiserver's HTTP side: its routes, authentication by bearer token, RBAC (rbac.ts), injected faults,
// and the verbs (get, list, create, update, patch) over the stored objects. The deployment controller (controller.ts)
// runs on a timer beside it.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { KubeEnv } from '../kubeEnv';
import { DeploymentController } from './controller';
import {
  ApiError,
  clone,
  isObject,
  ObjectStore,
  type Deployment,
  type Json,
  type JsonObject,
  type StoredObject,
} from './objects';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch';
import { loadRbac, Rbac, RBAC_PLACEHOLDER_NAMESPACE } from './rbac';

export interface FakeKubeFault {
  /** The status to answer, or 'reset' to drop the connection (a network error). */
  status: number | 'reset';
  /** How many matching requests get it. Default 1. */
  times?: number;
  /** Only requests with this method (GET, PUT, PATCH, POST). */
  method?: string;
  /** Only requests for this resource (deployments, configmaps, replicasets). */
  resource?: string;
  /** Sent as Retry-After (seconds). */
  retryAfterSeconds?: number;
}

export interface FakeKubeRequest {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  user: string;
  status: number;
}

export interface FakeKubeApiOptions {
  /** The namespace prepared for tests. Default `nightshift-target` (the placeholder in rbac.yaml). */
  namespace?: string;
  /** How often the controller acts. Default 100. */
  tickMs?: number;
  /** How long a healthy pod takes to become Ready. Default 200. */
  podReadyMs?: number;
  /** The RBAC manifest granting workerToken its rights. Default deploy/kubernetes/rbac.yaml. */
  rbacFile?: string;
}

export interface FakeKubeApi extends KubeEnv {
  readonly kind: 'fake';
  /** Every request answered, oldest first. */
  readonly requests: FakeKubeRequest[];
  /** Answers the next matching requests (after authentication) with a fault instead. */
  inject(fault: FakeKubeFault): void;
}

const MAX_BODY_BYTES = 1024 * 1024;

interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** What clients may do; the controller writes the rest. */
  verbs: readonly string[];
}

const RESOURCES: Record<string, ResourceInfo> = {
  deployments: {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    verbs: ['get', 'list', 'create', 'update', 'patch'],
  },
  replicasets: { group: 'apps', version: 'v1', kind: 'ReplicaSet', verbs: ['get', 'list'] },
  configmaps: { group: '', version: 'v1', kind: 'ConfigMap', verbs: ['get', 'list', 'create', 'update', 'patch'] },
};

interface Route {
  resource: string;
  info: ResourceInfo;
  namespace: string;
  name?: string;
}

class FakeKubeApiServer implements FakeKubeApi {
  readonly kind = 'fake' as const;
  readonly server: string;
  readonly adminToken = `admin-${randomBytes(16).toString('hex')}`;
  readonly workerToken = `worker-${randomBytes(16).toString('hex')}`;
  readonly noRightsToken = `norights-${randomBytes(16).toString('hex')}`;
  readonly namespace: string;
  readonly caPem = undefined;
  brokenImages = new Set<string>();
  readonly requests: FakeKubeRequest[] = [];

  private readonly users: Map<string, string>;
  private readonly admin = 'kubernetes-admin';
  private readonly rbac: Rbac;
  private readonly namespaces = new Set<string>();
  private readonly objectStore = new ObjectStore();
  private readonly controller: DeploymentController;
  private readonly faults: (FakeKubeFault & { left: number })[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly http: Server,
    opts: FakeKubeApiOptions,
  ) {
    const { port } = http.address() as AddressInfo;
    this.server = `http://127.0.0.1:${port}`;
    this.namespace = opts.namespace ?? RBAC_PLACEHOLDER_NAMESPACE;
    this.namespaces.add(this.namespace).add('default');
    const manifest = loadRbac(
      opts.rbacFile ?? join(__dirname, '..', '..', '..', 'deploy', 'kubernetes', 'rbac.yaml'),
      this.namespace,
    );
    this.rbac = new Rbac(manifest.grants, this.admin);
    this.users = new Map([
      [this.adminToken, this.admin],
      [this.workerToken, manifest.serviceAccount],
      [this.noRightsToken, `system:serviceaccount:${this.namespace}:nightshift-no-rights`],
    ]);
    this.controller = new DeploymentController(this.objectStore, opts.podReadyMs ?? 200, () => this.brokenImages);
    this.timer = setInterval(() => this.controller.tick(), opts.tickMs ?? 100);
    this.timer.unref();
  }

  inject(fault: FakeKubeFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve, reject) => {
      this.http.close((err) => (err ? reject(err) : resolve()));
      this.http.closeAllConnections();
    });
  }

  // --- HTTP ---------------------------------------------------------------------------------------------------

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const entry: FakeKubeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      user: 'anonymous',
      status: 0,
    };
    this.requests.push(entry);
    this.route(req, url, entry)
      .then(({ status, body }) => {
        entry.status = status;
        send(res, status, body);
      })
      .catch((err: unknown) => {
        if (err === RESET) {
          entry.status = 0;
          req.socket.destroy();
          return;
        }
        const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message);
        entry.status = e.code;
        send(res, e.code, statusBody(e), e.headers);
      });
  }

  private async route(
    req: IncomingMessage,
    url: URL,
    entry: FakeKubeRequest,
  ): Promise<{ status: number; body: unknown }> {
    const auth = req.headers.authorization ?? '';
    const user = auth.startsWith('Bearer ') ? this.users.get(auth.slice('Bearer '.length)) : undefined;
    if (!user) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    entry.user = user;
    const method = entry.method;

    if (url.pathname === '/api/v1/namespaces' && method === 'POST') {
      this.rbac.authorize(user, 'create', '', 'namespaces', undefined, undefined);
      const body = await readJson(req);
      const name = isObject(body) && isObject(body.metadata) ? body.metadata.name : undefined;
      if (typeof name !== 'string' || !name) throw invalid('Namespace', '', 'metadata.name: Required value');
      if (this.namespaces.has(name)) throw new ApiError(409, 'AlreadyExists', `namespaces "${name}" already exists`);
      this.namespaces.add(name);
      return { status: 201, body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: randomUUID() } } };
    }

    const route = parseRoute(url.pathname);
    const verb =
      method === 'GET'
        ? route.name === undefined
          ? url.searchParams.get('watch') === 'true'
            ? 'watch'
            : 'list'
          : 'get'
        : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method];
    if (!verb) throw new ApiError(405, 'MethodNotAllowed', `method ${method} is not supported`);
    this.rbac.authorize(
      user,
      verb,
      route.info.group,
      route.resource,
      route.namespace,
      verb === 'create' ? undefined : route.name,
    );
    this.fault(method, route.resource);
    if (!route.info.verbs.includes(verb)) {
      throw new ApiError(405, 'MethodNotAllowed', `the fake API server does not support ${verb} on ${route.resource}`);
    }
    if (!this.namespaces.has(route.namespace)) {
      throw new ApiError(404, 'NotFound', `namespaces "${route.namespace}" not found`, {
        name: route.namespace,
        kind: 'namespaces',
      });
    }
    switch (verb) {
      case 'get':
        return { status: 200, body: this.get(route) };
      case 'list':
        return { status: 200, body: this.list(route, url.searchParams.get('labelSelector') ?? '') };
      case 'create':
        return { status: 201, body: this.create(route, await readJson(req)) };
      case 'update':
        return { status: 200, body: this.update(route, await readJson(req)) };
      case 'patch':
        return { status: 200, body: this.patch(route, req.headers['content-type'] ?? '', await readJson(req)) };
      default:
        throw new ApiError(405, 'MethodNotAllowed', `the fake API server does not support ${verb}`);
    }
  }

  private fault(method: string, resource: string): void {
    const fault = this.faults.find(
      (f) => f.left > 0 && (!f.method || f.method === method) && (!f.resource || f.resource === resource),
    );
    if (!fault) return;
    fault.left -= 1;
    if (fault.status === 'reset') throw RESET;
    const headers: Record<string, string> =
      fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : {};
    const reasons: Record<number, [string, string]> = {
      409: [
        'Conflict',
        `Operation cannot be fulfilled on ${resource}: the object has been modified; please apply your changes to the latest version and try again`,
      ],
      429: ['TooManyRequests', 'Too many requests, please try again later.'],
      500: ['InternalError', 'Internal error occurred: injected fault'],
      503: ['ServiceUnavailable', 'The server is currently unable to handle the request'],
    };
    const [reason, message] = reasons[fault.status] ?? ['InternalError', `injected fault ${fault.status}`];
    throw new ApiError(fault.status, reason, message, undefined, headers);
  }

  // --- Verbs --------------------------------------------------------------------------------------------------

  private existing(route: Route): StoredObject {
    const obj =
      route.name === undefined
        ? undefined
        : this.objectStore.objects.get(this.objectStore.key(route.resource, route.namespace, route.name));
    if (!obj) {
      throw new ApiError(404, 'NotFound', `${qualifiedName(route)} "${route.name}" not found`, {
        name: route.name ?? '',
        group: route.info.group,
        kind: route.resource,
      });
    }
    return obj;
  }

  private get(route: Route): StoredObject {
    return this.existing(route);
  }

  private list(route: Route, labelSelector: string): unknown {
    const match = selectorMatcher(labelSelector);
    const items = [...this.objectStore.objects.entries()]
      .filter(([k]) => k.startsWith(`${route.resource}/${route.namespace}/`))
      .map(([, o]) => o)
      .filter((o) => match(o.metadata.labels ?? {}));
    return {
      apiVersion: route.info.group ? `${route.info.group}/${route.info.version}` : route.info.version,
      kind: `${route.info.kind}List`,
      metadata: { resourceVersion: String(this.objectStore.resourceVersion) },
      items,
    };
  }

  private create(route: Route, body: unknown): StoredObject {
    if (route.name !== undefined) throw new ApiError(405, 'MethodNotAllowed', 'POST to a named object');
    if (!isObject(body) || !isObject(body.metadata) || typeof body.metadata.name !== 'string' || !body.metadata.name) {
      throw invalid(route.info.kind, '', 'metadata.name: Required value: name or generateName is required');
    }
    const name = body.metadata.name;
    if (body.metadata.namespace !== undefined && body.metadata.namespace !== route.namespace) {
      throw new ApiError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const key = this.objectStore.key(route.resource, route.namespace, name);
    if (this.objectStore.objects.has(key)) {
      throw new ApiError(409, 'AlreadyExists', `${qualifiedName(route)} "${name}" already exists`, {
        name,
        group: route.info.group,
        kind: route.resource,
      });
    }
    const obj = clone(body) as unknown as StoredObject;
    obj.apiVersion = route.info.group ? `${route.info.group}/${route.info.version}` : route.info.version;
    obj.kind = route.info.kind;
    obj.metadata = {
      ...obj.metadata,
      name,
      namespace: route.namespace,
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      resourceVersion: this.objectStore.nextResourceVersion(),
    };
    if (route.resource === 'deployments') {
      const d = obj as unknown as Deployment;
      d.metadata.generation = 1;
      d.spec = withDeploymentDefaults(d.spec);
      d.status = {};
      validateDeployment(d, undefined);
    }
    this.objectStore.objects.set(key, obj);
    return obj;
  }

  private update(route: Route, body: unknown): StoredObject {
    const current = this.existing(route);
    if (!isObject(body) || !isObject(body.metadata))
      throw invalid(route.info.kind, route.name!, 'metadata: Required value');
    if (body.metadata.name !== undefined && body.metadata.name !== route.name) {
      throw new ApiError(
        400,
        'BadRequest',
        `the name of the object (${String(body.metadata.name)}) does not match the name on the URL (${route.name})`,
      );
    }
    return this.store(route, current, body);
  }

  private patch(route: Route, contentType: string, body: unknown): StoredObject {
    const current = this.existing(route);
    const type = contentType.split(';')[0]!.trim();
    const doc = clone(current) as unknown as Json;
    let patched: Json;
    try {
      if (type === 'application/json-patch+json') patched = jsonPatch(doc, body as Json);
      else if (type === 'application/merge-patch+json') patched = mergePatch(doc, body as Json);
      else if (type === 'application/strategic-merge-patch+json') patched = strategicMergePatch(doc, body as Json);
      else {
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
        );
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(
        422,
        'Invalid',
        `the server rejected our request due to an error in our request: ${(err as Error).message}`,
      );
    }
    if (!isObject(patched) || !isObject(patched.metadata))
      throw invalid(route.info.kind, route.name!, 'metadata: Required value');
    return this.store(route, current, patched);
  }

  /** Writes `next` over `current` as an update would: preconditions, server-owned fields, generation, version. */
  private store(route: Route, current: StoredObject, next: JsonObject): StoredObject {
    const meta = next.metadata as JsonObject;
    if (typeof meta.resourceVersion === 'string' && meta.resourceVersion !== current.metadata.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedName(route)} "${route.name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name: route.name!, group: route.info.group, kind: route.resource },
      );
    }
    const obj = clone(next) as unknown as StoredObject;
    obj.apiVersion = current.apiVersion;
    obj.kind = current.kind;
    obj.metadata = {
      ...obj.metadata,
      name: current.metadata.name,
      namespace: current.metadata.namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      resourceVersion: current.metadata.resourceVersion,
    };
    if (route.resource === 'deployments') {
      const d = obj as unknown as Deployment;
      const before = current as unknown as Deployment;
      d.spec = withDeploymentDefaults(d.spec);
      d.status = before.status; // the status subresource is the controller's
      validateDeployment(d, before);
      d.metadata.generation = (before.metadata.generation ?? 1) + (isDeepStrictEqual(d.spec, before.spec) ? 0 : 1);
    }
    if (isDeepStrictEqual(obj, current)) return current;
    obj.metadata.resourceVersion = this.objectStore.nextResourceVersion();
    this.objectStore.objects.set(this.objectStore.key(route.resource, route.namespace, route.name!), obj);
    return obj;
  }
}

const RESET = Symbol('reset');

function qualifiedName(route: Route): string {
  return route.info.group ? `${route.resource}.${route.info.group}` : route.resource;
}

function invalid(kind: string, name: string, why: string): ApiError {
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${why}`, { name, kind });
}

function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const core = parts[0] === 'api' && parts[1] === 'v1' ? 2 : -1;
  const apps = parts[0] === 'apis' && parts[1] === 'apps' && parts[2] === 'v1' ? 3 : -1;
  const at = core >= 0 ? core : apps;
  const resource = parts[at + 2];
  const info = resource ? RESOURCES[resource] : undefined;
  const groupOk = info && (core >= 0 ? info.group === '' : info.group === 'apps');
  if (at < 0 || parts[at] !== 'namespaces' || !parts[at + 1] || !info || !groupOk || parts.length > at + 4) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  return { resource: resource!, info, namespace: parts[at + 1]!, ...(parts[at + 3] ? { name: parts[at + 3] } : {}) };
}

function selectorMatcher(selector: string): (labels: Record<string, string>) => boolean {
  const terms = selector
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((term) => {
      const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
      if (m) {
        const [, key, op, value] = m as unknown as [string, string, string, string];
        return (l: Record<string, string>) => (op === '!=' ? l[key] !== value : l[key] === value);
      }
      if (term.startsWith('!')) return (l: Record<string, string>) => !Object.hasOwn(l, term.slice(1));
      return (l: Record<string, string>) => Object.hasOwn(l, term);
    });
  return (labels) => terms.every((t) => t(labels));
}

function withDeploymentDefaults(spec: Partial<Deployment['spec']> | undefined): Deployment['spec'] {
  const s = { ...spec } as Deployment['spec'];
  s.replicas ??= 1;
  s.progressDeadlineSeconds ??= 600;
  s.revisionHistoryLimit ??= 10;
  s.strategy ??= { type: 'RollingUpdate' };
  s.strategy.type ??= 'RollingUpdate';
  if (s.strategy.type === 'RollingUpdate') {
    s.strategy.rollingUpdate = { maxSurge: '25%', maxUnavailable: '25%', ...s.strategy.rollingUpdate };
  }
  return s;
}

function validateDeployment(d: Deployment, before: Deployment | undefined): void {
  const name = d.metadata.name;
  const selector = d.spec.selector?.matchLabels ?? {};
  const labels = d.spec.template?.metadata?.labels ?? {};
  if (Object.keys(selector).length === 0) throw invalid('Deployment.apps', name, 'spec.selector: Required value');
  if (Object.entries(selector).some(([k, v]) => labels[k] !== v)) {
    throw invalid(
      'Deployment.apps',
      name,
      'spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`',
    );
  }
  if (before && !isDeepStrictEqual(selector, before.spec.selector.matchLabels ?? {})) {
    throw invalid('Deployment.apps', name, 'spec.selector: Invalid value: field is immutable');
  }
  const containers = d.spec.template?.spec?.containers ?? [];
  if (containers.length === 0) throw invalid('Deployment.apps', name, 'spec.template.spec.containers: Required value');
  for (const [i, c] of containers.entries()) {
    if (!c.name) throw invalid('Deployment.apps', name, `spec.template.spec.containers[${i}].name: Required value`);
    if (!c.image) throw invalid('Deployment.apps', name, `spec.template.spec.containers[${i}].image: Required value`);
  }
}

function statusBody(e: ApiError): unknown {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: e.reason,
    ...(e.details ? { details: e.details } : {}),
    code: e.code,
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'request entity too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the body of the request is not JSON: ${(err as Error).message}`);
  }
}

export async function startFakeKubeApi(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const started: { api?: FakeKubeApiServer } = {};
  const http = createServer((req, res) => {
    if (started.api) return started.api.handle(req, res);
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  started.api = new FakeKubeApiServer(http, opts);
  return started.api;
}
