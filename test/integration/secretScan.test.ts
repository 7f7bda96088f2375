// No secret in any history, log, message or error: a release event, signed with the webhook secret, starts a fleet
// rollout on the dev server; its control planes are upgraded by a worker configured as production is (HubSpot,
// PagerDuty, Slack, a Temporal API key over TLS, encrypted payloads), one of them rolled back with alerts, while
// HubSpot, PagerDuty and Slack each fail once with an answer that echoes the secret they were sent. Then every
// workflow history the run produced (every run of every workflow, continued-as-new ones included) is exported and its
// payloads decoded, and they, the captured logs (worker runtime, adapters, webhook), the messages that went out
// (emails, pages, Slack posts, the alert log) and the error messages of failed calls are scanned for each secret, raw
// and encoded (base64 at any alignment, base64url, hex, URL-encoded). The scanner is shown to find a secret planted
// in a payload, encrypted and not.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { inspect } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { NOTICE_KINDS } from '../../domain/model';
import { EncryptionCodec, ENCRYPTED_ENCODING, parseEncryptionSettings } from '../../integrations/encryptionCodec';
import { signReleaseEvent, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../integrations/releaseEventAuth';
import { createWebhookServer } from '../../integrations/webhookServer';
import { loadConfig, type Config } from '../../config/config';
import { startFleetUpgrade } from '../../client/startFleet';
import { connectClient, type ConnectedClient } from '../../client/temporalClient';
import { connectWorker, createWorker, wireAdapters, type Wiring } from '../../worker/worker';
import { controlPlaneStatusQuery, controlPlaneWorkflowId, fleetWorkflowId } from '../../workflows/messages';
import { startFakePagerDuty, startFakeSlack, type FakePagerDuty, type FakeSlack } from '../helpers/fakeAlertReceivers';
import { startFakeHubSpot, type FakeHubSpot } from '../helpers/fakeHubspot';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';
import { devServerEnv } from '../helpers/temporalServers';

jest.setTimeout(240_000);

const rand = (n = 12) => crypto.randomBytes(n).toString('hex');
/** Distinctive fake secrets: each is found only where it leaked. */
const SECRETS = {
  hubspotToken: `pat-na1-SCANHUBSPOT-${rand()}`,
  webhookSecret: `whsec-SCANWEBHOOK-${rand()}`,
  temporalApiKey: `tmprl-SCANAPIKEY-${rand()}`,
  pagerDutyRoutingKey: `SCANPD${rand(13)}`, // 32 characters, as PagerDuty requires
  encryptionKeyOld: crypto.randomBytes(32).toString('base64'),
  encryptionKeyNew: crypto.randomBytes(32).toString('base64'),
  codecServerToken: `codec-SCANTOKEN-${rand()}`,
  // The Slack webhook URL (its secret path) is the fake's own; added in beforeAll.
} as Record<string, string>;
const TEMPLATE_IDS = Object.fromEntries(NOTICE_KINDS.map((k, i) => [k, 7001 + i]));
const TASK_QUEUE = 'secret-scan';
const CONTROL_PLANES = ['cp-scan-ok', 'cp-scan-fail'];
/** Opted out: the fleet still tells its workflow (which records why it is not upgraded). */
const ALL_CONTROL_PLANES = [...CONTROL_PLANES, 'cp-scan-optout'];

// ---- the scanner ----

/**
 * The forms a secret may take in text: itself, JSON- and URL-escaped, hex, base64url, and base64 at each of the three
 * byte alignments it can have inside a longer base64 string (the middle of each encoding, which does not depend on its
 * neighbours).
 */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set([
    secret,
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
    bytes.toString('hex'),
    bytes.toString('base64'),
    bytes.toString('base64url'),
  ]);
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const start = shift === 0 ? 0 : 4;
    const end = b64.length - 4;
    if (end - start >= 16) {
      forms.add(b64.slice(start, end));
      forms.add(b64.slice(start, end).replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms].filter((f) => f.length >= 12);
}

export interface Finding {
  secret: string;
  form: string;
  source: string;
  excerpt: string;
}

/** Every place in `sources` (name → text) where a secret, in any of its forms, appears. */
export function scanForSecrets(secrets: Record<string, string>, sources: Record<string, string>): Finding[] {
  const findings: Finding[] = [];
  for (const [secret, value] of Object.entries(secrets))
    for (const form of secretForms(value))
      for (const [source, text] of Object.entries(sources)) {
        const at = text.indexOf(form);
        if (at >= 0)
          findings.push({
            secret,
            form: form === value ? 'raw' : 'encoded',
            source,
            excerpt: text.slice(Math.max(0, at - 80), at + form.length + 40),
          });
      }
  return findings;
}

const isPayload = (v: unknown): v is Payload =>
  typeof v === 'object' &&
  v !== null &&
  'metadata' in v &&
  typeof (v as { metadata?: unknown }).metadata === 'object' &&
  (v as { metadata?: Record<string, unknown> }).metadata !== null &&
  (v as { metadata: Record<string, unknown> }).metadata.encoding instanceof Uint8Array;

/** Every Payload in a history (or any proto object), with where it is. */
function payloadsIn(value: unknown, at = '', out: { at: string; payload: Payload }[] = []) {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return out;
  if (isPayload(value)) {
    out.push({ at, payload: value });
    return out;
  }
  for (const [k, v] of Object.entries(value)) payloadsIn(v, `${at}.${k}`, out);
  return out;
}

/** A payload as text: its metadata and its data, decoded as UTF-8. */
function payloadText(p: Payload): string {
  const meta = Object.entries(p.metadata ?? {}).map(([k, v]) => `${k}=${Buffer.from(v ?? []).toString('utf8')}`);
  return `[${meta.join(' ')}] ${Buffer.from(p.data ?? []).toString('utf8')}`;
}

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

/** The history as exported (JSON, payloads still encoded) and every payload in it, decoded by the codec. */
async function exportHistory(history: History, codec: EncryptionCodec): Promise<{ raw: string; decoded: string }> {
  const payloads = payloadsIn(history);
  const decoded = await Promise.all(
    payloads.map(async ({ at, payload }) => `${at}: ${payloadText((await codec.decode([payload]))[0]!)}`),
  );
  return { raw: historyToJSON(history), decoded: decoded.join('\n') };
}

// ---- a TLS front for the dev server, so the worker uses TEMPORAL_API_KEY (which implies TLS) for real ----

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=nightshift test CA',
  );
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(
    file('server.ext'),
    'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    file('server.pem'),
    '-extfile',
    file('server.ext'),
  );
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}

