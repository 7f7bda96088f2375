// Smoke test of the real-cluster test environment itself (test/helpers/realKube.ts): a Deployment rolls out, rolls
// forward to a higher ReplicaSet revision, and stalls with ProgressDeadlineExceeded on a broken image; the three
// tokens have the rights KubeEnv promises. Goes through @kubernetes/client-node like the production adapter.
//
// Skipped (with the reason printed) when the binaries are not built; NIGHTSHIFT_REAL_KUBE=required turns that into
// a failure. Build them with `node scripts/setupKube.js`.
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { realKubeAvailability, realKubeMode, startRealKube, type RealKubeEnv } from '../helpers/realKube';

const availability = realKubeAvailability();
const NAME = 'gateway-smoke';
const CONTAINER = 'gateway-tyk-gateway';
const GOOD_IMAGE = 'tykio/tyk-gateway:v5.3.4';
const NEXT_IMAGE = 'tykio/tyk-gateway:v5.8.1';
const BROKEN_IMAGE = 'tykio/tyk-gateway:v0.0.0-does-not-exist';

if (!availability.available) {
  if (realKubeMode() === 'required') {
    test('the real Kubernetes test environment is available (NIGHTSHIFT_REAL_KUBE=required)', () => {
      throw new Error(availability.why);
    });
  } else {
    console.warn(`[realKube.test] skipped: ${availability.why}`);
  }
}
const describeReal = availability.available ? describe : describe.skip;

/** `kubectl rollout status` for a Deployment (polymorphichelpers/rollout_status.go). */
function rolloutStatus(d: k8s.V1Deployment): { done: boolean; error?: string; msg: string } {
  const st = d.status ?? {};
  if ((d.metadata?.generation ?? 0) > (st.observedGeneration ?? 0)) {
    return { done: false, msg: 'waiting for the deployment spec update to be observed' };
  }
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, error: `deployment ${d.metadata?.name} exceeded its progress deadline`, msg: '' };
  }
  const updated = st.updatedReplicas ?? 0;
  const want = d.spec?.replicas;
  if (want !== undefined && updated < want) return { done: false, msg: `${updated} of ${want} updated` };
  if ((st.replicas ?? 0) > updated) return { done: false, msg: `${(st.replicas ?? 0) - updated} old pending` };
  if ((st.availableReplicas ?? 0) < updated) return { done: false, msg: `${st.availableReplicas ?? 0} available` };
  return { done: true, msg: 'successfully rolled out' };
}

