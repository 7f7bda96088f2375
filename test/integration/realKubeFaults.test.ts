// The Kubernetes adapter's fault paths against a REAL kube-apiserver (test/helpers/realKube.ts), through a
// fault-injecting TLS proxy in front of it (test/helpers/kubeFaultProxy.ts): conflicts, throttling with Retry-After,
// connection resets (before the apiserver sees a request, and after it has applied it), a 500 and a hung read. The
// upgrade and restore run as the real activities (activities/deploy.ts) on the Temporal dev server
// (./realKubeFaultsWorkflows.ts), so the retries and their delays are Temporal's. Every case checks the real
// apiserver's state afterwards, read directly with the admin token, and that the proxy really injected its faults.
//
// Skipped (with the reason printed) when the binaries are not built; NIGHTSHIFT_REAL_KUBE=required turns that into
// a failure. Build them with `node scripts/setupKube.js`.
import * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { deployActivities } from '../../activities/deploy';
import type { ActivityDeps } from '../../activities/deps';
import type { PlatformChangeResult } from '../../activities/ports';
import type { ComponentRef, ComponentSnapshot, ConfigMigration } from '../../domain/model';
import { rolloutStatus } from '../../integrations/kubeRolloutStatus';
import {
  CONFIG_HASH_ANNOTATION,
  KubernetesPlatform,
  PREVIOUS_VERSION_ANNOTATION,
  kubeConfigFrom,
  type KubeTarget,
} from '../../integrations/kubernetesPlatform';
import { startKubeFaultProxy, type KubeFaultProxy, type ProxiedRequest } from '../helpers/kubeFaultProxy';
import { realKubeAvailability, realKubeMode, startRealKube, type RealKubeEnv } from '../helpers/realKube';
import { devServerEnv } from '../helpers/temporalServers';
import { restoreOne, upgradeOne } from './realKubeFaultsWorkflows';

const availability = realKubeAvailability();
if (!availability.available) {
  if (realKubeMode() === 'required') {
    test('the real Kubernetes test environment is available (NIGHTSHIFT_REAL_KUBE=required)', () => {
      throw new Error(availability.why);
    });
  } else {
    console.warn(`[realKubeFaults.test] skipped: ${availability.why}`);
  }
}
const describeReal = availability.available ? describe : describe.skip;

const REPOSITORY = 'docker.tyk.io/tyk-gateway/tyk-gateway';
const CONTAINER = 'gateway-tyk-gateway';
const TYK_CONF = { listen_port: 8080, analytics_config: { type: 'mongo', enable_geo_ip: true } };
const GEO_IP_RENAME: ConfigMigration = {
  key: 'analytics_config.enable_geo_ip',
  to: 'analytics_config.geo_ip.enabled',
  renamedIn: '5.8.0',
};
const never = () => new AbortController().signal;
const noProgress = () => undefined;

/** One activity attempt as the worker ran it. */
interface Attempt {
  activity: string;
  workflowId: string;
  attempt: number;
  startedAt: number;
  endedAt?: number;
  error?: string;
}