async function startTlsFront(target: string, certs: { cert: string; key: string }): Promise<tls.Server> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const server = tls.createServer(
    { cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key), ALPNProtocols: ['h2'] },
    (socket) => {
      const upstream = net.connect(port, host);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

// ---- the run ----

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-scan-'));
let env: TestWorkflowEnvironment;
let front: tls.Server;
let hubspot: FakeHubSpot;
let pagerduty: FakePagerDuty;
let slack: FakeSlack;
let config: Config;
let wiring: Wiring;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let temporal: ConnectedClient;
let codec: EncryptionCodec;
const logs: string[] = [];
/** Error messages of calls that failed on purpose (configuration, unreachable Temporal, refused webhook events). */
const errors: string[] = [];

beforeAll(async () => {
  // Everything the SDK logs (workflow and activity logs, task failures, core warnings) is kept for the scan.
  Runtime.install({
    logger: new DefaultLogger('DEBUG', ({ level, message, meta }) =>
      logs.push(`[runtime ${level}] ${message} ${meta ? inspect(meta, { depth: 6, breakLength: Infinity }) : ''}`),
    ),
  });
  env = await devServerEnv();
  const certs = makeCertificates(dir);
  front = await startTlsFront(env.address, certs);
  [hubspot, pagerduty, slack] = await Promise.all([
    startFakeHubSpot({ token: SECRETS.hubspotToken, emailIds: Object.values(TEMPLATE_IDS) }),
    startFakePagerDuty({ routingKeys: [SECRETS.pagerDutyRoutingKey!] }),
    startFakeSlack(),
  ]);
  SECRETS.slackWebhookUrl = slack.url;
  SECRETS.slackWebhookSecretPath = slack.secret;

  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const inventory = {
    orgs: [org()],
    controlPlanes: [
      controlPlane('cp-scan-ok'),
      controlPlane('cp-scan-fail', { simulate: { faults: { gateway: 'fail-after-upgrade' } } }),
      controlPlane('cp-scan-optout', { autoUpgrade: false }),
    ],
  };
  const env_ = {
    TEMPORAL_ADDRESS: `127.0.0.1:${(front.address() as net.AddressInfo).port}`,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    TEMPORAL_API_KEY_FILE: file('temporal-api-key', `${SECRETS.temporalApiKey}\n`),
    TEMPORAL_TLS_CA: certs.ca,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    NIGHTSHIFT_INVENTORY: file('fleet.json', JSON.stringify(inventory)),
    NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
    NIGHTSHIFT_SIM_ROLLOUT_MS: '200',
    NIGHTSHIFT_NOTIFIER: 'hubspot',
    NIGHTSHIFT_HUBSPOT_BASE_URL: hubspot.baseUrl,
    NIGHTSHIFT_HUBSPOT_TOKEN: SECRETS.hubspotToken,
    NIGHTSHIFT_HUBSPOT_TEMPLATES: Object.entries(TEMPLATE_IDS)
      .map(([k, id]) => `${k}=${id}`)
      .join(','),
    NIGHTSHIFT_ALERTER: 'log,pagerduty,slack',
    NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
    NIGHTSHIFT_PAGERDUTY_URL: pagerduty.url,
    NIGHTSHIFT_PAGERDUTY_ROUTING_KEY_FILE: file('pd-key', SECRETS.pagerDutyRoutingKey!),
    NIGHTSHIFT_SLACK_WEBHOOK_URL_FILE: file('slack-url', slack.url),
    NIGHTSHIFT_UI_URL: 'http://localhost:8233',
    NIGHTSHIFT_WEBHOOK_SECRETS: `${SECRETS.webhookSecret},old-webhook-secret-${rand()}`,
    NIGHTSHIFT_ENCRYPTION_KEYS_FILE: file(
      'encryption-keys',
      `scan-old:${SECRETS.encryptionKeyOld},scan-new:${SECRETS.encryptionKeyNew}`,
    ),
    NIGHTSHIFT_ENCRYPTION_KEY_ID: 'scan-new',
    NIGHTSHIFT_CODEC_SERVER_TOKEN: SECRETS.codecServerToken!,
    NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
    NIGHTSHIFT_VERIFY_PASSES: '2',
    NIGHTSHIFT_VERIFY_INTERVAL_MS: '100',
    NIGHTSHIFT_VERIFY_SOAK_MS: '100',
    NIGHTSHIFT_VERIFY_TIMEOUT_MS: '5000',
    NIGHTSHIFT_TYK_CHECK_DURATION_MS: '100',
  };
  config = loadConfig(env_);
  codec = new EncryptionCodec(parseEncryptionSettings(config)!);
  wiring = await wireAdapters(config, (line) => logs.push(`[wiring] ${line}`));
  connection = await connectWorker(config);
  worker = await createWorker({ connection, namespace: 'default', taskQueue: TASK_QUEUE, deps: wiring.deps });
  running = worker.run();
  temporal = await connectClient(config);
});

afterAll(async () => {
  for (const cp of ALL_CONTROL_PLANES)
    await temporal?.client.workflow
      .getHandle(controlPlaneWorkflowId(cp))
      .terminate('secret scan done')
      .catch(() => undefined);
  worker?.shutdown();
  await running;
  await connection?.close();
  await temporal?.close();
  await wiring?.close();
  await Promise.all([hubspot?.close(), pagerduty?.close(), slack?.close()]);
  await new Promise((r) => (front ? front.close(r) : r(undefined)));
  await env?.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Polls until `read` gives a value `done` accepts. */
async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(last)} ${lastError ? String(lastError) : ''}`);
}

async function errorOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return inspect(err, { depth: 6 });
  }
  throw new Error('expected a failure');
}

/** Every run of every workflow in the namespace, following continue-as-new chains beyond what visibility lists. */
async function allHistories(client: Client): Promise<Map<string, History>> {
  const runs = new Map<string, History>();
  const queue: { workflowId: string; runId: string }[] = [];
  for await (const wf of client.workflow.list()) queue.push({ workflowId: wf.workflowId, runId: wf.runId });
  while (queue.length > 0) {
    const { workflowId, runId } = queue.shift()!;
    const key = `${workflowId} ${runId}`;
    if (runs.has(key)) continue;
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.set(key, history);
    const next = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (next) queue.push({ workflowId, runId: next });
    const first = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (first) queue.push({ workflowId, runId: first });
  }
  return runs;
}

it('a fleet rollout with failures leaves no secret in histories, logs, messages or errors', async () => {
  const client = temporal.client;
  // One failure from each remote service, echoing the secret it was sent (a debug page, a proxy's error page).
  hubspot.injectFaults({
    endpoint: 'send',
    status: 500,
    body: { status: 'error', message: `internal error for Bearer ${SECRETS.hubspotToken}` },
  });
  pagerduty.failNext({ status: 500, body: `routing_key ${SECRETS.pagerDutyRoutingKey} temporarily unavailable` });
  slack.failNext({ status: 502, body: `<html>502 Bad Gateway: POST ${slack.url} (${slack.secret})</html>` });

  // The release event, signed with the webhook secret; a forged one and a replay are refused.
  const log = (line: string) => logs.push(`[webhook] ${line}`);
  const webhook = createWebhookServer({
    secrets: config.NIGHTSHIFT_WEBHOOK_SECRETS,
    log,
    start: (release, rollout) =>
      startFleetUpgrade(client, { taskQueue: TASK_QUEUE, release, rollout, requestedBy: 'webhook' }),
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(webhook.address() as net.AddressInfo).port}/release-events`;
  const body = JSON.stringify({ ...LTS_RELEASE, rollout: { canary: { labels: [] }, bakeMinutes: 0 } });
  const send = async (secret: string, at = Math.floor(Date.now() / 1000)) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signReleaseEvent(secret, at, body),
        [TIMESTAMP_HEADER]: String(at),
      },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
  try {
    const forged = await send(`not-the-${SECRETS.webhookSecret}`);
    expect(forged.status).toBe(401);
    const at = Math.floor(Date.now() / 1000);
    const accepted = await send(SECRETS.webhookSecret!, at);
    expect(accepted).toMatchObject({ status: 202 });
    const replayed = await send(SECRETS.webhookSecret!, at);
    expect(replayed.status).toBe(409);
    const stale = await send(SECRETS.webhookSecret!, at - 3600);
    expect(stale.status).toBe(401);
    errors.push(...[forged, accepted, replayed, stale].map((r) => `webhook ${r.status}: ${r.text}`));
  } finally {
    await new Promise((r) => webhook.close(r));
  }

  // The rollout runs to its end: one control plane upgraded, one rolled back with alerts.
  const fleet = client.workflow.getHandle(fleetWorkflowId(LTS_RELEASE.id));
  await until(
    'the fleet rollout to finish',
    () => fleet.describe(),
    (d) => d.status.name !== 'RUNNING',
  );
  expect((await fleet.describe()).status.name).toBe('COMPLETED');
  const outcomes: Record<string, string | undefined> = {};
  for (const cp of CONTROL_PLANES) {
    const status = await until(
      `${cp} idle after its attempt`,
      () => client.workflow.getHandle(controlPlaneWorkflowId(cp)).query(controlPlaneStatusQuery),
      (s) => s.state === 'idle' && s.recent.length === 1,
    );
    outcomes[cp] = status.recent[0]!.outcome;
  }
  expect(outcomes).toEqual({ 'cp-scan-ok': 'completed', 'cp-scan-fail': 'rolled-back' });
  await until(
    'the page and the Slack post',
    async () => [pagerduty.accepted.length, slack.posted.length],
    ([p, s]) => p! > 0 && s! > 0,
    60_000,
  ).catch((err: Error) => {
    const pd = pagerduty.requests.map((r) => `${r.method} ${r.path} ${r.body.slice(0, 300)}`);
    const seen = logs.filter((l) => /pagerduty|alert/i.test(l)).slice(-30);
    throw new Error(`${err.message}\nPagerDuty requests:\n${pd.join('\n')}\nlogs:\n${seen.join('\n')}`);
  });
  // Each service failed once, as injected, and was retried.
  expect(hubspot.requests.filter((r) => r.method === 'POST' && r.path.includes('/send')).length).toBeGreaterThan(
    hubspot.sentEmails.length,
  );
  expect(slack.requests.length).toBeGreaterThan(slack.posted.length);
  expect(pagerduty.requests.length).toBeGreaterThan(pagerduty.accepted.length);

  // Calls that fail on purpose, with the secrets configured: their error messages are scanned too.
  errors.push(
    await errorOf(async () => {
      const c = await connectClient({ ...config, TEMPORAL_ADDRESS: '127.0.0.1:1' }, { lazy: true });
      try {
        await c.ensureConnected();
      } finally {
        await c.close();
      }
    }),
    await errorOf(() => connectWorker({ ...config, TEMPORAL_ADDRESS: '127.0.0.1:1' })),
    await errorOf(() =>
      loadConfig({ NIGHTSHIFT_ALERTER: 'slack', NIGHTSHIFT_SLACK_WEBHOOK_URL: `ftp://${SECRETS.webhookSecret}` }),
    ),
    await errorOf(() =>
      loadConfig({
        NIGHTSHIFT_ENCRYPTION_KEYS: `${SECRETS.encryptionKeyNew}:scan-new`,
        NIGHTSHIFT_ENCRYPTION_KEY_ID: 'x',
      }),
    ),
    await errorOf(() => loadConfig({ NIGHTSHIFT_ENCRYPTION_KEY_ID: SECRETS.encryptionKeyOld! })),
    await errorOf(() => {
      const settings = path.join(dir, 'settings-with-a-secret.json');
      fs.writeFileSync(settings, JSON.stringify({ NIGHTSHIFT_HUBSPOT_TOKEN: SECRETS.hubspotToken }));
      return loadConfig({ NIGHTSHIFT_CONFIG_FILE: settings });
    }),
  );

  // Export: every run of every workflow, payloads decoded.
  const histories = await allHistories(client);
  const workflowIds = new Set([...histories.keys()].map((k) => k.split(' ')[0]));
  expect([...workflowIds].sort()).toEqual(
    [fleetWorkflowId(LTS_RELEASE.id), ...ALL_CONTROL_PLANES.map(controlPlaneWorkflowId)].sort(),
  );
  // Each control plane continued as new after its attempt: at least two runs each.
  for (const cp of CONTROL_PLANES)
    expect(
      [...histories.keys()].filter((k) => k.startsWith(`${controlPlaneWorkflowId(cp)} `)).length,
    ).toBeGreaterThanOrEqual(2);

  const sources: Record<string, string> = {};
  let encrypted = 0;
  const notEncrypted: string[] = [];
  for (const [key, history] of histories) {
    const { raw, decoded } = await exportHistory(history, codec);
    sources[`history ${key} (exported)`] = raw;
    sources[`history ${key} (payloads decoded)`] = decoded;
    // Everything but search attributes went to Temporal encrypted, under the current key.
    for (const { at, payload } of payloadsIn(history)) {
      // Not ours to encrypt: search attributes (indexed) and the SDK's patch markers (a patch id).
      if (at.includes('.searchAttributes.') || at.includes('.markerRecordedEventAttributes.details.patch-data.'))
        continue;
      const encoding = Buffer.from(payload.metadata!.encoding!).toString();
      const keyId = Buffer.from(payload.metadata!['encryption-key-id'] ?? []).toString();
      if (encoding === ENCRYPTED_ENCODING && keyId === 'scan-new') encrypted++;
      else notEncrypted.push(`${key}${at}: ${encoding} ${keyId}`);
    }
  }
  expect(notEncrypted).toEqual([]);
  expect(encrypted).toBeGreaterThan(50);
  // The decoded histories hold what the run did: a rollback and its alert.
  expect(Object.values(sources).join('\n')).toContain('rolled back');
  sources.logs = logs.join('\n');
  sources.errors = errors.join('\n');
  sources['alert log'] = fs.readFileSync(path.join(dir, 'alerts.jsonl'), 'utf8');
  sources['HubSpot emails'] = JSON.stringify(hubspot.sentEmails);
  // An event carries its routing key to PagerDuty by design (Events API v2): only the rest is scanned.
  sources['PagerDuty events'] = JSON.stringify(pagerduty.accepted.map(({ routing_key: _key, ...rest }) => rest));
  sources['Slack posts'] = JSON.stringify(slack.posted);
  expect(logs.some((l) => l.includes('[runtime'))).toBe(true);
  expect(logs.some((l) => l.startsWith('[webhook]') && l.includes('401'))).toBe(true);
  expect(sources['alert log']).toContain('cp-scan-fail');

  const findings = scanForSecrets(SECRETS, sources);
  expect(findings).toEqual([]);

  // The scanner can fail: a secret planted in a workflow's input is found once decoded (and, sent without the codec,
  // in its base64 form in the exported history), but not in the encrypted export.
  const planted = `planted ${SECRETS.hubspotToken} in a payload`;
  const plant = async (c: Client, workflowId: string) => {
    const handle = await c.workflow.start('plantedSecret', {
      workflowId,
      taskQueue: 'nobody-polls-this',
      args: [{ note: planted }],
    });
    const history = await handle.fetchHistory();
    await handle.terminate('planted for the scanner test');
    return exportHistory(history, codec);
  };
  const viaCodec = await plant(client, 'planted/encrypted');
  const plain = await plant(env.client, 'planted/plain');
  expect(scanForSecrets(SECRETS, { 'encrypted export': viaCodec.raw })).toEqual([]);
  expect(scanForSecrets(SECRETS, { decoded: viaCodec.decoded })).toEqual([
    expect.objectContaining({ secret: 'hubspotToken', form: 'raw', source: 'decoded' }),
  ]);
  expect(scanForSecrets(SECRETS, { 'plain export': plain.raw })).toEqual([
    expect.objectContaining({ secret: 'hubspotToken', form: 'encoded', source: 'plain export' }),
  ]);
  expect(
    scanForSecrets(
      { k: SECRETS.temporalApiKey! },
      { log: `x-${Buffer.from(`ab${SECRETS.temporalApiKey}`).toString('base64')}` },
    ),
  ).toHaveLength(1);
});
