// The worker as production runs it: NIGHTSHIFT_PLATFORM=kubernetes, NIGHTSHIFT_NOTIFIER=hubspot and
// NIGHTSHIFT_ALERTER=log,pagerduty,slack, configured only through settings (a kubeconfig file, secrets in files), on
// the Temporal dev server. Kubernetes is the wire-contract fake and, when built, a real kube-apiserver; HubSpot,
// PagerDuty and Slack are local servers speaking their wire contracts; Tyk's /hello is a small server that answers
// with the version each Deployment has rolled out. Each control plane gets the release offered to its long-lived
// workflow (control-plane/<id>), and the test waits for the attempt's outcome in the `status` query.
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import YAML from 'yaml';
import { NOTICE_KINDS } from '../../domain/model';
import { hubspotSendId } from '../../integrations/hubspotNotifier';
import { rolloutStatus } from '../../integrations/kubeRolloutStatus';
import { kubeConfigFrom } from '../../integrations/kubernetesPlatform';
import { loadConfig } from '../../config/config';
import { createWorker, wireAdapters, type Wiring } from '../../worker/worker';
import { controlPlaneWorkflowId } from '../../workflows/messages';
import { startFakePagerDuty, startFakeSlack, type FakePagerDuty, type FakeSlack } from '../helpers/fakeAlertReceivers';
import { startFakeHubSpot, type FakeHubSpot } from '../helpers/fakeHubspot';
import type { KubeEnv } from '../helpers/kubeEnv';
import { kubeEnvironments } from '../helpers/kubeEnvironments';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';
import { devServerEnv } from '../helpers/temporalServers';
import { offerRelease, runHistories, waitForAttempt, waitForContinuedAsNew } from '../helpers/controlPlaneRuns';

const GATEWAY_REPO = 'docker.tyk.io/tyk-gateway/tyk-gateway';
/** cp-bad's gateway runs from a mirror whose 5.8.2 image never becomes Ready. */
const BAD_REPO = 'registry.example/mirror/tyk-gateway';
const DASHBOARD_REPO = 'tykio/tyk-dashboard';
const TEMPLATE_IDS = Object.fromEntries(NOTICE_KINDS.map((k, i) => [k, 9001 + i]));
const ROUTING_KEY = 'e2e0routing0key0e2e0routing0key0';
const TYK_CONF = { listen_port: 8080, analytics_config: { type: 'mongo', enable_geo_ip: true } };

let temporal: TestWorkflowEnvironment;
beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  temporal = await devServerEnv();
}, 120_000);
afterAll(async () => {
  await temporal?.teardown();
});

