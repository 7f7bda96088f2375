// A real Kubernetes control plane for integration tests: etcd + kube-apiserver + kube-controller-manager (the
// binaries scripts/setupKube.js builds from the Go module proxy into a cache outside the repo) and the fake kubelet
// of test/helpers/fakeKubelet.ts. No scheduler, no kubelet, no container runtime: Deployments, ReplicaSets, RBAC,
// admission, patches and rollout conditions are the real thing; pods are only status records.
//
// Identities (static token file):
// - adminToken:    user nightshift-admin, group system:masters.
// - workerToken:   the worker's ServiceAccount identity, user system:serviceaccount:<namespace>:<sa>, where <sa> is
//                  the ServiceAccount subject of the RoleBinding in deploy/kubernetes/rbac.yaml (convention:
//                  `nightshift-worker`). The manifest is applied as-is (namespace substituted), so the token has
//                  exactly the rights the manifest grants in the namespace. A RoleBinding of the manifest that
//                  binds no ServiceAccount gets a twin bound to that user.
// - noRightsToken: user nightshift-nobody, no bindings (403 on everything but discovery/health).
// The controller manager gets a fourth token (system:masters) of its own.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { KubeEnv } from './kubeEnv';
import { type FakeKubelet, startFakeKubelet } from './fakeKubelet';
import { freePorts } from './ports';
import { ServerProcesses, type Proc } from './serverProcesses';

const ROOT = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(ROOT, 'scripts/kube-testenv');
const RBAC_MANIFEST = path.join(ROOT, 'deploy/kubernetes/rbac.yaml');
const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'etcd'] as const;
const START_TIMEOUT_MS = 60_000;
/** The ServiceAccount the worker runs as, when the manifest names none. */
export const WORKER_SERVICE_ACCOUNT = 'nightshift-worker';

export type RealKubeAvailability = { available: true; binDir: string } | { available: false; why: string };

/** NIGHTSHIFT_REAL_KUBE: off | auto (default) | required. */
export function realKubeMode(): 'off' | 'auto' | 'required' {
  const m = (process.env.NIGHTSHIFT_REAL_KUBE ?? 'auto').trim().toLowerCase();
  return m === 'off' || m === 'required' ? m : 'auto';
}

/** The Kubernetes version pinned by scripts/kube-testenv/go.mod (the cache is keyed by it). */
export function pinnedKubeVersion(): string {
  const gomod = fs.readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8');
  const m = gomod.match(/^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\S+)/m);
  if (!m?.[1]) throw new Error(`${MODULE_DIR}/go.mod does not require k8s.io/kubernetes`);
  return m[1];
}

function binDirFor(version: string): string {
  const root = process.env.NIGHTSHIFT_KUBE_CACHE
    ? path.resolve(process.env.NIGHTSHIFT_KUBE_CACHE)
    : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'nightshift', 'kube-testenv');
  return path.join(root, version, 'bin');
}

/** Whether the binaries are built (checks the cache marker; builds nothing: that is scripts/setupKube.js). */
export function realKubeAvailability(): RealKubeAvailability {
  if (realKubeMode() === 'off') return { available: false, why: 'NIGHTSHIFT_REAL_KUBE=off' };
  let version: string;
  try {
    version = pinnedKubeVersion();
  } catch (err) {
    return { available: false, why: String(err) };
  }
  const binDir = binDirFor(version);
  const missing = ['.complete.json', ...BINARIES].filter((f) => !fs.existsSync(path.join(binDir, f)));
  if (missing.length > 0) {
    return {
      available: false,
      why:
        `kube-testenv ${version} is not built (${binDir}: missing ${missing.join(', ')}); run ` +
        '`node scripts/setupKube.js` (needs Go 1.24+ and the Go module proxy; a cold build takes about 4 minutes on 2 cores)',
    };
  }
  return { available: true, binDir };
}

// ------------------------------------------------------------------------------------------------------------------
// A minimal HTTPS JSON client (no dependency on the ESM-only client library for the harness itself).

export interface KubeResponse {
  status: number;
  /** Parsed JSON (a Kubernetes object, list or Status), or the raw text. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary Kubernetes objects
  body: any;
}

export function kubeRequester(server: string, token: string, ca: string | undefined, agent?: https.Agent) {
  return (method: string, urlPath: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = https.request(
        new URL(urlPath, server),
        {
          method,
          ca,
          agent,
          headers: {
            Authorization: `Bearer ${token}`,
            Accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) }),
          },
          timeout: 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON (e.g. /readyz): keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
}

// ------------------------------------------------------------------------------------------------------------------
// RBAC manifest

interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  subjects?: { kind: string; name: string; namespace?: string; apiGroup?: string }[];
  roleRef?: { kind: string; name: string; apiGroup: string };
  [k: string]: unknown;
}

/** Used only while deploy/kubernetes/rbac.yaml does not exist yet: what the worker's adapter needs. */
const FALLBACK_RBAC = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: ${WORKER_SERVICE_ACCOUNT} }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: nightshift-worker }
rules:
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list, watch, patch, update]
  - apiGroups: [apps]
    resources: [replicasets]
    verbs: [get, list]
  - apiGroups: ['']
    resources: [configmaps]
    verbs: [get, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: nightshift-worker }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: nightshift-worker }
