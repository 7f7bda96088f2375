// The Kubernetes manifests in deploy/kubernetes/: checked against the real kube-apiserver of test/helpers/realKube.ts
// (server-side apply with dryRun=All and fieldValidation=Strict, the pod templates against the "restricted" Pod
// Security Standard, then applied for real and rolled out), and against the code: every variable they set is a
// setting config/config.ts knows and their values load, secrets come by reference, and the probes, ports and grace
// period agree with worker/health.ts, the webhook and NIGHTSHIFT_SHUTDOWN_GRACE.
//
// The real-server part is skipped (with the reason printed) when the binaries are not built;
// NIGHTSHIFT_REAL_KUBE=required turns that into a failure. The consistency part always runs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { ConfigSchema, loadConfig, SECRET_SETTINGS } from '../../config/config';
import { HEALTH_PATH } from '../../integrations/webhookServer';
import { LIVENESS_PATH, parseSocketAddress, READINESS_PATH } from '../../worker/health';
import {
  realKubeAvailability,
  realKubeMode,
  startRealKube,
  type KubeResponse,
  type RealKubeEnv,
} from '../helpers/realKube';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, 'deploy/kubernetes');
const NAMESPACE = 'nightshift-target'; // the namespace the manifests name (rbac.yaml explains how to change it)
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects read as plain YAML */
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

const MANIFEST_FILES = fs
  .readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
  .sort();

function parseObjects(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === 'object');
}

const OBJECTS: K8sObject[] = MANIFEST_FILES.flatMap((f) => parseObjects(fs.readFileSync(path.join(DIR, f), 'utf8')));
const find = (kind: string, name: string): K8sObject => {
  const o = OBJECTS.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`deploy/kubernetes: no ${kind} ${name}`);
  return o;
};

// ------------------------------------------------------------------------------------------------------------------
// Consistency with the code (no cluster needed)

/** Temporal's own connection variables (Temporal's docs name them; @temporalio/envconfig reads them). */
const TEMPORAL_STANDARD = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY'];

/** Names config/config.ts does not know (loadConfig refuses an unknown NIGHTSHIFT_* at start). */
function unknownSettings(names: string[]): string[] {
  const known = new Set([
    ...Object.keys(ConfigSchema.shape),
    ...SECRET_SETTINGS.map((s) => `${s}_FILE`),
    ...TEMPORAL_STANDARD,
  ]);
  return names.filter((n) => !known.has(n));
}

interface ContainerEnv {
  /** Plain values: the referenced ConfigMaps' data, then `env` values (which win, as in Kubernetes). */
  values: Record<string, string>;
  /** Variables from Secrets: name → Secret key. */
  secrets: Record<string, { secret: string; key: string; optional: boolean }>;
}

function containerEnv(container: any): ContainerEnv {
  const values: Record<string, string> = {};
  const secrets: ContainerEnv['secrets'] = {};
  for (const from of container.envFrom ?? []) {
    if (from.secretRef) throw new Error(`${container.name}: envFrom secretRef imports unknown keys; use secretKeyRef`);
    Object.assign(values, find('ConfigMap', from.configMapRef.name).data);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) values[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) {
      const r = e.valueFrom.secretKeyRef;
      secrets[e.name] = { secret: r.name, key: r.key, optional: r.optional === true };
    } else throw new Error(`${container.name}: env ${e.name} is neither a value nor a secretKeyRef`);
  }
  return { values, secrets };
}

const podSpec = (name: string): any => find('Deployment', name).spec.template.spec;
const containerOf = (name: string): any => podSpec(name).containers[0];
/** A named (or numbered) container port's number. */
function portNumber(container: any, port: string | number): number {
  if (typeof port === 'number') return port;
  const p = container.ports.find((x: any) => x.name === port);
  if (!p) throw new Error(`${container.name}: no port named ${port}`);
  return p.containerPort;
}

/** Stand-in secret values of the right shape (none is real): what loadConfig needs to accept the pod's settings. */
function dummySecrets(env: ContainerEnv): Record<string, string> {
  const sample: Record<string, string> = {
    TEMPORAL_API_KEY: 'test-api-key',
    NIGHTSHIFT_HUBSPOT_TOKEN: 'pat-test-token',
    NIGHTSHIFT_PAGERDUTY_ROUTING_KEY: 'test-routing-key-0123456789abcdef',
    NIGHTSHIFT_WEBHOOK_SECRETS: 'test-signing-secret-0123456789',
    NIGHTSHIFT_ENCRYPTION_KEYS: `test:${crypto.randomBytes(32).toString('base64')}`,
  };
  return Object.fromEntries(
    Object.keys(env.secrets).map((name) => {
      if (!sample[name]) throw new Error(`no stand-in value for the secret ${name}: add one to the test`);
      return [name, sample[name]];
    }),
  );
}

