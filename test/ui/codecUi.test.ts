// Encrypted payloads in the real Temporal Web UI: a worker and a client with NIGHTSHIFT_ENCRYPTION_KEYS start a
// control plane's workflow, the dev server's UI is pointed at the codec server (`--ui-codec-endpoint`), and headless
// Chromium shows the workflow's input decrypted when the browser presents the codec server's bearer token, and the
// encrypted payload when the codec server is unreachable or the token is missing. Runs as test/ui/temporalUi.test.ts
// does (NIGHTSHIFT_UI_TEST, Chromium from scripts/setup.js); screenshots land in .data/ui/.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../helpers/ports';
import { createLocalWithRetry } from '../helpers/temporalServers';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createCodecServer } from '../../integrations/codecServer';
import { EncryptionCodec, ENCRYPTED_ENCODING, parseEncryptionSettings } from '../../integrations/encryptionCodec';
import { controlPlaneDetails, controlPlaneSummary } from '../../integrations/temporalMessenger';
import { loadConfig } from '../../config/config';
import { configuredDataConverter, connectClient, type ConnectedClient } from '../../client/temporalClient';
import { createWorker, wireAdapters, type Wiring } from '../../worker/worker';
import { controlPlaneWorkflowId } from '../../workflows/messages';
import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/searchAttributes';
import { offerRelease, waitForStatus } from '../helpers/controlPlaneRuns';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../..');
const SHOTS = path.join(ROOT, '.data/ui');
const CP = 'cp-codec-ui';
const WORKFLOW_ID = controlPlaneWorkflowId(CP);
const TASK_QUEUE = 'codec-ui-test';
const TOKEN = `codec-ui-${crypto.randomBytes(16).toString('hex')}`;
const KEYS = `ui-1:${crypto.randomBytes(32).toString('base64')}`;
/** The decoded input as the UI's JSON view shows it. */
const DECODED_INPUT = new RegExp(`"controlPlaneId":\\s*"${CP}"`);
/** An encrypted payload as the UI shows it undecoded: the whole payload (its metadata, base64 or not) or its data. */
const encryptedShown = (data: Uint8Array) =>
  new RegExp(
    `binary/encrypted|YmluYXJ5L2VuY3J5cHRlZA|${Buffer.from(data).toString('base64').replace(/[+/]/g, '\\$&')}`,
  );
/** The UI's banner when its codec server call failed. */
const COULD_NOT_CONNECT = /Codec Server could not connect/;

