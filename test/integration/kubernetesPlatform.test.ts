// The Kubernetes adapter against an API server: always the wire-contract fake, and a real kube-apiserver +
// kube-controller-manager when scripts/setupKube.js has built them (NIGHTSHIFT_REAL_KUBE=required makes their
// absence a failure, =off skips them). Every adapter call runs with the worker token, which has only the rights
// deploy/kubernetes/rbac.yaml grants: the suite passing proves the manifest is sufficient.
import * as k8s from '@kubernetes/client-node';
import {
  PermissionDeniedError,
  RequestRejectedError,
  RetryLaterError,
  RolloutFailedError,
  type PlatformChangeResult,
} from '../../activities/ports';
import type { ComponentRef, ConfigMigration } from '../../domain/model';
import { rolloutStatus } from '../../integrations/kubeRolloutStatus';
import {
  CONFIG_HASH_ANNOTATION,
  KubernetesPlatform,
  imageForVersion,
  kubeConfigFrom,
  parseImageRef,
  type KubeTarget,
  type KubernetesSnapshotData,
} from '../../integrations/kubernetesPlatform';
import type { FakeKubeApi } from '../helpers/fakeKubeApi';
import type { KubeEnv } from '../helpers/kubeEnv';
import { kubeEnvironments } from '../helpers/kubeEnvironments';

const REPOSITORY = 'docker.tyk.io/tyk-gateway/tyk-gateway';
const CONTAINER = 'gateway-tyk-gateway';
const GATEWAY: ComponentRef = { controlPlaneId: 'cp-k8s', kind: 'gateway', id: 'gateway' };
const TYK_CONF = {
  listen_port: 8080,
  secret: 'not-a-real-secret',
  analytics_config: { type: 'mongo', enable_geo_ip: true },
};
const GEO_IP_RENAME: ConfigMigration = {
  key: 'analytics_config.enable_geo_ip',
  to: 'analytics_config.geo_ip.enabled',
  renamedIn: '5.8.0',
};

const noProgress = () => undefined;

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof Error)) throw new Error(`expected a rejection with an Error, got ${String(outcome)}`);
  return outcome;
}
const never = () => new AbortController().signal;