describe('deploy/kubernetes agrees with the code', () => {
  const worker = containerEnv(containerOf('nightshift-worker'));
  const webhook = containerEnv(containerOf('nightshift-webhook'));

  it('kustomization.yaml lists every manifest', () => {
    const k = YAML.parse(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(MANIFEST_FILES);
    expect(MANIFEST_FILES).toEqual(expect.arrayContaining(['rbac.yaml', 'worker.yaml', 'webhook.yaml']));
  });

  it('sets only variables config/config.ts knows (and the check finds one it does not)', () => {
    const names = [worker, webhook].flatMap((e) => [...Object.keys(e.values), ...Object.keys(e.secrets)]);
    expect(names.length).toBeGreaterThan(10);
    expect(unknownSettings(names)).toEqual([]);
    expect(unknownSettings(['NIGHTSHIFT_HEALTH_ADRESS', 'NIGHTSHIFT_SHUTDOWN_GRACE'])).toEqual([
      'NIGHTSHIFT_HEALTH_ADRESS',
    ]);
  });

  it('takes every secret from a Secret by reference: no Secret object, no secret value in the repo', () => {
    expect(OBJECTS.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const e of [worker, webhook]) {
      expect(Object.keys(e.values).filter((n) => (SECRET_SETTINGS as readonly string[]).includes(n))).toEqual([]);
    }
    expect(Object.keys(worker.secrets).sort()).toEqual([
      'NIGHTSHIFT_ENCRYPTION_KEYS',
      'NIGHTSHIFT_HUBSPOT_TOKEN',
      'NIGHTSHIFT_PAGERDUTY_ROUTING_KEY',
      'TEMPORAL_API_KEY',
    ]);
    expect(Object.keys(webhook.secrets).sort()).toEqual([
      'NIGHTSHIFT_ENCRYPTION_KEYS',
      'NIGHTSHIFT_WEBHOOK_SECRETS',
      'TEMPORAL_API_KEY',
    ]);
  });

  it("the worker's and the webhook's settings load as they would in the pods", () => {
    const w = loadConfig({ ...worker.values, ...dummySecrets(worker) });
    expect(w).toMatchObject({ NIGHTSHIFT_PLATFORM: 'kubernetes', NIGHTSHIFT_NOTIFIER: 'hubspot' });
    expect(w.NIGHTSHIFT_ALERTER).toEqual(['log', 'pagerduty']);
    const h = loadConfig({ ...webhook.values, ...dummySecrets(webhook) });
    expect(h.NIGHTSHIFT_WEBHOOK_HOST).toBe('0.0.0.0');
    // The secrets marked optional may be left out of the Secret.
    const required = (e: ContainerEnv) =>
      Object.fromEntries(Object.entries(dummySecrets(e)).filter(([n]) => !e.secrets[n]!.optional));
    expect(() => loadConfig({ ...worker.values, ...required(worker) })).not.toThrow();
    expect(() => loadConfig({ ...webhook.values, ...required(webhook) })).not.toThrow();
  });

  it("the worker's probes, ports and grace period match its health endpoint, metrics and shutdown grace", () => {
    const deployment = find('Deployment', 'nightshift-worker');
    const c = containerOf('nightshift-worker');
    const config = loadConfig({ ...worker.values, ...dummySecrets(worker) });
    const healthPort = parseSocketAddress(config.NIGHTSHIFT_HEALTH_ADDRESS!).port;
    expect(c.livenessProbe.httpGet.path).toBe(LIVENESS_PATH);
    expect(c.readinessProbe.httpGet.path).toBe(READINESS_PATH);
    expect(portNumber(c, c.livenessProbe.httpGet.port)).toBe(healthPort);
    expect(portNumber(c, c.readinessProbe.httpGet.port)).toBe(healthPort);
    const metricsPort = parseSocketAddress(config.NIGHTSHIFT_METRICS_ADDRESS!).port;
    expect(portNumber(c, 'metrics')).toBe(metricsPort);
    expect(deployment.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(metricsPort),
      'prometheus.io/path': '/metrics',
    });
    // Kubernetes sends SIGKILL after terminationGracePeriodSeconds: the drain (the grace) and closing must fit.
    const graceSeconds = config.NIGHTSHIFT_SHUTDOWN_GRACE * 60;
    expect(graceSeconds).toBeGreaterThan(0);
    expect(podSpec('nightshift-worker').terminationGracePeriodSeconds).toBeGreaterThanOrEqual(graceSeconds + 15);
  });

  it("the webhook's probes and Service match its server", () => {
    const c = containerOf('nightshift-webhook');
    const config = loadConfig({ ...webhook.values, ...dummySecrets(webhook) });
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe.httpGet.path).toBe(HEALTH_PATH);
      expect(portNumber(c, probe.httpGet.port)).toBe(config.NIGHTSHIFT_WEBHOOK_PORT);
    }
    const service = find('Service', 'nightshift-webhook');
    expect(portNumber(c, service.spec.ports[0].targetPort)).toBe(config.NIGHTSHIFT_WEBHOOK_PORT);
    expect(find('Deployment', 'nightshift-webhook').spec.template.metadata.labels).toMatchObject(service.spec.selector);
  });

  it.each(['nightshift-worker', 'nightshift-webhook'])(
    '%s: image, replicas, PodDisruptionBudget, resources, non-root and read-only root filesystem',
    (name) => {
      const deployment = find('Deployment', name);
      const spec = podSpec(name);
      const c = containerOf(name);
      expect(c.image).toBe(`nightshift:${VERSION}`);
      expect(c.args).toEqual([name.replace('nightshift-', '')]);
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
      const pdb = find('PodDisruptionBudget', name);
      expect(deployment.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
      expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
      for (const kind of ['requests', 'limits'])
        expect(Object.keys(c.resources[kind]).sort()).toEqual(['cpu', 'memory']);
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
      expect(c.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    },
  );

  it("the worker runs as rbac.yaml's ServiceAccount; the webhook mounts no token", () => {
    const sa = OBJECTS.find((o) => o.kind === 'ServiceAccount');
    expect(podSpec('nightshift-worker').serviceAccountName).toBe(sa?.metadata.name);
    expect(podSpec('nightshift-webhook').automountServiceAccountToken).toBe(false);
  });
});

