// A wire-contract fake of the kube-apiserver, for the adapter suite when no real one is available (see kubeEnv.ts).
// Plain HTTP on 127.0.0.1. It speaks the same URLs, content types, status codes and V1Status bodies as the real one
// for what nightshift uses, and simulates the deployment controller:
//
//   /api/v1/namespaces                                   POST (admin: create a namespace)
//   /api/v1/namespaces/{ns}/configmaps[/{name}]          GET, list, POST, PUT, PATCH
//   /apis/apps/v1/namespaces/{ns}/deployments[/{name}]   GET, list, POST, PUT, PATCH (json-patch, merge-patch,
//                                                        strategic-merge-patch; anything else 415)
//   /apis/apps/v1/namespaces/{ns}/replicasets[/{name}]   GET, list (labelSelector); written by the controller only
//
// Authentication is by bearer token (401 without); authorization follows the Role and RoleBinding in
// deploy/kubernetes/rbac.yaml for workerToken, everything for adminToken, nothing for noRightsToken. The
// controller ticks every tickMs: it observes new generations, creates (or, for a template seen before, reuses) a
// ReplicaSet with the next revision, and rolls pods over under maxSurge/maxUnavailable. A pod is Ready podReadyMs
// after it is created unless its image is in brokenImages, and available minReadySeconds later; a rollout without
// progress for progressDeadlineSeconds gets Progressing=False/ProgressDeadlineExceeded, as the real controller does.
//
// Not reproduced: defaulting of pod specs, field validation beyond the selector and containers, server-side apply,
// watches, managedFields, finalizers and deletion, pods as objects, admission, API discovery, and the exact
// rolling-update arithmetic of the real controller (the sequence of counts differs; the end states match).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeEnv } from './kubeEnv';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

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

const RBAC_PLACEHOLDER_NAMESPACE = 'nightshift-target';
const REVISION = 'deployment.kubernetes.io/revision';
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

// ---------------------------------------------------------------------------------------------------------------
// Stored objects

interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { name?: string; image?: string }[] };
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastUpdateTime: string;
  lastTransitionTime: string;
}

interface Deployment {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    selector: { matchLabels?: Record<string, string> };
    template: PodTemplate;
    strategy: { type: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    minReadySeconds?: number;
    progressDeadlineSeconds: number;
    revisionHistoryLimit: number;
    paused?: boolean;
  };
  status: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: Condition[];
  };
}

interface ReplicaSet {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    minReadySeconds?: number;
    selector: { matchLabels: Record<string, string> };
    template: PodTemplate;
  };
  status: {
    replicas: number;
    fullyLabeledReplicas: number;
    readyReplicas: number;
    availableReplicas: number;
    observedGeneration: number;
  };
}

interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** A simulated pod of a ReplicaSet: no object, just its clock. */
interface Pod {
  createdAt: number;
  readyAt?: number;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Patches

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** The patch merge keys of the lists strategic merge patch merges by key (the rest are replaced whole). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  conditions: 'type',
  hostAliases: 'ip',
};

/** Strategic merge patch, for the parts of it kubectl and client libraries send for Deployments and ConfigMaps. */
export function strategicMergePatch(target: Json | undefined, patch: Json, field?: string): Json {
  if (Array.isArray(patch)) {
    const key = field ? MERGE_KEYS[field] : undefined;
    if (!key || !Array.isArray(target)) return clone(patch.filter((p) => !(isObject(p) && p.$patch === 'delete')));
    const result = [...target];
    for (const item of patch) {
      if (!isObject(item) || item[key] === undefined) {
        result.push(clone(item));
        continue;
      }
      const at = result.findIndex((existing) => isObject(existing) && isDeepStrictEqual(existing[key], item[key]));
      if (item.$patch === 'delete') {
        if (at >= 0) result.splice(at, 1);
      } else if (at >= 0) {
        result[at] = strategicMergePatch(result[at], item);
      } else {
        result.push(strategicMergePatch(undefined, item));
      }
    }
    return result;
  }
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return clone(rest);
  }
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (name.startsWith('$')) continue; // $setElementOrder/…, $retainKeys, $patch: directives that order or prune
    if (value === null) delete result[name];
    else result[name] = strategicMergePatch(result[name], value, name);
  }
  return result;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`path ${JSON.stringify(path)} is not a JSON pointer`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function resolveParent(doc: Json, tokens: string[], path: string): { parent: Json; last: string } {
  let at: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(at) ? at[Number(token)] : isObject(at) ? at[token] : undefined;
    if (next === undefined) throw new Error(`path ${path}: ${token} does not exist`);
    at = next;
  }
  return { parent: at, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return doc;
  const { parent, last } = resolveParent(doc, tokens, path);
  const value = Array.isArray(parent) ? parent[Number(last)] : isObject(parent) ? parent[last] : undefined;
  if (value === undefined) throw new Error(`path ${path} does not exist`);
  return value;
}