describeReal('real Kubernetes test environment (etcd + kube-apiserver + kube-controller-manager)', () => {
  let env: RealKubeEnv;
  let adminApps: k8s.AppsV1Api;
  let workerApps: k8s.AppsV1Api;
  let nobodyApps: k8s.AppsV1Api;

  const apps = (token: string): k8s.AppsV1Api => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'testenv', server: env.server, caData: Buffer.from(env.caPem ?? '').toString('base64') }],
      users: [{ name: 'u', token }],
      contexts: [{ name: 'c', cluster: 'testenv', user: 'u', namespace: env.namespace }],
      currentContext: 'c',
    });
    return kc.makeApiClient(k8s.AppsV1Api);
  };

  const read = (): Promise<k8s.V1Deployment> =>
    adminApps.readNamespacedDeployment({ name: NAME, namespace: env.namespace });

  /** Polls until the rollout is done (or fails the test with the last status seen). */
  async function waitForRollout(timeoutMs = 45_000): Promise<k8s.V1Deployment> {
    const deadline = Date.now() + timeoutMs;
    let last = { done: false, msg: '' } as ReturnType<typeof rolloutStatus>;
    while (Date.now() < deadline) {
      const d = await read();
      last = rolloutStatus(d);
      if (last.error) throw new Error(last.error);
      if (last.done) return d;
      await sleep(250);
    }
    throw new Error(`rollout not done after ${timeoutMs} ms: ${last.msg}`);
  }

  async function replicaSetRevisions(): Promise<Map<string, number>> {
    const list = await adminApps.listNamespacedReplicaSet({ namespace: env.namespace, labelSelector: `app=${NAME}` });
    return new Map(
      list.items.map((rs) => [
        rs.spec?.template?.spec?.containers[0]?.image ?? '',
        Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision']),
      ]),
    );
  }

  const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

  beforeAll(async () => {
    env = await startRealKube({ namespace: 'realkube-smoke' });
    console.log(`[realKube.test] ${env.version} ready in ${env.startupMs} ms at ${env.server}`);
    adminApps = apps(env.adminToken);
    workerApps = apps(env.workerToken);
    nobodyApps = apps(env.noRightsToken);
  }, 90_000);

  afterAll(async () => {
    await env?.close();
  }, 30_000);

  test('a Deployment rolls out', async () => {
    await adminApps.createNamespacedDeployment({
      namespace: env.namespace,
      body: {
        metadata: { name: NAME },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: NAME } },
          template: {
            metadata: { labels: { app: NAME } },
            spec: { containers: [{ name: CONTAINER, image: GOOD_IMAGE }] },
          },
        },
      },
    });
    const d = await waitForRollout();
    expect(d.status?.availableReplicas).toBe(2);
    expect((await replicaSetRevisions()).get(GOOD_IMAGE)).toBe(1);
  }, 60_000);

  test('the worker token patches the image; the new rollout completes with a higher ReplicaSet revision', async () => {
    await workerApps.patchNamespacedDeployment(
      {
        name: NAME,
        namespace: env.namespace,
        body: { spec: { template: { spec: { containers: [{ name: CONTAINER, image: NEXT_IMAGE }] } } } },
      },
      strategic,
    );
    const d = await waitForRollout();
    expect(d.spec?.template.spec?.containers[0]?.image).toBe(NEXT_IMAGE);
    expect(d.status?.updatedReplicas).toBe(2);
    const revisions = await replicaSetRevisions();
    expect(revisions.get(NEXT_IMAGE)).toBe(2);
    expect(revisions.get(NEXT_IMAGE)!).toBeGreaterThan(revisions.get(GOOD_IMAGE)!);
  }, 60_000);

  test('a broken image ends in Progressing=False / ProgressDeadlineExceeded', async () => {
    env.brokenImages.add(BROKEN_IMAGE);
    await adminApps.patchNamespacedDeployment(
      {
        name: NAME,
        namespace: env.namespace,
        body: {
          spec: {
            progressDeadlineSeconds: 10,
            template: { spec: { containers: [{ name: CONTAINER, image: BROKEN_IMAGE }] } },
          },
        },
      },
      strategic,
    );
    const deadline = Date.now() + 45_000;
    let progressing: k8s.V1DeploymentCondition | undefined;
    while (Date.now() < deadline) {
      const d = await read();
      progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
      if (progressing?.reason === 'ProgressDeadlineExceeded') {
        expect(progressing.status).toBe('False');
        expect(rolloutStatus(d).error).toMatch(/exceeded its progress deadline/);
        // The old pods stay available: maxUnavailable 25% of 2 rounds down to 0.
        expect(d.status?.availableReplicas).toBe(2);
        return;
      }
      await sleep(500);
    }
    throw new Error(`no ProgressDeadlineExceeded; Progressing condition: ${JSON.stringify(progressing)}`);
  }, 60_000);

  test('the no-rights token gets 403 reading Deployments', async () => {
    const err = await nobodyApps.readNamespacedDeployment({ name: NAME, namespace: env.namespace }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(403);
  });

  test('the worker token is confined to its namespace and its Role', async () => {
    await expect(workerApps.readNamespacedDeployment({ name: NAME, namespace: env.namespace })).resolves.toBeDefined();
    const denied = async (call: Promise<unknown>): Promise<number | undefined> =>
      call.then(
        () => undefined,
        (e: unknown) => (e instanceof k8s.ApiException ? e.code : -1),
      );
    expect(await denied(workerApps.listNamespacedDeployment({ namespace: 'default' }))).toBe(403);
    expect(await denied(workerApps.deleteNamespacedDeployment({ name: NAME, namespace: env.namespace }))).toBe(403);
  });
});