// ------------------------------------------------------------------------------------------------------------------
// The real kube-apiserver

const availability = realKubeAvailability();
if (!availability.available) {
  if (realKubeMode() === 'required') {
    test('the real Kubernetes test environment is available (NIGHTSHIFT_REAL_KUBE=required)', () => {
      throw new Error(availability.why);
    });
  } else {
    console.warn(`[deployManifests.test] real API server part skipped: ${availability.why}`);
  }
}
const describeReal = availability.available ? describe : describe.skip;

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  Service: 'services',
  Pod: 'pods',
  Deployment: 'deployments',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Role: 'roles',
  RoleBinding: 'rolebindings',
};

function collectionPath(o: K8sObject): string {
  const plural = PLURALS[o.kind];
  if (!plural) throw new Error(`no API path known for kind ${o.kind}: add it to PLURALS`);
  const base = o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`;
  return `${base}/namespaces/${o.metadata.namespace ?? NAMESPACE}/${plural}`;
}

const clone = <T>(o: T): T => structuredClone(o);

describeReal('deploy/kubernetes on the real kube-apiserver', () => {
  let kube: RealKubeEnv;

  /** Server-side apply (kubectl apply --server-side), strict: unknown or duplicate fields are errors. */
  const apply = (o: K8sObject, opts: { dryRun: boolean }): Promise<KubeResponse> =>
    kube.adminRequest(
      'PATCH',
      `${collectionPath(o)}/${o.metadata.name}?fieldManager=nightshift-deploy-test&force=true&fieldValidation=Strict` +
        (opts.dryRun ? '&dryRun=All' : ''),
      JSON.stringify(o),
      'application/apply-patch+yaml',
    );
  const describeAnswer = (r: KubeResponse): string =>
    `HTTP ${r.status} ${typeof r.body === 'object' ? (r.body?.message ?? JSON.stringify(r.body)) : r.body}`;

  /** A Pod from a Deployment's template, created with dryRun=All (admission, Pod Security included, persists nothing). */
  const dryRunPod = (deployment: K8sObject): Promise<KubeResponse> => {
    const t = deployment.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...t.metadata, name: `${deployment.metadata.name}-template` },
      spec: t.spec,
    };
    return kube.adminRequest('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All&fieldValidation=Strict`, pod);
  };

  beforeAll(async () => {
    kube = await startRealKube({ namespace: NAMESPACE });
    // Pods in this namespace must meet the "restricted" Pod Security Standard (non-root, no privilege escalation,
    // capabilities dropped, seccomp), enforced by the apiserver's PodSecurity admission.
    const r = await kube.adminRequest(
      'PATCH',
      `/api/v1/namespaces/${NAMESPACE}`,
      { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
      'application/merge-patch+json',
    );
    if (r.status !== 200) throw new Error(`labelling the namespace: ${describeAnswer(r)}`);
  }, 90_000);

  afterAll(async () => {
    await kube?.close();
  }, 30_000);

  it('accepts every object (server-side apply, dryRun=All, fieldValidation=Strict)', async () => {
    const answers: string[] = [];
    for (const o of OBJECTS) {
      const r = await apply(o, { dryRun: true });
      answers.push(`${o.kind}/${o.metadata.name}: ${r.status < 300 ? 'ok' : describeAnswer(r)}`);
    }
    expect(answers).toEqual(OBJECTS.map((o) => `${o.kind}/${o.metadata.name}: ok`));
    expect(OBJECTS.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'Role', 'RoleBinding']),
    );
  });

  it('admits pods of both templates under the "restricted" Pod Security Standard', async () => {
    for (const name of ['nightshift-worker', 'nightshift-webhook']) {
      const r = await dryRunPod(find('Deployment', name));
      expect(`${name}: ${r.status === 201 ? 'admitted' : describeAnswer(r)}`).toBe(`${name}: admitted`);
    }
  });

  it('rejects a misspelled field, a bad value and a pod that may run as root (the check can fail)', async () => {
    const misspelled = clone(find('Deployment', 'nightshift-worker'));
    misspelled.spec.template.spec.terminationGracePeriodSecond = 90;
    // Server-side apply refuses it while building the typed patch (HTTP 500 in 1.34)...
    const r1 = await apply(misspelled, { dryRun: true });
    expect(describeAnswer(r1)).toMatch(
      /^HTTP 500 .*\.spec\.template\.spec\.terminationGracePeriodSecond: field not declared in schema/,
    );
    // ...and a create (kubectl create / apply without --server-side) by strict field validation.
    const r1b = await kube.adminRequest(
      'POST',
      `${collectionPath(misspelled)}?dryRun=All&fieldValidation=Strict`,
      misspelled,
    );
    expect(describeAnswer(r1b)).toMatch(
      /^HTTP 400 .*unknown field "spec\.template\.spec\.terminationGracePeriodSecond"/,
    );

    const badValue = clone(find('Deployment', 'nightshift-worker'));
    badValue.spec.template.spec.containers[0].livenessProbe.httpGet.port = 'no-such-port-name-here';
    const r2 = await apply(badValue, { dryRun: true });
    expect(r2.status).toBe(422);
    expect(describeAnswer(r2)).toMatch(/livenessProbe\.httpGet\.port/);

    const bothBudgets = clone(find('PodDisruptionBudget', 'nightshift-worker'));
    bothBudgets.spec.maxUnavailable = 1;
    const r3 = await apply(bothBudgets, { dryRun: true });
    expect(r3.status).toBe(422);
    expect(describeAnswer(r3)).toMatch(/minAvailable and maxUnavailable cannot be both set/);

    const root = clone(find('Deployment', 'nightshift-worker'));
    delete root.spec.template.spec.securityContext.runAsNonRoot;
    root.spec.template.spec.securityContext.runAsUser = 0;
    const r4 = await dryRunPod(root);
    expect(r4.status).toBe(403);
    expect(describeAnswer(r4)).toMatch(/violates PodSecurity "restricted:latest".*runAsNonRoot/);
  });

  it('applied for real, both Deployments roll out (the controller creates their pods)', async () => {
    for (const o of OBJECTS) {
      const r = await apply(o, { dryRun: false });
      expect(`${o.kind}/${o.metadata.name}: ${r.status < 300 ? 'ok' : describeAnswer(r)}`).toBe(
        `${o.kind}/${o.metadata.name}: ok`,
      );
    }
    for (const name of ['nightshift-worker', 'nightshift-webhook']) {
      const deadline = Date.now() + 45_000;
      let status: any = {};
      while (Date.now() < deadline) {
        const r = await kube.adminRequest('GET', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${name}`);
        status = r.body.status ?? {};
        if (status.availableReplicas === 2) break;
        await sleep(250);
      }
      expect({ name, available: status.availableReplicas }).toEqual({ name, available: 2 });
    }
  }, 90_000);
});