/** RFC 6902 JSON Patch. */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new Error('a JSON patch must be an array of operations');
  let result = clone(doc);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new Error(`not a JSON patch operation: ${JSON.stringify(op)}`);
    }
    const path = op.path;
    const value = op.op === 'move' || op.op === 'copy' ? getAt(result, String(op.from)) : op.value;
    if (op.op === 'test') {
      if (!isDeepStrictEqual(getAt(result, path), value)) throw new Error(`test failed at ${path}`);
      continue;
    }
    if (op.op === 'move') result = applyOp(result, 'remove', String(op.from), undefined);
    const kind = op.op === 'move' || op.op === 'copy' ? 'add' : op.op;
    if (!['add', 'remove', 'replace'].includes(kind)) throw new Error(`unknown JSON patch operation ${op.op}`);
    if (kind !== 'remove' && value === undefined) throw new Error(`${op.op} at ${path} has no value`);
    result = applyOp(
      result,
      kind as 'add' | 'remove' | 'replace',
      path,
      value === undefined ? undefined : clone(value),
    );
  }
  return result;
}

function applyOp(doc: Json, op: 'add' | 'remove' | 'replace', path: string, value: Json | undefined): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) {
    if (op === 'remove') throw new Error('cannot remove the whole document');
    return value!;
  }
  const { parent, last } = resolveParent(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`path ${path}: bad index`);
    if (op !== 'add' && index >= parent.length) throw new Error(`path ${path} does not exist`);
    if (op === 'add') parent.splice(index, 0, value!);
    else if (op === 'remove') parent.splice(index, 1);
    else parent[index] = value!;
  } else if (isObject(parent)) {
    if (op !== 'add' && !Object.hasOwn(parent, last)) throw new Error(`path ${path} does not exist`);
    if (op === 'remove') delete parent[last];
    else parent[last] = value!;
  } else {
    throw new Error(`path ${path}: parent is not an object or array`);
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------------------------
// RBAC from the manifest

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

interface Grant {
  user: string;
  namespace: string;
  rules: PolicyRule[];
}

/** The ServiceAccount the manifest creates, and the rules its RoleBindings give, in `namespace`. */
function loadRbac(file: string, namespace: string): { serviceAccount: string; grants: Grant[] } {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Record<string, unknown> | null);
  const ns = (value: unknown) =>
    value === RBAC_PLACEHOLDER_NAMESPACE || value === undefined ? namespace : String(value);
  type Meta = { name: string; namespace?: string };
  const roles = new Map<string, PolicyRule[]>();
  let serviceAccount: string | undefined;
  for (const doc of docs) {
    const meta = doc?.metadata as Meta | undefined;
    if (doc?.kind === 'ServiceAccount' && meta)
      serviceAccount ??= `system:serviceaccount:${ns(meta.namespace)}:${meta.name}`;
    if (doc?.kind === 'Role' && meta)
      roles.set(`${ns(meta.namespace)}/${meta.name}`, (doc.rules as PolicyRule[]) ?? []);
  }
  const grants: Grant[] = [];
  for (const doc of docs) {
    if (doc?.kind !== 'RoleBinding') continue;
    const meta = doc.metadata as Meta;
    const roleRef = doc.roleRef as { kind: string; name: string };
    const rules = roleRef.kind === 'Role' ? roles.get(`${ns(meta.namespace)}/${roleRef.name}`) : undefined;
    if (!rules)
      throw new Error(`${file}: RoleBinding ${meta.name} refers to ${roleRef.kind} ${roleRef.name}, not in the file`);
    for (const s of (doc.subjects as { kind: string; name: string; namespace?: string }[]) ?? []) {
      const user =
        s.kind === 'ServiceAccount' ? `system:serviceaccount:${ns(s.namespace ?? meta.namespace)}:${s.name}` : s.name;
      grants.push({ user, namespace: ns(meta.namespace), rules });
    }
  }
  if (!serviceAccount) throw new Error(`${file}: no ServiceAccount`);
  return { serviceAccount, grants };
}

function allows(rule: PolicyRule, group: string, resource: string, verb: string, name: string | undefined): boolean {
  const has = (list: string[] | undefined, value: string) => !!list && (list.includes('*') || list.includes(value));
  if (!has(rule.apiGroups, group) || !has(rule.resources, resource) || !has(rule.verbs, verb)) return false;
  return !rule.resourceNames?.length || (name !== undefined && rule.resourceNames.includes(name));
}