describeReal('the Kubernetes adapter under faults, against a real kube-apiserver through a fault proxy', () => {
  let kube: RealKubeEnv;
  let proxy: KubeFaultProxy;
  let temporal: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;
  /** The adapter the worker's activities use (through the proxy, with the worker's RBAC-bound token). */
  let platform: KubernetesPlatform;
  const attempts: Attempt[] = [];
  const taskQueue = `kube-faults-${Math.random().toString(36).slice(2, 8)}`;
  let installs = 0;

  /** Each control plane id is its own release: `cp-<release>` → Deployment gateway-<release>-tyk-gateway. */
  function targetOf(release: string): KubeTarget {
    return {
      namespace: kube.namespace,
      deployment: `gateway-${release}-tyk-gateway`,
      container: CONTAINER,
      image: REPOSITORY,
      configMap: { name: `${release}-tyk-gateway-conf`, key: 'tyk.conf' },
    };
  }
  const componentOf = (release: string): ComponentRef => ({ controlPlaneId: release, kind: 'gateway', id: 'gateway' });

  function platformThroughProxy(opts: { requestTimeoutMs?: number } = {}): KubernetesPlatform {
    return new KubernetesPlatform({
      kubeConfig: kubeConfigFrom({ server: proxy.server, token: kube.workerToken, caPem: proxy.caPem }),
      resolve: (c) => targetOf(c.controlPlaneId),
      pollMs: 200,
      ...opts,
    });
  }

  /** The real activities, recording each attempt (the worker runs them in this process). */
  function recordedActivities() {
    const deploy = () => deployActivities({ platform } as Pick<ActivityDeps, 'platform'> as ActivityDeps);
    async function recorded<T>(activity: string, run: () => Promise<T>): Promise<T> {
      const { attempt, workflowExecution } = Context.current().info;
      const entry: Attempt = {
        activity,
        workflowId: workflowExecution?.workflowId ?? '',
        attempt,
        startedAt: Date.now(),
      };
      attempts.push(entry);
      try {
        return await run();
      } catch (err) {
        entry.error = err instanceof Error ? err.message : String(err);
        throw err;
      } finally {
        entry.endedAt = Date.now();
      }
    }
    return {
      upgradeComponent: (input: Parameters<ReturnType<typeof deployActivities>['upgradeComponent']>[0]) =>
        recorded('upgradeComponent', () => deploy().upgradeComponent(input)),
      restoreComponent: (snapshot: ComponentSnapshot) =>
        recorded('restoreComponent', () => deploy().restoreComponent(snapshot)),
    };
  }

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    kube = await startRealKube({ namespace: 'realkube-faults' });
    proxy = await startKubeFaultProxy({ upstream: kube.server, upstreamCa: kube.caPem });
    const admin = kubeConfigFrom({ server: kube.server, token: kube.adminToken, caPem: kube.caPem });
    apps = admin.makeApiClient(k8s.AppsV1Api);
    core = admin.makeApiClient(k8s.CoreV1Api);
    platform = platformThroughProxy();
    temporal = await devServerEnv();
    worker = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue,
      workflowsPath: require.resolve('./realKubeFaultsWorkflows'),
      activities: recordedActivities(),
    });
    running = worker.run();
  }, 180_000);

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await temporal?.teardown();
    await proxy?.close();
    await kube?.close();
  }, 60_000);

  afterEach(() => {
    proxy.clearRules();
    platform = platformThroughProxy();
  });

  // --- fixtures and reads, straight to the apiserver with the admin token (never through the proxy) -------------

  /** A gateway as the tyk-gateway chart deploys it, with its tyk.conf; waits until it has rolled out. */
  async function installGateway(
    opts: { version?: string; minReadySeconds?: number } = {},
  ): Promise<{ release: string; target: KubeTarget; component: ComponentRef; deploymentPath: string }> {
    installs += 1;
    const release = `f${installs}-${Date.now().toString(36)}`;
    const target = targetOf(release);
    const selector = { app: target.deployment, release };
    await core.createNamespacedConfigMap({
      namespace: kube.namespace,
      body: {
        metadata: { name: target.configMap!.name },
        data: { 'tyk.conf': `${JSON.stringify(TYK_CONF, null, 2)}\n` },
      },
    });
    await apps.createNamespacedDeployment({
      namespace: kube.namespace,
      body: {
        metadata: { name: target.deployment, labels: { ...selector, chart: 'tyk-gateway' } },
        spec: {
          replicas: 2,
          minReadySeconds: opts.minReadySeconds ?? 1,
          progressDeadlineSeconds: 600,
          selector: { matchLabels: selector },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 1 } },
          template: {
            metadata: { labels: selector },
            spec: {
              containers: [
                {
                  name: CONTAINER,
                  image: `${REPOSITORY}:v${opts.version ?? '5.8.1'}`,
                  ports: [{ containerPort: 8080 }],
                  volumeMounts: [{ name: 'tyk-conf', mountPath: '/etc/tyk-gateway' }],
                },
              ],
              volumes: [{ name: 'tyk-conf', configMap: { name: target.configMap!.name } }],
            },
          },
        },
      },
    });
    await waitRolledOut(target);
    const deploymentPath = `/apis/apps/v1/namespaces/${kube.namespace}/deployments/${target.deployment}`;
    return { release, target, component: componentOf(release), deploymentPath };
  }

  const readDeployment = (t: KubeTarget) =>
    apps.readNamespacedDeployment({ name: t.deployment, namespace: t.namespace });
  const readConfigMap = (t: KubeTarget) =>
    core.readNamespacedConfigMap({ name: t.configMap!.name, namespace: t.namespace });
  const imageOf = (d: k8s.V1Deployment) => d.spec?.template.spec?.containers.find((c) => c.name === CONTAINER)?.image;
  const configMapPath = (t: KubeTarget) => `/api/v1/namespaces/${t.namespace}/configmaps/${t.configMap!.name}`;

  async function waitRolledOut(target: KubeTarget, timeoutMs = 60_000): Promise<k8s.V1Deployment> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = await readDeployment(target);
      if (rolloutStatus(d).state === 'done') return d;
      if (Date.now() > deadline) throw new Error(`${target.deployment} did not roll out: ${rolloutStatus(d).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The Deployment's ReplicaSets, newest revision last. */
  async function replicaSetsOf(target: KubeTarget, release: string): Promise<k8s.V1ReplicaSet[]> {
    const list = await apps.listNamespacedReplicaSet({
      namespace: target.namespace,
      labelSelector: `release=${release}`,
    });
    const revision = (rs: k8s.V1ReplicaSet) => Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision']);
    return list.items.sort((a, b) => revision(a) - revision(b));
  }

  /** A pod template as the adapter compares them: plain JSON without the controller's pod-template-hash label. */
  function comparable(template: unknown): unknown {
    const t = JSON.parse(JSON.stringify(template)) as { metadata?: { labels?: Record<string, string> } };
    delete t.metadata?.labels?.['pod-template-hash'];
    return t;
  }

  /** The requests that reached the apiserver. */
  const forwarded = (entries: ProxiedRequest[]) => entries.filter((e) => e.upstreamStatus !== undefined);

  async function run<T>(workflow: (input: T) => Promise<PlatformChangeResult>, input: T, workflowId: string) {
    return temporal.client.workflow.execute(workflow, { taskQueue, workflowId, args: [input] });
  }
  const attemptsOf = (workflowId: string) => attempts.filter((a) => a.workflowId === workflowId);

  // --- the cases --------------------------------------------------------------------------------------------------

  it('the proxy passes the caller’s token through: the apiserver still authenticates and applies RBAC', async () => {
    const { target, component, deploymentPath } = await installGateway();
    const logFrom = proxy.log.length;
    await expect(platform.currentVersion(component)).resolves.toBe('5.8.1');
    const nobody = new KubernetesPlatform({
      kubeConfig: kubeConfigFrom({ server: proxy.server, token: kube.noRightsToken, caPem: proxy.caPem }),
      resolve: () => target,
    });
    await expect(nobody.currentVersion(component)).rejects.toThrow(/may not get deployments\.apps .*403 Forbidden/);
    expect(proxy.log.slice(logFrom).map((e) => [e.method, e.path, e.upstreamStatus, e.injected])).toEqual([
      ['GET', deploymentPath, 200, false],
      ['GET', deploymentPath, 403, false],
    ]);
  });

  it('a 409 on the rollout patch: the adapter re-reads (keeping a concurrent change) and patches once more, in one call', async () => {
    const { release, target, component, deploymentPath } = await installGateway();
    const conflict = proxy.add({
      method: 'PATCH',
      path: deploymentPath,
      fault: { kind: 'status', status: 409 },
      // Someone else changes the Deployment between the adapter's read and its patch: that is what a 409 means.
      before: async () => {
        await apps.patchNamespacedDeployment(
          {
            name: target.deployment,
            namespace: target.namespace,
            body: { metadata: { annotations: { 'sre.example/note': 'touched during the upgrade' } } },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
        );
      },
    });
    const logFrom = proxy.log.length;

    const result = await platform.upgrade(component, '5.8.2', noProgress, never());

    expect(result).toEqual({ changed: true, from: '5.8.1', to: '5.8.2' });
    expect(conflict.hits).toBe(1);
    const calls = proxy.log.slice(logFrom).filter((e) => e.path === deploymentPath);
    // read, patch (409, injected), read again, patch (applied by the apiserver), then rollout reads
    expect(calls.slice(0, 4).map((e) => [e.method, e.status, e.injected])).toEqual([
      ['GET', 200, false],
      ['PATCH', 409, true],
      ['GET', 200, false],
      ['PATCH', 200, false],
    ]);
    expect(forwarded(calls.filter((e) => e.method === 'PATCH'))).toHaveLength(1);
    const after = await readDeployment(target);
    expect(imageOf(after)).toBe(`${REPOSITORY}:v5.8.2`);
    expect(rolloutStatus(after).state).toBe('done');
    expect(after.metadata?.annotations?.['sre.example/note']).toBe('touched during the upgrade');
    expect(after.metadata?.annotations?.[PREVIOUS_VERSION_ANNOTATION]).toBe('5.8.1');
    // One rollout. (Not the generation: the apiserver bumps a Deployment's generation for an annotation change too.)
    expect(after.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(await replicaSetsOf(target, release)).toHaveLength(2);
  });

  it('a real 409 on the ConfigMap (a concurrent write made it stale): re-read, migrated once, the other write kept', async () => {
    const { release, target, component } = await installGateway({ version: '5.3.9' });
    const path = configMapPath(target);
    const concurrent = proxy.add({
      method: 'PUT',
      path,
      // Forwarded as sent: the apiserver itself answers 409, because an admin wrote the ConfigMap after our read.
      fault: { kind: 'forward' },
      before: async () => {
        const cm = await readConfigMap(target);
        await core.replaceNamespacedConfigMap({
          name: target.configMap!.name,
          namespace: target.namespace,
          body: { ...cm, data: { ...cm.data, 'extra.conf': 'written by someone else' } },
        });
      },
    });
    const logFrom = proxy.log.length;

    const result = await platform.upgrade(component, '5.8.2', noProgress, never(), {
      configMigrations: [GEO_IP_RENAME],
    });

    expect(result).toEqual({ changed: true, from: '5.3.9', to: '5.8.2' });
    expect(concurrent.hits).toBe(1);
    const puts = proxy.log.slice(logFrom).filter((e) => e.method === 'PUT' && e.path === path);
    expect(puts.map((e) => [e.upstreamStatus, e.injected])).toEqual([
      [409, false], // the real apiserver's conflict
      [200, false],
    ]);
    const cm = await readConfigMap(target);
    expect(cm.data?.['extra.conf']).toBe('written by someone else');
    const conf = JSON.parse(cm.data!['tyk.conf']!) as Record<string, unknown>;
    expect(conf.analytics_config).toEqual({ type: 'mongo', geo_ip: { enabled: true } });
    const d = await readDeployment(target);
    expect(imageOf(d)).toBe(`${REPOSITORY}:v5.8.2`);
    expect(d.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    expect(await replicaSetsOf(target, release)).toHaveLength(2);
  });

  it('a 429 with Retry-After on the rollout patch: Temporal retries after the server’s delay, not the policy’s', async () => {
    const { target, component, deploymentPath } = await installGateway();
    const before = await readDeployment(target);
    const throttle = proxy.add({
      method: 'PATCH',
      path: deploymentPath,
      fault: { kind: 'status', status: 429, retryAfterSeconds: 3 },
    });
    const logFrom = proxy.log.length;
    const workflowId = `throttled-${component.controlPlaneId}`;

    const result = await run(upgradeOne, { component, targetVersion: '5.8.2' }, workflowId);

    expect(result).toEqual({ changed: true, from: '5.8.1', to: '5.8.2' });
    expect(throttle.hits).toBe(1);
    const calls = proxy.log.slice(logFrom).filter((e) => e.path === deploymentPath);
    const throttled = calls.find((e) => e.status === 429)!;
    expect(throttled.injected).toBe(true);
    const next = calls.find((e) => e.seq > throttled.seq)!;
    // The policy's first retry would come after 300 ms; Retry-After: 3 asks for 3 s.
    expect(next.at - throttled.settledAt!).toBeGreaterThanOrEqual(3000);
    const tries = attemptsOf(workflowId);
    expect(tries.map((a) => a.attempt)).toEqual([1, 2]);
    expect(tries[0]!.error).toMatch(/was throttled \(429 Too Many Requests: Too many requests/);
    expect(tries[1]!.startedAt - tries[0]!.endedAt!).toBeGreaterThanOrEqual(3000);
    expect(forwarded(calls.filter((e) => e.method === 'PATCH'))).toHaveLength(1);
    const after = await readDeployment(target);
    expect(imageOf(after)).toBe(`${REPOSITORY}:v5.8.2`);
    expect(rolloutStatus(after).state).toBe('done');
    expect(after.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
  });

  it('connection resets after the apiserver applied the patch, and mid-rollout: no second patch, one rollout, right end state', async () => {
    const { release, target, component, deploymentPath } = await installGateway({ minReadySeconds: 6 });
    const before = await readDeployment(target);
    let midRollout: ReturnType<KubeFaultProxy['add']> | undefined;
    const lostAnswer = proxy.add({
      method: 'PATCH',
      path: deploymentPath,
      fault: { kind: 'reset', when: 'after-forward' },
      // Armed once the patch is on its way: the retry's own read and first status poll pass, the second poll is reset
      // while the rollout runs.
      before: async () => {
        midRollout = proxy.add({
          method: 'GET',
          path: deploymentPath,
          skip: 2,
          fault: { kind: 'reset', when: 'before-forward' },
        });
      },
    });
    const logFrom = proxy.log.length;
    const workflowId = `reset-${component.controlPlaneId}`;

    const result = await run(upgradeOne, { component, targetVersion: '5.8.2' }, workflowId);

    expect(lostAnswer.hits).toBe(1);
    expect(midRollout?.hits).toBe(1);
    const calls = proxy.log.slice(logFrom).filter((e) => e.path === deploymentPath);
    const resets = calls.filter((e) => e.action === 'reset' && e.injected);
    expect(resets.map((e) => [e.method, e.upstreamStatus])).toEqual([
      ['PATCH', 200], // applied by the apiserver, answer lost
      ['GET', undefined], // never reached it
    ]);
    const tries = attemptsOf(workflowId);
    expect(tries.map((a) => a.attempt)).toEqual([1, 2, 3]);
    for (const t of tries.slice(0, 2)) expect(t.error).toMatch(/ECONNRESET|socket hang up/);
    // The retries found the patch applied: nothing was patched again, and the rollout they waited for is the first.
    expect(forwarded(calls.filter((e) => e.method === 'PATCH'))).toHaveLength(1);
    expect(result).toEqual({ changed: true, from: '5.8.1', to: '5.8.2' });
    const after = await readDeployment(target);
    expect(imageOf(after)).toBe(`${REPOSITORY}:v5.8.2`);
    expect(rolloutStatus(after).state).toBe('done');
    expect(after.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
    expect(after.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(await replicaSetsOf(target, release)).toHaveLength(2);
  });

  it('a 500 on the patch and a hung read (no answer within requestTimeoutMs) are retried to the right end state', async () => {
    platform = platformThroughProxy({ requestTimeoutMs: 1500 });
    const { target, component, deploymentPath } = await installGateway();
    const before = await readDeployment(target);
    const serverError = proxy.add({ method: 'PATCH', path: deploymentPath, fault: { kind: 'status', status: 500 } });
    const hung = proxy.add({ method: 'GET', path: deploymentPath, skip: 1, fault: { kind: 'hang' } });
    const workflowId = `hung-${component.controlPlaneId}`;

    const result = await run(upgradeOne, { component, targetVersion: '5.8.2' }, workflowId);

    expect(result).toEqual({ changed: true, from: '5.8.1', to: '5.8.2' });
    expect([serverError.hits, hung.hits]).toEqual([1, 1]);
    const tries = attemptsOf(workflowId);
    expect(tries.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(tries[0]!.error).toMatch(/patch deployments\.apps .* answered 500 InternalError/);
    expect(tries[1]!.error).toMatch(/get deployments\.apps .* no answer within 1500 ms/);
    const after = await readDeployment(target);
    expect(imageOf(after)).toBe(`${REPOSITORY}:v5.8.2`);
    expect(rolloutStatus(after).state).toBe('done');
    expect(after.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
  });

  it('a restore under 409, 429 and resets ends on exactly the previous image, pod template and configuration', async () => {
    const { release, target, component, deploymentPath } = await installGateway({
      version: '5.3.9',
      minReadySeconds: 6,
    });
    const original = await readDeployment(target);
    const originalConf = (await readConfigMap(target)).data!['tyk.conf']!;
    const [originalRs] = await replicaSetsOf(target, release);
    const snapshot = await platform.snapshot(component);
    const up = await run(
      upgradeOne,
      { component, targetVersion: '5.8.2', configMigrations: [GEO_IP_RENAME] },
      `upgrade-${release}`,
    );
    expect(up).toEqual({ changed: true, from: '5.3.9', to: '5.8.2' });
    expect((await readConfigMap(target)).data!['tyk.conf']).not.toBe(originalConf);

    const cmPath = configMapPath(target);
    const rules = [
      // The ConfigMap is put back, but the answer is lost: attempt 1 fails.
      proxy.add({ method: 'PUT', path: cmPath, fault: { kind: 'reset', when: 'after-forward' } }),
      // Attempt 2: the template patch conflicts (retried inside the call), then is throttled: attempt 2 fails.
      proxy.add({ method: 'PATCH', path: deploymentPath, fault: { kind: 'status', status: 409 } }),
      proxy.add({
        method: 'PATCH',
        path: deploymentPath,
        fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      }),
      // Attempt 3: the patch is applied, but the answer is lost. Attempt 4 finds it applied and waits for the rollout.
      proxy.add({ method: 'PATCH', path: deploymentPath, fault: { kind: 'reset', when: 'after-forward' } }),
    ];
    const logFrom = proxy.log.length;
    const workflowId = `restore-${release}`;

    const back = await run(restoreOne, snapshot, workflowId);

    expect(rules.map((r) => r.hits)).toEqual([1, 1, 1, 1]);
    const tries = attemptsOf(workflowId);
    expect(tries.map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
    expect(tries[0]!.error).toMatch(/update configmaps .* ECONNRESET|update configmaps .* socket hang up/);
    expect(tries[1]!.error).toMatch(/429 Too Many Requests/);
    expect(tries[2]!.error).toMatch(/patch deployments\.apps .* (ECONNRESET|socket hang up)/);
    expect(tries[2]!.startedAt - tries[1]!.endedAt!).toBeGreaterThanOrEqual(1000); // Retry-After: 1
    const log = proxy.log.slice(logFrom);
    // Exactly one write of each kind reached the apiserver: the config once, the template once.
    expect(forwarded(log.filter((e) => e.method === 'PUT' && e.path === cmPath))).toHaveLength(1);
    expect(forwarded(log.filter((e) => e.method === 'PATCH' && e.path === deploymentPath))).toHaveLength(1);
    expect(back).toEqual({ changed: true, from: '5.8.2', to: '5.3.9' });

    const restored = await waitRolledOut(target);
    expect((await readConfigMap(target)).data!['tyk.conf']).toBe(originalConf);
    expect(imageOf(restored)).toBe(`${REPOSITORY}:v5.3.9`);
    expect(comparable(restored.spec?.template)).toEqual(comparable(original.spec?.template));
    expect(restored.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).toBeUndefined();
    expect(restored.status).toMatchObject({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
    // The controller went back to the original ReplicaSet (same pod-template-hash): the template is byte-for-byte
    // the one it had, as the controller hashes it.
    const sets = await replicaSetsOf(target, release);
    expect(sets).toHaveLength(2);
    expect(sets.at(-1)?.metadata?.name).toBe(originalRs?.metadata?.name);
    expect(sets.at(-1)?.status?.replicas).toBe(2);
    expect(sets[0]?.spec?.replicas).toBe(0);
  });
});