function toolPaths(): { cli?: string; chromium?: string } {
  const file = path.join(ROOT, '.tools/temporal-paths.json');
  const fromFile = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  return {
    cli: process.env.TEMPORAL_CLI_PATH ?? fromFile.cli,
    chromium: process.env.CHROMIUM_PATH ?? fromFile.chromium,
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

// NIGHTSHIFT_UI_TEST: `auto` (default) skips without Chromium, `required` (CI) fails instead, `off` always skips.
const mode = process.env.NIGHTSHIFT_UI_TEST ?? 'auto';
if (!['auto', 'required', 'off'].includes(mode))
  throw new Error(`NIGHTSHIFT_UI_TEST = ${JSON.stringify(mode)}: must be auto, required or off`);
const paths = toolPaths();
const haveChromium = !!paths.chromium && fs.existsSync(paths.chromium);
if (!haveChromium && mode === 'required')
  throw new Error(
    "NIGHTSHIFT_UI_TEST=required but there is no Chromium: run `npm run setup` as root (it installs Debian's chromium), or set CHROMIUM_PATH",
  );
if (mode === 'off') console.warn('[codec ui test] skipped: NIGHTSHIFT_UI_TEST=off');
else if (!haveChromium)
  console.warn('[codec ui test] skipped: no Chromium (run `npm run setup` as root, or set CHROMIUM_PATH)');
const describeUi = haveChromium && mode !== 'off' ? describe : describe.skip;

describeUi('Temporal Web UI with the codec server', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-codec-ui-'));
  let env: TestWorkflowEnvironment;
  let uiUrl: string;
  let codecUrl: string;
  let codecServer: http.Server;
  const codecLog: string[] = [];
  let wiring: Wiring;
  let worker: Worker;
  let running: Promise<void>;
  let temporal: ConnectedClient;
  let browser: Browser;

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const [uiPort, codecPort] = [await freePort(), await freePort()];
    uiUrl = `http://127.0.0.1:${uiPort}`;
    codecUrl = `http://127.0.0.1:${codecPort}`;
    codecServer = createCodecServer({
      codec: new EncryptionCodec(parseEncryptionSettings({ NIGHTSHIFT_ENCRYPTION_KEYS: KEYS })!),
      token: TOKEN,
      uiOrigin: uiUrl,
      log: (line) => codecLog.push(line),
    });
    await new Promise<void>((r) => codecServer.listen(codecPort, '127.0.0.1', r));
    env = await createLocalWithRetry({
      server: {
        ...(paths.cli ? { executable: { type: 'existing-path' as const, path: paths.cli } } : {}),
        ui: true,
        uiPort,
        searchAttributes: ALL_SEARCH_ATTRIBUTES,
        log: { format: 'pretty', level: 'error' },
        extraArgs: ['--ui-codec-endpoint', codecUrl],
      },
    });

    const inventory = path.join(dir, 'fleet.json');
    // Production tier: a week's notice, so the upgrade waits for its window for the whole test.
    fs.writeFileSync(
      inventory,
      JSON.stringify({ orgs: [org()], controlPlanes: [controlPlane(CP, { tier: 'production' })] }),
    );
    const config = loadConfig({
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      NIGHTSHIFT_INVENTORY: inventory,
      NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
      NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
      NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
      NIGHTSHIFT_ENCRYPTION_KEYS: KEYS,
      NIGHTSHIFT_CODEC_SERVER_TOKEN: TOKEN,
    });
    wiring = await wireAdapters(config, () => undefined);
    worker = await createWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      deps: wiring.deps,
      dataConverter: configuredDataConverter(config),
    });
    running = worker.run();
    temporal = await connectClient(config);

    browser = await chromium.launch({ executablePath: paths.chromium, headless: true, args: ['--no-sandbox'] });
    await until('the Web UI', async () => ((await fetch(uiUrl)).ok ? true : undefined));
  });

  afterAll(async () => {
    await browser?.close();
    await temporal?.client.workflow
      .getHandle(WORKFLOW_ID)
      .terminate('codec ui test done')
      .catch(() => undefined);
    worker?.shutdown();
    await running;
    await temporal?.close();
    await wiring?.close();
    await env?.teardown();
    if (codecServer) {
      codecServer.closeAllConnections();
      await new Promise((r) => codecServer.close(r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A browser context; `token`: it presents the codec server's bearer token (to the codec server only). */
  async function contextWith(opts: { token?: string; codecUnreachable?: boolean }): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1100 } });
    context.setDefaultTimeout(20_000);
    if (opts.codecUnreachable) await context.route(`${codecUrl}/**`, (route) => route.abort('connectionrefused'));
    else if (opts.token) {
      const authorization = `Bearer ${opts.token}`;
      await context.route(`${codecUrl}/**`, (route) =>
        route.continue({ headers: { ...route.request().headers(), authorization } }),
      );
    }
    return context;
  }

  async function pageText(page: Page): Promise<string> {
    const texts = await Promise.all(
      page.frames().map((f) =>
        f
          .locator('body')
          .innerText({ timeout: 1_000 })
          .catch(() => ''),
      ),
    );
    return texts.join('\n');
  }

  /** Opens the workflow's page and waits until its text matches every one of `expected`; saves a screenshot. */
  async function showWorkflow(
    context: BrowserContext,
    runId: string,
    shot: string,
    ...expected: RegExp[]
  ): Promise<string> {
    const page = await context.newPage();
    const url = `${uiUrl}/namespaces/default/workflows/${encodeURIComponent(WORKFLOW_ID)}/${runId}/history`;
    try {
      await page.goto(url);
      return await until(
        `${expected.join(' and ')} on ${url}`,
        async () => {
          const t = await pageText(page);
          return expected.every((re) => re.test(t)) ? t : undefined;
        },
        30_000,
      );
    } catch (err) {
      const text = await pageText(page);
      const input = text.indexOf('\nInput');
      throw new Error(
        `${(err as Error).message}\npage text from its Input section:\n${text.slice(Math.max(0, input), input + 2500)}` +
          `\ncodec server log:\n${codecLog.slice(-10).join('\n')}\nscreenshot: .data/ui/${shot}`,
        { cause: err },
      );
    } finally {
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, shot), fullPage: true }).catch(() => undefined);
      await page.close();
    }
  }

  it('shows the input decrypted through the codec server, and encrypted without it', async () => {
    const handle = await offerRelease(temporal.client, {
      controlPlaneId: CP,
      release: LTS_RELEASE,
      taskQueue: TASK_QUEUE,
      staticSummary: controlPlaneSummary(CP),
      staticDetails: controlPlaneDetails(CP),
    });
    await waitForStatus(handle, 'waiting-for-window', (s) => s.upgrade?.stage === 'waiting-for-window');
    const runId = handle.signaledRunId;

    // What Temporal holds (read without the codec): the input is encrypted.
    const started = (await env.client.workflow.getHandle(WORKFLOW_ID, runId).fetchHistory()).events![0]!
      .workflowExecutionStartedEventAttributes!;
    const input = started.input!.payloads![0]!;
    expect(Buffer.from(input.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(input.data!).toString('latin1')).not.toContain(CP);
    const ENCRYPTED = encryptedShown(input.data!);

    // Codec server reachable, but the browser has no token: refused (401), still encrypted.
    const before = codecLog.length;
    const noToken = await contextWith({});
    // The UI says why it shows the payloads as they are.
    const noTokenText = await showWorkflow(noToken, runId, 'codec-no-token.png', ENCRYPTED, COULD_NOT_CONNECT);
    expect(noTokenText).not.toMatch(DECODED_INPUT);
    await noToken.close();
    expect(codecLog.slice(before).some((l) => / POST \/decode\S* 401 /.test(l))).toBe(true);
    // The browser asked first (CORS preflight from the UI's origin), and was answered.
    expect(codecLog.slice(before).some((l) => / OPTIONS \/decode\S* 204: preflight/.test(l))).toBe(true);

    // Codec server unreachable: the UI shows the payload as Temporal holds it.
    const offline = await contextWith({ codecUnreachable: true });
    const offlineText = await showWorkflow(offline, runId, 'codec-unreachable.png', ENCRYPTED, COULD_NOT_CONNECT);
    expect(offlineText).not.toMatch(DECODED_INPUT);
    await offline.close();

    // With the token (sent to the codec server only): the input shows decrypted.
    const afterRefusal = codecLog.length;
    const withToken = await contextWith({ token: TOKEN });
    const decodedText = await showWorkflow(withToken, runId, 'codec-decoded.png', DECODED_INPUT);
    expect(decodedText).not.toMatch(COULD_NOT_CONNECT);
    await withToken.close();
    const served = codecLog.slice(afterRefusal);
    expect(served.some((l) => / POST \/decode\S* 200 namespace=default: /.test(l))).toBe(true);
    for (const line of codecLog) expect(line).not.toContain(TOKEN);
  });
});