describe.each(kubeEnvironments('kubernetesPlatform.test'))(
  'KubernetesPlatform against the $name',
  ({ kind, start }) => {
    let env: KubeEnv;
    let apps: k8s.AppsV1Api;
    let core: k8s.CoreV1Api;
    let releases = 0;

    beforeAll(async () => {
      env = await start();
      const admin = kubeConfigFrom({ server: env.server, token: env.adminToken, caPem: env.caPem });
      apps = admin.makeApiClient(k8s.AppsV1Api);
      core = admin.makeApiClient(k8s.CoreV1Api);
    }, 180_000);
    afterAll(async () => {
      await env?.close();
    });

    const fakeOnly = kind === 'fake' ? it : it.skip;
    const fake = () => env as FakeKubeApi;

    function targetOf(release: string): KubeTarget {
      return {
        namespace: env.namespace,
        deployment: `gateway-${release}-tyk-gateway`,
        container: CONTAINER,
        image: REPOSITORY,
        configMap: { name: `${release}-tyk-gateway-conf`, key: 'tyk.conf' },
      };
    }

    function platform(release: string, token = env.workerToken): KubernetesPlatform {
      return new KubernetesPlatform({
        kubeConfig: kubeConfigFrom({ server: env.server, token, caPem: env.caPem }),
        resolve: () => targetOf(release),
        pollMs: 200,
      });
    }

    /** A gateway as the tyk-gateway chart deploys it (names, labels, container, strategy), with its tyk.conf. */
    async function installGateway(
      opts: { version?: string; progressDeadlineSeconds?: number; minReadySeconds?: number } = {},
    ): Promise<{ release: string; target: KubeTarget }> {
      releases += 1;
      const release = `r${releases}-${Date.now().toString(36)}`;
      const target = targetOf(release);
      const selector = { app: target.deployment, release };
      await core.createNamespacedConfigMap({
        namespace: env.namespace,
        body: {
          metadata: { name: target.configMap!.name },
          data: { 'tyk.conf': `${JSON.stringify(TYK_CONF, null, 2)}\n` },
        },
      });
      await apps.createNamespacedDeployment({
        namespace: env.namespace,
        body: {
          metadata: { name: target.deployment, labels: { ...selector, chart: 'tyk-gateway' } },
          spec: {
            replicas: 2,
            minReadySeconds: opts.minReadySeconds ?? 1,
            progressDeadlineSeconds: opts.progressDeadlineSeconds ?? 600,
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
                    readinessProbe: { httpGet: { path: '/hello', port: 8080 } },
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
      return { release, target };
    }

    async function readDeployment(target: KubeTarget): Promise<k8s.V1Deployment> {
      return apps.readNamespacedDeployment({ name: target.deployment, namespace: target.namespace });
    }

    async function readConf(target: KubeTarget): Promise<string> {
      const cm = await core.readNamespacedConfigMap({ name: target.configMap!.name, namespace: target.namespace });
      return cm.data!['tyk.conf']!;
    }

    async function waitRolledOut(target: KubeTarget, timeoutMs = 60_000): Promise<k8s.V1Deployment> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await readDeployment(target);
        if (rolloutStatus(d).state === 'done') return d;
        if (Date.now() > deadline)
          throw new Error(`${target.deployment} did not roll out: ${rolloutStatus(d).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    function imageOf(d: k8s.V1Deployment): string | undefined {
      return d.spec?.template.spec?.containers.find((c) => c.name === CONTAINER)?.image;
    }

    function patchesOf(target: KubeTarget): number {
      const path = `/apis/apps/v1/namespaces/${target.namespace}/deployments/${target.deployment}`;
      return fake().requests.filter((r) => r.method === 'PATCH' && r.path === path).length;
    }

    function expectNoSecrets(message: string): void {
      for (const token of [env.adminToken, env.workerToken, env.noRightsToken]) expect(message).not.toContain(token);
    }

    it('upgrades a Tyk gateway Deployment to the target version and reports progress', async () => {
      const { release, target } = await installGateway();
      const progress: Record<string, unknown>[] = [];
      const p = platform(release);
      await expect(p.currentVersion(GATEWAY)).resolves.toBe('5.8.1');

      const result = await p.upgrade(GATEWAY, '5.8.2', (d) => progress.push(d), never());

      expect(result).toEqual<PlatformChangeResult>({ changed: true, from: '5.8.1', to: '5.8.2' });
      const d = await readDeployment(target);
      expect(imageOf(d)).toBe(`${REPOSITORY}:v5.8.2`);
      expect(rolloutStatus(d).state).toBe('done');
      expect(d.status).toMatchObject({ updatedReplicas: 2, availableReplicas: 2, replicas: 2 });
      await expect(p.currentVersion(GATEWAY)).resolves.toBe('5.8.2');
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress[0]).toMatchObject({
        phase: 'rolling-out',
        component: 'gateway',
        namespace: env.namespace,
        deployment: target.deployment,
        from: '5.8.1',
        to: '5.8.2',
      });
      expect(progress.at(-1)).toMatchObject({ state: 'done', desired: 2, updated: 2, available: 2, replicas: 2 });
      for (const detail of progress) expect(typeof detail.updated).toBe('number');
    });

    it('changes nothing when run again: no new generation, no patch', async () => {
      const { release, target } = await installGateway();
      const p = platform(release);
      await p.upgrade(GATEWAY, '5.8.2', noProgress, never(), { configMigrations: [GEO_IP_RENAME] });
      const before = await readDeployment(target);
      const conf = await readConf(target);
      const patches = kind === 'fake' ? patchesOf(target) : 0;

      const again = await p.upgrade(GATEWAY, 'v5.8.2', noProgress, never(), { configMigrations: [GEO_IP_RENAME] });

      expect(again).toEqual({ changed: false, from: '5.8.2', to: '5.8.2' });
      const after = await readDeployment(target);
      expect(after.metadata?.generation).toBe(before.metadata?.generation);
      expect(after.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe(
        before.metadata?.annotations?.['deployment.kubernetes.io/revision'],
      );
      await expect(readConf(target)).resolves.toBe(conf);
      if (kind === 'fake') expect(patchesOf(target)).toBe(patches);
    });

    it('a retry that finds its own rollout running waits for it without patching again', async () => {
      const { release, target } = await installGateway({ minReadySeconds: 3 });
      const crashed = new AbortController();
      const first = platform(release).upgrade(
        GATEWAY,
        '5.8.2',
        () => crashed.abort(new Error('worker crashed')),
        crashed.signal,
      );
      await expect(first).rejects.toThrow('worker crashed');
      const patched = await readDeployment(target);
      expect(imageOf(patched)).toBe(`${REPOSITORY}:v5.8.2`);
      expect(rolloutStatus(patched).state).toBe('progressing');

      const retry = await platform(release).upgrade(GATEWAY, '5.8.2', noProgress, never());

      expect(retry).toEqual({ changed: true, from: '5.8.1', to: '5.8.2' });
      const after = await readDeployment(target);
      expect(after.metadata?.generation).toBe(patched.metadata?.generation);
      expect(rolloutStatus(after).state).toBe('done');
      if (kind === 'fake') expect(patchesOf(target)).toBe(1);
    });

    it('the worker token migrates tyk.conf in the same rollout, and restore puts config and template back', async () => {
      const { release, target } = await installGateway({ version: '5.3.9' });
      const p = platform(release);
      const originalConf = await readConf(target);
      const before = await readDeployment(target);
      const snapshot = await p.snapshot(GATEWAY);
      expect(snapshot).toMatchObject({ component: GATEWAY, version: '5.3.9', config: TYK_CONF });
      const data = snapshot.data as KubernetesSnapshotData;
      expect(data.configMapData).toBe(originalConf);
      expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot); // travels through Temporal as JSON

      const up = await p.upgrade(GATEWAY, '5.8.2', noProgress, never(), { configMigrations: [GEO_IP_RENAME] });

      expect(up).toEqual({ changed: true, from: '5.3.9', to: '5.8.2' });
      const migrated = JSON.parse(await readConf(target)) as typeof TYK_CONF;
      expect(migrated.analytics_config).toEqual({ type: 'mongo', geo_ip: { enabled: true } });
      const upgraded = await readDeployment(target);
      expect(upgraded.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1); // one rollout for both
      expect(upgraded.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
      expect(imageOf(upgraded)).toBe(`${REPOSITORY}:v5.8.2`);

      const back = await p.restore(GATEWAY, snapshot, noProgress, never());

      expect(back).toEqual({ changed: true, from: '5.8.2', to: '5.3.9' });
      await expect(readConf(target)).resolves.toBe(originalConf);
      const restored = await readDeployment(target);
      expect(rolloutStatus(restored).state).toBe('done');
      expect(imageOf(restored)).toBe(`${REPOSITORY}:v5.3.9`);
      expect(restored.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).toBeUndefined();
      await expect(p.restore(GATEWAY, snapshot, noProgress, never())).resolves.toEqual({
        changed: false,
        from: '5.3.9',
        to: '5.3.9',
      });
    });

    it('a broken image fails with ProgressDeadlineExceeded, and restoring the snapshot rolls back to health', async () => {
      const { release, target } = await installGateway({ progressDeadlineSeconds: 4 });
      const broken = `${REPOSITORY}:v5.8.99`;
      env.brokenImages.add(broken);
      const p = platform(release);
      const snapshot = await p.snapshot(GATEWAY);

      const failure = await p.upgrade(GATEWAY, '5.8.99', noProgress, never()).catch((e: unknown) => e);

      expect(failure).toBeInstanceOf(RolloutFailedError);
      expect((failure as Error).message).toMatch(/ProgressDeadlineExceeded/);
      expect((failure as Error).message).toContain(target.deployment);
      expect(imageOf(await readDeployment(target))).toBe(broken);

      const back = await p.restore(GATEWAY, snapshot, noProgress, never());

      expect(back).toEqual({ changed: true, from: '5.8.99', to: '5.8.1' });
      const d = await readDeployment(target);
      expect(imageOf(d)).toBe(`${REPOSITORY}:v5.8.1`);
      expect(rolloutStatus(d).state).toBe('done');
      expect(d.status).toMatchObject({ availableReplicas: 2, updatedReplicas: 2, replicas: 2 });
    });

    it('a token without rights gets a PermissionDeniedError naming the permission and the manifest', async () => {
      const { release } = await installGateway();
      const p = platform(release, env.noRightsToken);
      for (const attempt of [
        () => p.currentVersion(GATEWAY),
        () => p.upgrade(GATEWAY, '5.8.2', noProgress, never(), { configMigrations: [GEO_IP_RENAME] }),
      ]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PermissionDeniedError);
        const message = (err as Error).message;
        expect(message).toMatch(/may not (get|update|patch) (deployments\.apps|configmaps) "/);
        expect(message).toContain(`namespace "${env.namespace}"`);
        expect(message).toMatch(/User "[^"]+"|system:serviceaccount|nightshift/);
        expect(message).toContain('deploy/kubernetes/rbac.yaml');
        expectNoSecrets(message);
      }
    });

    it('a missing Deployment is a RequestRejectedError naming the namespace and the Deployment', async () => {
      const p = platform('nope');
      const err = await p.currentVersion(GATEWAY).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestRejectedError);
      expect((err as Error).message).toContain(
        `Deployment "gateway-nope-tyk-gateway" not found in namespace "${env.namespace}"`,
      );
      expectNoSecrets((err as Error).message);
    });

    it('refuses configuration migrations when the target names no ConfigMap, before changing anything', async () => {
      const { target } = await installGateway();
      const p = new KubernetesPlatform({
        kubeConfig: kubeConfigFrom({ server: env.server, token: env.workerToken, caPem: env.caPem }),
        resolve: () => ({ ...target, configMap: undefined }),
      });
      const err = await failure(
        p.upgrade(GATEWAY, '5.8.2', noProgress, never(), { configMigrations: [GEO_IP_RENAME] }),
      );
      expect(err).toBeInstanceOf(RequestRejectedError);
      expect(err.message).toContain('analytics_config.enable_geo_ip → analytics_config.geo_ip.enabled');
      expect(imageOf(await readDeployment(target))).toBe(`${REPOSITORY}:v5.8.1`);
    });

    fakeOnly('re-reads and retries after 409 Conflict on the ConfigMap and the Deployment', async () => {
      const { release, target } = await installGateway({ version: '5.3.9' });
      fake().inject({ status: 409, method: 'PUT', resource: 'configmaps', times: 2 });
      fake().inject({ status: 409, method: 'PATCH', resource: 'deployments' });
      const configPath = `/api/v1/namespaces/${target.namespace}/configmaps/${target.configMap!.name}`;
      const reads = () => fake().requests.filter((r) => r.method === 'GET' && r.path === configPath).length;
      const readsBefore = reads();

      const result = await platform(release).upgrade(GATEWAY, '5.8.2', noProgress, never(), {
        configMigrations: [GEO_IP_RENAME],
      });

      expect(result.changed).toBe(true);
      expect(reads() - readsBefore).toBe(3); // one read per attempt
      const puts = fake().requests.filter((r) => r.method === 'PUT' && r.path === configPath);
      expect(puts.map((r) => r.status)).toEqual([409, 409, 200]);
      expect(patchesOf(target)).toBe(2);
      expect(JSON.parse(await readConf(target))).toHaveProperty('analytics_config.geo_ip.enabled', true);
    });

    fakeOnly('server errors stay retryable, 429 with Retry-After asks for that delay, and no token leaks', async () => {
      const { release } = await installGateway();
      const p = platform(release);
      const messages: string[] = [];

      fake().inject({ status: 500, method: 'GET', resource: 'deployments' });
      const serverError = await failure(p.currentVersion(GATEWAY));
      expect(serverError.constructor).toBe(Error);
      expect(serverError.message).toMatch(/answered 500 InternalError/);
      messages.push(serverError.message);

      fake().inject({ status: 429, method: 'GET', resource: 'deployments', retryAfterSeconds: 7 });
      const throttled = await p.currentVersion(GATEWAY).catch((e: unknown) => e);
      expect(throttled).toBeInstanceOf(RetryLaterError);
      expect((throttled as RetryLaterError).retryAfterMs).toBe(7000);
      messages.push((throttled as Error).message);

      fake().inject({ status: 'reset', method: 'GET', resource: 'deployments' });
      const network = await failure(p.currentVersion(GATEWAY));
      expect(network.constructor).toBe(Error);
      expect(network.message).toMatch(/get deployments\.apps .* failed/);
      messages.push(network.message);

      const unauthenticated = await platform(release, 'not-a-token')
        .currentVersion(GATEWAY)
        .catch((e: unknown) => e);
      expect(unauthenticated).toBeInstanceOf(PermissionDeniedError);
      expect((unauthenticated as Error).message).toMatch(/401 Unauthorized/);
      expect((unauthenticated as Error).message).not.toContain('not-a-token');

      for (const message of messages) expectNoSecrets(message);
      await expect(p.currentVersion(GATEWAY)).resolves.toBe('5.8.1');
    });

    fakeOnly('the fake speaks the API server contract: 401 without a token, 415 for other patch types', async () => {
      const { target } = await installGateway();
      const url = `${env.server}/apis/apps/v1/namespaces/${target.namespace}/deployments/${target.deployment}`;
      const anonymous = await fetch(url);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      const apply = await fetch(url, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/apply-patch+yaml' },
        body: '{}',
      });
      expect(apply.status).toBe(415);
      const forbidden = await fetch(url.replace(/\/[^/]+$/, ''), {
        headers: { authorization: `Bearer ${env.workerToken}` },
      });
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as { message: string }).message).toBe(
        `deployments.apps is forbidden: User "system:serviceaccount:${env.namespace}:nightshift-worker" cannot list ` +
          `resource "deployments" in API group "apps" in the namespace "${env.namespace}"`,
      );
    });
  },
);

describe('image references', () => {
  it('splits registry ports, tags and digests, and keeps the repository when changing the version', () => {
    expect(parseImageRef('docker.tyk.io/tyk-gateway/tyk-gateway:v5.8.1')).toEqual({
      repository: REPOSITORY,
      tag: 'v5.8.1',
    });
    expect(parseImageRef('registry.local:5000/tyk/gw')).toEqual({ repository: 'registry.local:5000/tyk/gw' });
    expect(parseImageRef('mirror:5000/tyk/gw:5.8.1@sha256:abc')).toEqual({
      repository: 'mirror:5000/tyk/gw',
      tag: '5.8.1',
      digest: 'sha256:abc',
    });
    expect(imageForVersion(parseImageRef('mirror:5000/tyk/gw:5.8.1@sha256:abc'), '5.8.2')).toBe(
      'mirror:5000/tyk/gw:5.8.2',
    );
    expect(imageForVersion(parseImageRef('tykio/tyk-gateway:v5.8.1'), '5.8.2')).toBe('tykio/tyk-gateway:v5.8.2');
  });
});