subjects:
  - { kind: ServiceAccount, name: ${WORKER_SERVICE_ACCOUNT} }
`;

let warnedFallback = false;

/** Parses the worker's RBAC manifest for `namespace`, and works out which user the worker token must be. */
export function loadWorkerRbac(namespace: string, file = RBAC_MANIFEST): { objects: ManifestObject[]; user: string } {
  let text = FALLBACK_RBAC;
  if (fs.existsSync(file)) text = fs.readFileSync(file, 'utf8');
  else if (!warnedFallback) {
    warnedFallback = true;
    console.warn(`[realKube] ${path.relative(ROOT, file)} not found: using a built-in stand-in Role for the worker`);
  }
  const objects = YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as ManifestObject | null)
    .filter((o): o is ManifestObject => !!o && typeof o === 'object' && !!o.kind);
  let sa: string | undefined;
  for (const o of objects) {
    if (o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding' && o.kind !== 'Namespace') {
      o.metadata.namespace = namespace;
    }
    for (const s of o.subjects ?? []) {
      if (s.kind !== 'ServiceAccount') continue;
      s.namespace = namespace;
      if (o.kind === 'RoleBinding') sa ??= s.name;
    }
  }
  const user = `system:serviceaccount:${namespace}:${sa ?? WORKER_SERVICE_ACCOUNT}`;
  // A RoleBinding that does not bind the worker's identity (e.g. binds a User or Group) gets a twin that does.
  const twins = objects
    .filter((o) => o.kind === 'RoleBinding' && !(o.subjects ?? []).some((s) => s.kind === 'ServiceAccount'))
    .map((o) => ({
      ...o,
      metadata: { name: `${o.metadata.name}-test-worker`, namespace },
      subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
    }));
  return { objects: [...objects, ...twins], user };
}

const RESOURCE_PATHS: Record<string, (ns: string) => string> = {
  ServiceAccount: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
  ConfigMap: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
  Role: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
  RoleBinding: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
  ClusterRole: () => `/apis/rbac.authorization.k8s.io/v1/clusterroles`,
  ClusterRoleBinding: () => `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`,
};

// ------------------------------------------------------------------------------------------------------------------

export interface RealKubeEnv extends KubeEnv {
  readonly kind: 'real';
  /** The Kubernetes version of the binaries. */
  readonly version: string;
  /** The worker token's user name (a ServiceAccount identity, see the header of this file). */
  readonly workerUser: string;
  /** Milliseconds from spawning etcd to the namespace being ready (RBAC applied, `default` ServiceAccount there). */
  readonly startupMs: number;
  /** A client with the admin token (fixtures, assertions). */
  adminRequest(method: string, urlPath: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
  /** Resolves after the fake kubelet has done a full pass that saw the current pods and `brokenImages`. */
  kubeletSync(): Promise<void>;
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports, plus the fake kubelet, and
 * prepares `namespace` (default `nightshift-test`). Allow ~60 s for it in the calling hook. Throws when the binaries
 * are not built (check realKubeAvailability() first).
 */
export async function startRealKube(opts: { namespace?: string } = {}): Promise<RealKubeEnv> {
  const availability = realKubeAvailability();
  if (!availability.available) throw new Error(availability.why);
  let lastError: unknown;
  // A free port found by listen(0) can be taken by someone else before etcd or the apiserver binds it: retry.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(availability.binDir, opts.namespace ?? 'nightshift-test');
    } catch (err) {
      lastError = err;
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  throw lastError;
}

async function startOnce(binDir: string, namespace: string): Promise<RealKubeEnv> {
  const group = new ServerProcesses('kube', START_TIMEOUT_MS);
  const { dir, started } = group;
  const version = pinnedKubeVersion();
  const agent = new https.Agent({ keepAlive: true, maxSockets: 16 });
  let kubelet: FakeKubelet | undefined;

  const close = async (): Promise<void> => {
    if (group.isStopped) return;
    await kubelet?.stop();
    agent.destroy();
    // Controller manager first (it would otherwise log errors about the vanished apiserver), etcd last.
    await group.stop(5_000);
  };

  const spawnProc = (name: string, args: string[]): Proc => group.spawn(name, path.join(binDir, name), args);
  const waitFor = group.waitFor.bind(group);

  try {
    const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const token = (): string => crypto.randomBytes(24).toString('hex');
    const tokens = { admin: token(), worker: token(), nobody: token(), kcm: token() };
    const rbac = loadWorkerRbac(namespace);
    const csv = (...cols: string[]): string => cols.map((c) => `"${c}"`).join(',');
    const workerGroups = `system:serviceaccounts,system:serviceaccounts:${namespace}`;
    fs.writeFileSync(
      path.join(dir, 'tokens.csv'),
      [
        csv(tokens.admin, 'nightshift-admin', 'uid-admin', 'system:masters'),
        csv(tokens.kcm, 'nightshift-controller-manager', 'uid-kcm', 'system:masters'),
        csv(tokens.worker, rbac.user, 'uid-worker', workerGroups),
        csv(tokens.nobody, 'nightshift-nobody', 'uid-nobody'),
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    const sa = crypto.generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    fs.writeFileSync(path.join(dir, 'sa.key'), sa.privateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'sa.pub'), sa.publicKey);

    // etcd: small quota, no fsync (throw-away data), quiet.
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = spawnProc('etcd', [
      '--name=testenv',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=testenv=${peerUrl}`,
      '--quota-backend-bytes=268435456',
      '--unsafe-no-fsync',
      '--snapshot-count=10000',
      '--log-level=warn',
    ]);
    await waitFor('etcd /health', etcd, () => etcdHealthy(`${etcdUrl}/health`));

    const server = `https://127.0.0.1:${apiPort}`;
    const certDir = path.join(dir, 'certs');
    const apiserver = spawnProc('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${certDir}`,
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.96.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--event-ttl=10m',
      '--v=0',
    ]);
    // Poll /readyz until the certificate exists (the apiserver writes it at start) and every check passes.
    let ca: string | undefined;
    await waitFor('kube-apiserver /readyz', apiserver, async () => {
      ca ??= readServingCa(path.join(certDir, 'apiserver.crt'));
      if (!ca) return false;
      const r = await kubeRequester(server, tokens.admin, ca, agent)('GET', '/readyz');
      return r.status === 200;
    });
    const caPem = ca as string;
    const admin = kubeRequester(server, tokens.admin, caPem, agent);

    const kubeconfig = path.join(dir, 'kcm.kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'testenv',
            cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
          },
        ],
        users: [{ name: 'kcm', user: { token: tokens.kcm } }],
        contexts: [{ name: 'kcm', context: { cluster: 'testenv', user: 'kcm' } }],
        'current-context': 'kcm',
      }),
      { mode: 0o600 },
    );
    const kcm = spawnProc('kube-controller-manager', [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--controllers=deployment-controller,replicaset-controller,serviceaccount-controller,garbage-collector-controller',
      '--use-service-account-credentials=false',
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      '--v=0',
    ]);

    const ok = (r: KubeResponse, what: string): void => {
      if (r.status >= 300 && r.status !== 409) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    };
    ok(await admin('POST', '/api/v1/namespaces', { metadata: { name: namespace } }), `creating namespace ${namespace}`);
    for (const o of rbac.objects) {
      const pathFor = RESOURCE_PATHS[o.kind];
      if (!pathFor) throw new Error(`RBAC manifest: unsupported kind ${o.kind}`);
      ok(await admin('POST', pathFor(namespace), o), `creating ${o.kind} ${o.metadata.name}`);
    }
    // The serviceaccount controller creating `default` shows the controller manager is up; pods need that account
    // (ServiceAccount admission), so wait for it.
    await waitFor(`ServiceAccount ${namespace}/default`, kcm, async () => {
      return (await admin('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/default`)).status === 200;
    });

    const brokenImages = new Set<string>();
    kubelet = startFakeKubelet({ request: admin }, namespace, brokenImages);
    const startupMs = Date.now() - started;
    const fakeKubelet = kubelet;
    return {
      kind: 'real',
      version,
      server,
      adminToken: tokens.admin,
      workerToken: tokens.worker,
      noRightsToken: tokens.nobody,
      workerUser: rbac.user,
      caPem,
      namespace,
      brokenImages,
      startupMs,
      adminRequest: admin,
      kubeletSync: () => fakeKubelet.sync(),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** etcd's /health says {"health":"true"}. No keep-alive (a pooled socket would keep Jest from exiting). */
function etcdHealthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(text)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * The apiserver's --cert-dir certificate file holds the serving certificate followed by the CA that signed it
 * (client-go's self-signed pair). Returns the CA's PEM (or the only certificate), or undefined while the file is
 * not written yet.
 */
function readServingCa(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) return undefined;
  const ca = pems.find((p) => new crypto.X509Certificate(p).ca) ?? pems[pems.length - 1];
  return `${ca}\n`;
}