// ---------------------------------------------------------------------------------------------------------------
// The server

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
  private readonly grants: Grant[];
  private readonly namespaces = new Set<string>();
  private readonly objects = new Map<string, StoredObject>();
  private readonly pods = new Map<string, Pod[]>();
  private readonly faults: (FakeKubeFault & { left: number })[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly podReadyMs: number;
  private resourceVersion = 1000;

  constructor(
    private readonly http: Server,
    opts: FakeKubeApiOptions,
  ) {
    const { port } = http.address() as AddressInfo;
    this.server = `http://127.0.0.1:${port}`;
    this.namespace = opts.namespace ?? RBAC_PLACEHOLDER_NAMESPACE;
    this.namespaces.add(this.namespace).add('default');
    const rbac = loadRbac(
      opts.rbacFile ?? join(__dirname, '..', '..', 'deploy', 'kubernetes', 'rbac.yaml'),
      this.namespace,
    );
    this.grants = rbac.grants;
    this.users = new Map([
      [this.adminToken, this.admin],
      [this.workerToken, rbac.serviceAccount],
      [this.noRightsToken, `system:serviceaccount:${this.namespace}:nightshift-no-rights`],
    ]);
    this.podReadyMs = opts.podReadyMs ?? 200;
    this.timer = setInterval(() => this.tick(), opts.tickMs ?? 100);
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
      this.authorize(user, 'create', '', 'namespaces', undefined, undefined);
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
    this.authorize(
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

  private authorize(
    user: string,
    verb: string,
    group: string,
    resource: string,
    namespace: string | undefined,
    name: string | undefined,
  ): void {
    if (user === this.admin) return;
    const granted = this.grants.some(
      (g) =>
        g.user === user && g.namespace === namespace && g.rules.some((r) => allows(r, group, resource, verb, name)),
    );
    if (granted) return;
    const qualified = group ? `${resource}.${group}` : resource;
    const subject = name === undefined ? qualified : `${qualified} "${name}"`;
    const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
    throw new ApiError(
      403,
      'Forbidden',
      `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`,
      { ...(name !== undefined ? { name } : {}), group, kind: resource },
    );
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

  private key(resource: string, namespace: string, name: string): string {
    return `${resource}/${namespace}/${name}`;
  }

  private existing(route: Route): StoredObject {
    const obj =
      route.name === undefined ? undefined : this.objects.get(this.key(route.resource, route.namespace, route.name));
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
    const items = [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`${route.resource}/${route.namespace}/`))
      .map(([, o]) => o)
      .filter((o) => match(o.metadata.labels ?? {}));
    return {
      apiVersion: route.info.group ? `${route.info.group}/${route.info.version}` : route.info.version,
      kind: `${route.info.kind}List`,
      metadata: { resourceVersion: String(this.resourceVersion) },
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
    const key = this.key(route.resource, route.namespace, name);
    if (this.objects.has(key)) {
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
      resourceVersion: this.nextResourceVersion(),
    };
    if (route.resource === 'deployments') {
      const d = obj as unknown as Deployment;
      d.metadata.generation = 1;
      d.spec = withDeploymentDefaults(d.spec);
      d.status = {};
      validateDeployment(d, undefined);
    }
    this.objects.set(key, obj);
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
    obj.metadata.resourceVersion = this.nextResourceVersion();
    this.objects.set(this.key(route.resource, route.namespace, route.name!), obj);
    return obj;
  }

  private nextResourceVersion(): string {
    this.resourceVersion += 1;
    return String(this.resourceVersion);
  }

  // --- The deployment controller ------------------------------------------------------------------------------

  private tick(): void {
    const now = Date.now();
    for (const [key, obj] of this.objects) {
      if (!key.startsWith('deployments/')) continue;
      const d = obj as unknown as Deployment;
      const next = clone(d);
      this.syncDeployment(next, now);
      if (!isDeepStrictEqual(next, d)) {
        next.metadata.resourceVersion = this.nextResourceVersion();
        this.objects.set(key, next as unknown as StoredObject);
      }
    }
  }

  private ownedReplicaSets(d: Deployment): ReplicaSet[] {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`replicasets/${d.metadata.namespace}/`))
      .map(([, o]) => o as unknown as ReplicaSet)
      .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === d.metadata.uid));
  }

  private syncDeployment(d: Deployment, now: number): void {
    const hash = templateHash(d.spec.template);
    const owned = this.ownedReplicaSets(d);
    const revisionOf = (rs: ReplicaSet) => Number(rs.metadata.annotations?.[REVISION] ?? 0);
    const maxRevision = Math.max(0, ...owned.map(revisionOf));
    let newRS = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    let progressed = false;
    if (!newRS) {
      newRS = this.createReplicaSet(d, hash, maxRevision + 1);
      owned.push(newRS);
      progressed = true;
    } else if (revisionOf(newRS) < maxRevision) {
      // A template seen before (a rollback): its ReplicaSet becomes the newest revision again.
      newRS.metadata.annotations = { ...newRS.metadata.annotations, [REVISION]: String(maxRevision + 1) };
      progressed = true;
    }
    d.metadata.annotations = { ...d.metadata.annotations, [REVISION]: newRS.metadata.annotations![REVISION]! };
    const observedNow = d.status.observedGeneration !== d.metadata.generation;
    d.status.observedGeneration = d.metadata.generation;
    if (observedNow) progressed = true;

    const before = { ...d.status };
    if (!d.spec.paused)
      this.rollPods(
        d,
        newRS,
        owned.filter((rs) => rs !== newRS),
        now,
      );
    for (const rs of owned) this.syncReplicaSet(rs, now);
    this.pruneHistory(d, owned, newRS);

    const all = owned.flatMap((rs) => this.podsOf(rs));
    const minReadyMs = (d.spec.minReadySeconds ?? 0) * 1000;
    const available = all.filter((p) => p.readyAt !== undefined && now - p.readyAt >= minReadyMs).length;
    const ready = all.filter((p) => p.readyAt !== undefined).length;
    const updated = this.podsOf(newRS).length;
    d.status = {
      ...d.status,
      replicas: all.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, all.length - available),
    };
    for (const field of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'] as const) {
      if (d.status[field] === 0) delete d.status[field];
    }
    if (
      updated > (before.updatedReplicas ?? 0) ||
      ready > (before.readyReplicas ?? 0) ||
      available > (before.availableReplicas ?? 0) ||
      all.length - updated < (before.replicas ?? 0) - (before.updatedReplicas ?? 0)
    ) {
      progressed = true;
    }
    this.setConditions(d, newRS, { available, updated, total: all.length, progressed }, now);
  }

  private createReplicaSet(d: Deployment, hash: string, revision: number): ReplicaSet {
    const name = `${d.metadata.name}-${hash}`;
    const template = clone(d.spec.template);
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, 'pod-template-hash': hash } };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        uid: randomUUID(),
        resourceVersion: this.nextResourceVersion(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
        labels: { ...template.metadata.labels },
        annotations: { [REVISION]: String(revision) },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true },
        ],
      },
      spec: {
        replicas: 0,
        ...(d.spec.minReadySeconds !== undefined ? { minReadySeconds: d.spec.minReadySeconds } : {}),
        selector: { matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } },
        template,
      },
      status: { replicas: 0, fullyLabeledReplicas: 0, readyReplicas: 0, availableReplicas: 0, observedGeneration: 1 },
    };
    this.objects.set(this.key('replicasets', d.metadata.namespace, name), rs as unknown as StoredObject);
    return rs;
  }

  private podsOf(rs: ReplicaSet): Pod[] {
    let pods = this.pods.get(rs.metadata.uid);
    if (!pods) this.pods.set(rs.metadata.uid, (pods = []));
    return pods;
  }

  /** One step of a rolling update (or a recreate): scale the new ReplicaSet up and the old ones down. */
  private rollPods(d: Deployment, newRS: ReplicaSet, old: ReplicaSet[], now: number): void {
    const desired = d.spec.replicas;
    const minReadyMs = (d.spec.minReadySeconds ?? 0) * 1000;
    const isAvailable = (p: Pod) => p.readyAt !== undefined && now - p.readyAt >= minReadyMs;
    const newPods = this.podsOf(newRS);
    const oldPods = old.map((rs) => this.podsOf(rs));
    const total = () => newPods.length + oldPods.reduce((n, p) => n + p.length, 0);

    if (d.spec.strategy.type === 'Recreate') {
      for (const pods of oldPods) pods.splice(0);
      while (newPods.length < desired) newPods.push({ createdAt: now });
    } else {
      const surge = resolveIntOrPercent(d.spec.strategy.rollingUpdate?.maxSurge ?? '25%', desired, true);
      let unavailable = resolveIntOrPercent(d.spec.strategy.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
      if (surge === 0 && unavailable === 0) unavailable = 1;
      const room = Math.min(desired + surge - total(), desired - newPods.length);
      for (let i = 0; i < room; i += 1) newPods.push({ createdAt: now });
      // Old pods that are not available count for nothing: they go first and freely.
      for (const pods of oldPods) {
        for (let i = pods.length - 1; i >= 0; i -= 1) if (!isAvailable(pods[i]!)) pods.splice(i, 1);
      }
      const availableNow = newPods.filter(isAvailable).length + oldPods.reduce((n, p) => n + p.length, 0);
      let removable = Math.max(0, availableNow - (desired - unavailable));
      for (const pods of oldPods) {
        const take = Math.min(removable, pods.length);
        pods.splice(pods.length - take, take);
        removable -= take;
      }
    }
    // Surplus new pods (a scale-down): unready ones first.
    while (newPods.length > desired) {
      const unready = newPods.findIndex((p) => p.readyAt === undefined);
      newPods.splice(unready >= 0 ? unready : newPods.length - 1, 1);
    }
  }

  private syncReplicaSet(rs: ReplicaSet, now: number): void {
    const broken = (rs.spec.template.spec?.containers ?? []).some((c) => c.image && this.brokenImages.has(c.image));
    const pods = this.podsOf(rs);
    for (const pod of pods) {
      if (pod.readyAt === undefined && !broken && now - pod.createdAt >= this.podReadyMs) {
        pod.readyAt = pod.createdAt + this.podReadyMs;
      }
    }
    const minReadyMs = (rs.spec.minReadySeconds ?? 0) * 1000;
    const ready = pods.filter((p) => p.readyAt !== undefined);
    const status = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.length,
      readyReplicas: ready.length,
      availableReplicas: ready.filter((p) => now - p.readyAt! >= minReadyMs).length,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (rs.spec.replicas !== pods.length || !isDeepStrictEqual(rs.status, status)) {
      rs.spec.replicas = pods.length;
      rs.status = status;
      rs.metadata.resourceVersion = this.nextResourceVersion();
    }
  }

  /** Keeps revisionHistoryLimit scaled-down old ReplicaSets, like the real controller. */
  private pruneHistory(d: Deployment, owned: ReplicaSet[], newRS: ReplicaSet): void {
    const idle = owned
      .filter((rs) => rs !== newRS && this.podsOf(rs).length === 0)
      .sort((a, b) => Number(a.metadata.annotations?.[REVISION]) - Number(b.metadata.annotations?.[REVISION]));
    for (const rs of idle.slice(0, Math.max(0, idle.length - d.spec.revisionHistoryLimit))) {
      this.objects.delete(this.key('replicasets', rs.metadata.namespace, rs.metadata.name));
      this.pods.delete(rs.metadata.uid);
    }
  }

  private setConditions(
    d: Deployment,
    newRS: ReplicaSet,
    s: { available: number; updated: number; total: number; progressed: boolean },
    now: number,
  ): void {
    const desired = d.spec.replicas;
    const maxUnavailable = resolveIntOrPercent(d.spec.strategy.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
    const conditions = d.status.conditions ?? [];
    const set = (type: string, status: 'True' | 'False', reason: string, message: string, touch: boolean) => {
      const at = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
      const old = conditions.find((c) => c.type === type);
      if (old && old.status === status && old.reason === reason && old.message === message && !touch) return;
      const next: Condition = {
        type,
        status,
        reason,
        message,
        lastUpdateTime: at,
        lastTransitionTime: old && old.status === status ? old.lastTransitionTime : at,
      };
      if (old) conditions.splice(conditions.indexOf(old), 1, next);
      else conditions.push(next);
    };
    if (s.available >= desired - maxUnavailable) {
      set('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.', false);
    } else {
      set('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.', false);
    }
    const rsName = newRS.metadata.name;
    const complete = s.updated === desired && s.total === desired && s.available === desired;
    const progressing = conditions.find((c) => c.type === 'Progressing');
    if (complete) {
      set(
        'Progressing',
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${rsName}" has successfully progressed.`,
        false,
      );
    } else if (s.progressed) {
      set('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`, true);
    } else if (
      progressing &&
      progressing.reason !== 'ProgressDeadlineExceeded' &&
      now - Date.parse(progressing.lastUpdateTime) > d.spec.progressDeadlineSeconds * 1000
    ) {
      set(
        'Progressing',
        'False',
        'ProgressDeadlineExceeded',
        `ReplicaSet "${rsName}" has timed out progressing.`,
        true,
      );
    }
    d.status.conditions = conditions;
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

function resolveIntOrPercent(value: number | string, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const percent = Number(value.replace(/%$/, ''));
  const exact = (percent * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

function templateHash(template: PodTemplate): string {
  const t = clone(template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return createHash('sha256').update(stableJson(t)).digest('hex').slice(0, 10);
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