describe.each(kubeEnvironments('productionAdapters.test'))('worker with production adapters, $name', ({ start }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-prod-'));
  const taskQueue = `prod-${Math.random().toString(36).slice(2, 8)}`;
  let kube: KubeEnv;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;
  let hubspot: FakeHubSpot;
  let pagerduty: FakePagerDuty;
  let slack: FakeSlack;
  let tyk: Server;
  let wiring: Wiring;
  let worker: Worker;
  let running: Promise<void>;
  const logLines: string[] = [];
  /** Control plane → the run its offer started (the workflow continues as new after the attempt). */
  const firstRuns = new Map<string, string>();

  async function deployment(namespace: string, name: string, image: string, deadlineSeconds = 600): Promise<void> {
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name, labels },
        spec: {
          replicas: 1,
          minReadySeconds: 0,
          progressDeadlineSeconds: deadlineSeconds,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: containerOf(name), image }] } },
        },
      },
    });
  }
  const containerOf = (deployment: string) =>
    deployment.startsWith('dashboard-') ? 'dashboard-tyk-dashboard' : 'gateway-tyk-gateway';

  /** Tyk /hello for /<namespace>/<deployment>: the version of the image the Deployment has finished rolling out. */
  async function startTyk(): Promise<string> {
    tyk = createServer((req, res) => {
      const [, namespace, name] = (req.url ?? '').split('/');
      apps
        .readNamespacedDeployment({ name: name!, namespace: namespace! })
        .then((d) => {
          if (rolloutStatus(d).state !== 'done') return void res.writeHead(503).end();
          if (name!.startsWith('dashboard-')) return void res.writeHead(200).end('Hello Tiki');
          const image = d.spec!.template.spec!.containers[0]!.image!;
          const version = image.slice(image.lastIndexOf(':') + 1);
          const body = { status: 'pass', version, description: 'Tyk GW', details: { redis: { status: 'pass' } } };
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        })
        .catch(() => res.writeHead(502).end());
    });
    await new Promise<void>((r) => tyk.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(tyk.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    kube = await start();
    const admin = kubeConfigFrom({ server: kube.server, token: kube.adminToken, caPem: kube.caPem });
    apps = admin.makeApiClient(k8s.AppsV1Api);
    core = admin.makeApiClient(k8s.CoreV1Api);
    [hubspot, pagerduty, slack] = await Promise.all([
      startFakeHubSpot({ emailIds: Object.values(TEMPLATE_IDS) }),
      startFakePagerDuty({ routingKeys: [ROUTING_KEY] }),
      startFakeSlack(),
    ]);
    const tykUrl = await startTyk();
    const ns = kube.namespace;

    // Two control planes as the Tyk charts deploy them: cp-good (with a tyk.conf ConfigMap whose renamed key the
    // upgrade migrates) and cp-bad, whose new gateway image never becomes Ready.
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'good-gateway-conf' }, data: { 'tyk.conf': JSON.stringify(TYK_CONF) } },
    });
    await deployment(ns, 'dashboard-good-tyk-dashboard', `${DASHBOARD_REPO}:v5.3.4`);
    await deployment(ns, 'gateway-good-tyk-gateway', `${GATEWAY_REPO}:v5.3.4`);
    await deployment(ns, 'gateway-good-eu-tyk-gateway', `${GATEWAY_REPO}:v5.3.4`);
    await deployment(ns, 'dashboard-refused-tyk-dashboard', `${DASHBOARD_REPO}:v5.3.4`);
    await deployment(ns, 'gateway-refused-tyk-gateway', `${GATEWAY_REPO}:v5.3.4`);
    await deployment(ns, 'dashboard-bad-tyk-dashboard', `${DASHBOARD_REPO}:v5.3.4`);
    // The broken image's rollout fails at this deadline; the restore to v5.3.4 must make progress within it too, which
    // a loaded CI machine (controller and fake kubelet both polling) did not always do in 10 s.
    await deployment(ns, 'gateway-bad-tyk-gateway', `${BAD_REPO}:v5.3.4`, 30);
    kube.brokenImages.add(`${BAD_REPO}:v5.8.2`);

    const hello = (name: string) => `${tykUrl}/${ns}/${name}`;
    const inventory = {
      orgs: [org()],
      controlPlanes: [
        controlPlane('cp-good', {
          config: TYK_CONF,
          kubernetes: {
            namespace: ns,
            release: 'good',
            dashboard: { healthUrl: hello('dashboard-good-tyk-dashboard') },
            gateway: {
              healthUrl: hello('gateway-good-tyk-gateway'),
              configMap: { name: 'good-gateway-conf' },
            },
            dataPlanes: { 'dp-eu': { release: 'good-eu', healthUrl: hello('gateway-good-eu-tyk-gateway') } },
          },
        }),
        controlPlane('cp-refused', {
          dataPlanes: [],
          kubernetes: {
            namespace: ns,
            release: 'refused',
            dashboard: { healthUrl: hello('dashboard-refused-tyk-dashboard') },
            gateway: { healthUrl: hello('gateway-refused-tyk-gateway') },
          },
        }),
        controlPlane('cp-bad', {
          dataPlanes: [],
          kubernetes: {
            namespace: ns,
            release: 'bad',
            dashboard: { healthUrl: hello('dashboard-bad-tyk-dashboard') },
            gateway: { healthUrl: hello('gateway-bad-tyk-gateway') },
          },
        }),
      ],
    };
    const file = (name: string, text: string) => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'e2e',
          cluster: {
            server: kube.server,
            ...(kube.caPem
              ? { 'certificate-authority-data': Buffer.from(kube.caPem).toString('base64') }
              : { 'insecure-skip-tls-verify': true }),
          },
        },
      ],
      users: [{ name: 'nightshift-worker', user: { token: kube.workerToken } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'nightshift-worker', namespace: ns } }],
      'current-context': 'e2e',
    };
    const config = loadConfig({
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      NIGHTSHIFT_INVENTORY: file('fleet.json', JSON.stringify(inventory)),
      NIGHTSHIFT_PLATFORM: 'kubernetes',
      NIGHTSHIFT_K8S_KUBECONFIG: file('kubeconfig.yaml', YAML.stringify(kubeconfig)),
      NIGHTSHIFT_K8S_POLL_MS: '200',
      NIGHTSHIFT_NOTIFIER: 'hubspot',
      NIGHTSHIFT_HUBSPOT_BASE_URL: hubspot.baseUrl,
      NIGHTSHIFT_HUBSPOT_TOKEN_FILE: file('hubspot-token', `${hubspot.token}\n`),
      NIGHTSHIFT_HUBSPOT_TEMPLATES: Object.entries(TEMPLATE_IDS)
        .map(([k, id]) => `${k}=${id}`)
        .join(','),
      NIGHTSHIFT_HUBSPOT_FROM: 'upgrades@nightshift.example',
      NIGHTSHIFT_ALERTER: 'log,pagerduty,slack',
      NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
      NIGHTSHIFT_PAGERDUTY_URL: pagerduty.url,
      NIGHTSHIFT_PAGERDUTY_ROUTING_KEY_FILE: file('pd-key', ROUTING_KEY),
      NIGHTSHIFT_SLACK_WEBHOOK_URL: slack.url,
      NIGHTSHIFT_UI_URL: 'http://localhost:8233',
      NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
      NIGHTSHIFT_VERIFY_PASSES: '2',
      NIGHTSHIFT_VERIFY_INTERVAL_MS: '100',
      NIGHTSHIFT_VERIFY_SOAK_MS: '100',
      NIGHTSHIFT_VERIFY_TIMEOUT_MS: '15000',
      NIGHTSHIFT_TYK_CHECK_DURATION_MS: '100',
    });
    wiring = await wireAdapters(config, (line) => logLines.push(line));
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue,
      deps: wiring.deps,
    });
    running = worker.run();
  }, 180_000);

  afterAll(async () => {
    // The control-plane workflows outlive their attempt (they wait, idle, for the next offer): end them, or the next
    // Kubernetes environment's offers would reach them on this environment's task queue, whose worker is gone.
    for (const cp of firstRuns.keys())
      await temporal.client.workflow
        .getHandle(controlPlaneWorkflowId(cp))
        .terminate('test environment done')
        .catch(() => undefined);
    worker?.shutdown();
    await running;
    await wiring?.close();
    await Promise.all([hubspot?.close(), pagerduty?.close(), slack?.close()]);
    await new Promise((r) => (tyk ? tyk.close(r) : r(undefined)));
    await kube?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const imageOf = async (name: string) =>
    (await apps.readNamespacedDeployment({ name, namespace: kube.namespace })).spec!.template.spec!.containers[0]!
      .image;

  /** Offers the release to `cp`'s workflow and waits for the attempt to end. */
  async function run(cp: string) {
    const handle = await offerRelease(temporal.client, { controlPlaneId: cp, release: LTS_RELEASE, taskQueue });
    firstRuns.set(cp, handle.signaledRunId);
    return { handle, ...(await waitForAttempt(handle)) };
  }

  it('upgrades Dashboard, Gateway (with its tyk.conf) and data plane on Kubernetes and emails through HubSpot', async () => {
    // HubSpot's first answer is a rate limit: the activity retries after the 2 s it asked for, not its own 10 s backoff.
    hubspot.injectFaults({ endpoint: 'send', status: 429, retryAfter: '2' });
    const { handle, record, lastUpgrade } = await run('cp-good');
    expect(record).toMatchObject({ outcome: 'completed', changed: true });
    expect(await imageOf('dashboard-good-tyk-dashboard')).toBe(`${DASHBOARD_REPO}:v5.8.2`);
    expect(await imageOf('gateway-good-tyk-gateway')).toBe(`${GATEWAY_REPO}:v5.8.2`);
    expect(await imageOf('gateway-good-eu-tyk-gateway')).toBe(`${GATEWAY_REPO}:v5.8.2`);
    const conf = await core.readNamespacedConfigMap({ name: 'good-gateway-conf', namespace: kube.namespace });
    expect(JSON.parse(conf.data!['tyk.conf']!)).toEqual({
      listen_port: 8080,
      analytics_config: { type: 'mongo', geo_ip: { enabled: true } },
    });
    // Evidence: the dashboard's liveness answer counted with the Deployment's version. The status shows step
    // history only while the attempt runs; the dashboard's step was done long before it ended.
    const dashboardStep = lastUpgrade?.steps.find((s) => s.name === 'upgrade dashboard 5.3.4 → 5.8.2');
    expect(dashboardStep?.evidence?.at(-1)).toMatchObject({ status: 'pass', version: '5.8.2', httpStatus: 200 });

    // HubSpot's idempotency key comes from the notice key: control-plane/<cp>/a<attempt>/<kind>/<n>.
    const emails = hubspot.sentEmails.filter((e) => e.to === 'ops@acme.example');
    expect(emails.map((e) => e.emailId)).toEqual([TEMPLATE_IDS.scheduled, TEMPLATE_IDS.completed]);
    expect(emails.map((e) => e.sendId)).toEqual([
      hubspotSendId(`${handle.workflowId}/a1/scheduled/1`),
      hubspotSendId(`${handle.workflowId}/a1/completed/2`),
    ]);
    expect(emails[1]!.customProperties).toMatchObject({ control_plane_id: 'cp-good', release_id: 'lts-5.8.2' });
    // Each notice counted once HubSpot's send status said SENT; its statusId is kept with it.
    expect(lastUpgrade?.notices[0]).toMatchObject({
      kind: 'scheduled',
      result: 'SENT',
      deliveryId: emails[0]!.statusId,
    });
    expect(hubspot.contacts.has('ops@acme.example')).toBe(true);
    // The attempt ran in the run the offer started (fetchHistory of the id alone reads the latest run).
    const history = await temporal.client.workflow.getHandle(handle.workflowId, handle.signaledRunId).fetchHistory();
    const events = history.events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendNotice')!;
    const started = events.find(
      (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId?.toString(),
    )!;
    expect(started.activityTaskStartedEventAttributes!.attempt).toBe(2);
    expect(started.activityTaskStartedEventAttributes!.lastFailure?.message).toContain('429');
    const seconds = (e: typeof started) => Number(e.eventTime!.seconds) + (e.eventTime!.nanos ?? 0) / 1e9;
    const waited = seconds(started) - seconds(scheduled);
    expect(waited).toBeGreaterThanOrEqual(2);
    expect(waited).toBeLessThan(9);
    expect(pagerduty.accepted.filter((e) => String(e.dedup_key).includes('cp-good'))).toEqual([]);
  });

  it('rolls back a Gateway whose rollout exceeds its progress deadline, pages PagerDuty, posts to Slack, emails', async () => {
    const { handle, record } = await run('cp-bad');
    expect(record).toMatchObject({ outcome: 'rolled-back', changed: true, versions: { gateway: '5.3.4' } });
    expect(record.reason).toContain('ProgressDeadlineExceeded');
    expect(await imageOf('gateway-bad-tyk-gateway')).toBe(`${BAD_REPO}:v5.3.4`);
    expect(await imageOf('dashboard-bad-tyk-dashboard')).toBe(`${DASHBOARD_REPO}:v5.3.4`);

    // One incident per attempt: dedup key control-plane/<cp>/a<attempt>.
    const page = pagerduty.accepted.filter((e) => e.dedup_key === `${handle.workflowId}/a1`);
    expect(page).toEqual([
      expect.objectContaining({ event_action: 'trigger', payload: expect.objectContaining({ severity: 'error' }) }),
    ]);
    expect(slack.posted.some((m) => m.text?.includes('cp-bad') && m.text.includes('rolled back'))).toBe(true);
    const emails = hubspot.sentEmails.filter((e) => e.customProperties.control_plane_id === 'cp-bad');
    expect(emails.map((e) => e.emailId)).toEqual([TEMPLATE_IDS.scheduled, TEMPLATE_IDS['rolled-back']]);
  });

  it('a scheduled notice HubSpot accepts, then refuses asynchronously, stops the upgrade before any change', async () => {
    // The send answers PENDING; the send-status API later says the address bounced before.
    hubspot.injectFaults({ endpoint: 'send', sendResult: 'PREVIOUSLY_BOUNCED' });
    const { handle, record, lastUpgrade } = await run('cp-refused');
    expect(record).toMatchObject({ outcome: 'failed-before-change', changed: false });
    expect(record.reason).toContain('PREVIOUSLY_BOUNCED');
    expect(lastUpgrade?.notices).toEqual([]);
    expect(await imageOf('dashboard-refused-tyk-dashboard')).toBe(`${DASHBOARD_REPO}:v5.3.4`);
    expect(await imageOf('gateway-refused-tyk-gateway')).toBe(`${GATEWAY_REPO}:v5.3.4`);
    // The SREs are told, with HubSpot's reason.
    const page = pagerduty.accepted.filter((e) => e.dedup_key === `${handle.workflowId}/a1`);
    expect(page).toEqual([
      expect.objectContaining({
        event_action: 'trigger',
        payload: expect.objectContaining({ summary: expect.stringContaining('PREVIOUSLY_BOUNCED') }),
      }),
    ]);
    expect(hubspot.sentEmails.filter((e) => e.customProperties.control_plane_id === 'cp-refused')).toEqual([]);
    // The send was looked up on the status endpoint, not taken as delivered from its first answer.
    expect(hubspot.requests.some((r) => r.method === 'GET' && r.path.includes('/send-statuses/'))).toBe(true);
  });

  it('keeps every secret out of the log and the workflow histories', async () => {
    // Every run of each control plane's workflow: the attempt's and the idle one it continued as.
    const histories = await Promise.all(
      ['cp-good', 'cp-bad'].map(async (cp) => {
        const firstRun = firstRuns.get(cp);
        if (!firstRun) throw new Error(`no upgrade of ${cp} ran in this environment`);
        await waitForContinuedAsNew(temporal.client, controlPlaneWorkflowId(cp), firstRun);
        const runs = await runHistories(temporal.client, controlPlaneWorkflowId(cp), firstRun);
        return runs.map((h) => JSON.stringify(h));
      }),
    );
    const text = [...logLines, ...histories.flat()].join('\n');
    for (const secret of [hubspot.token, ROUTING_KEY, slack.secret, kube.workerToken, kube.adminToken])
      expect(text).not.toContain(secret);
    expect(logLines.some((l) => l.startsWith('platform: kubernetes'))).toBe(true);
  });
});
