// The real Temporal Web UI (the one the `temporal` CLI embeds) in headless Chromium: an SRE finds a control plane's
// workflow (control-plane/<id>, long-lived) whose upgrade waits for its window by a search-attribute query, opens it,
// reads its summary, current details and `status` query, and pauses the upgrade with a signal sent from the UI.
// Chromium comes from scripts/setup.js (Debian's `chromium`, or $CHROMIUM_PATH); screenshots land in .data/ui/
// (git-ignored).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../helpers/ports';
import { createLocalWithRetry } from '../helpers/temporalServers';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadConfig } from '../../config/config';
import { createWorker, wireAdapters, type Wiring } from '../../worker/worker';
import { controlPlaneDetails, controlPlaneSummary } from '../../integrations/temporalMessenger';
import { controlPlaneStatusQuery, controlPlaneWorkflowId } from '../../workflows/messages';
import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/searchAttributes';
import { offerRelease, waitForStatus } from '../helpers/controlPlaneRuns';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../..');
const SHOTS = path.join(ROOT, '.data/ui');
const CP = 'cp-ui';
const WORKFLOW_ID = controlPlaneWorkflowId(CP);
/** What an offer from a fleet rollout or the catch-up schedule starts the workflow with (the messenger's). */
const SUMMARY = controlPlaneSummary(CP);
const TASK_QUEUE = 'ui-test';

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
if (mode === 'off') console.warn('[ui test] skipped: NIGHTSHIFT_UI_TEST=off');
else if (!haveChromium)
  console.warn('[ui test] skipped: no Chromium (run `npm run setup` as root, or set CHROMIUM_PATH)');
const describeUi = haveChromium && mode !== 'off' ? describe : describe.skip;

describeUi('Temporal Web UI', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-ui-'));
  let env: TestWorkflowEnvironment;
  let uiUrl: string;
  let wiring: Wiring;
  let worker: Worker;
  let running: Promise<void>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const uiPort = await freePort();
    env = await createLocalWithRetry({
      server: {
        ...(paths.cli ? { executable: { type: 'existing-path' as const, path: paths.cli } } : {}),
        ui: true,
        uiPort,
        searchAttributes: ALL_SEARCH_ATTRIBUTES,
        log: { format: 'pretty', level: 'error' },
      },
    });
    uiUrl = `http://127.0.0.1:${uiPort}`;

    const inventory = path.join(dir, 'fleet.json');
    // Production tier: a week's notice, so the upgrade sits in waiting-for-window for the whole test.
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
    });
    wiring = await wireAdapters(config, () => undefined);
    worker = await createWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      deps: wiring.deps,
    });
    running = worker.run();

    browser = await chromium.launch({ executablePath: paths.chromium, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(20_000);
    // The UI server comes up a moment after the frontend.
    await until('the Web UI', async () => ((await fetch(uiUrl)).ok ? true : undefined));
  });

  afterAll(async () => {
    await browser?.close();
    worker?.shutdown();
    await running;
    await wiring?.close();
    await env?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function screenshot(name: string): Promise<string> {
    fs.mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, name);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`[ui test] screenshot: ${path.relative(ROOT, file)}`);
    return file;
  }

  /** Runs a step; on failure saves a screenshot and adds the page's URL and visible text to the error. */
  async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      const shot = await screenshot(`failed-${slug}.png`).catch(() => '(no screenshot)');
      const text = await page
        .locator('body')
        .innerText()
        .catch(() => '');
      const e = err as Error;
      throw new Error(
        `UI step "${name}" failed at ${page.url()}: ${e.message}\nscreenshot: ${shot}\npage text:\n${text.slice(0, 3000)}`,
        { cause: err },
      );
    }
  }

  /** A tab of the workflow page (rendered as links in 2.54; role tab in some versions). */
  async function openTab(name: string): Promise<void> {
    const re = new RegExp(`^\\s*${name}`);
    await page
      .getByRole('tab', { name: re })
      .or(page.getByRole('link', { name: re }))
      .first()
      .click();
  }

  /** Waits for text in the page or any of its frames (the UI renders summary and details markdown in iframes). */
  async function seeText(re: RegExp, timeoutMs = 20_000): Promise<void> {
    await until(
      `text ${re} on the page`,
      async () => {
        for (const frame of page.frames()) {
          const text = await frame
            .locator('body')
            .innerText({ timeout: 1_000 })
            .catch(() => '');
          if (re.test(text)) return true;
        }
        return undefined;
      },
      timeoutMs,
    );
  }

  it('finds an upgrade by search attribute, shows its summary and status, and pauses it from the UI', async () => {
    const handle = await offerRelease(env.client, {
      controlPlaneId: CP,
      release: LTS_RELEASE,
      taskQueue: TASK_QUEUE,
      staticSummary: SUMMARY,
      staticDetails: controlPlaneDetails(CP),
    });
    await waitForStatus(handle, 'waiting-for-window', (s) => s.upgrade?.stage === 'waiting-for-window');

    const query = `ControlPlaneId="${CP}" AND UpgradeStage="waiting-for-window"`;
    await step('find the upgrade by search attribute', async () => {
      // Visibility is eventually consistent: reload until the row shows up.
      await until(
        'the workflow in the list',
        async () => {
          await page.goto(`${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
          const row = page.getByRole('link', { name: WORKFLOW_ID });
          await row.first().waitFor({ timeout: 5_000 });
          return true;
        },
        60_000,
      );
    });

    await step('open the upgrade', async () => {
      await page.getByRole('link', { name: WORKFLOW_ID }).first().click();
      await page.waitForURL(/\/workflows\/control-plane%2Fcp-ui|\/workflows\/control-plane\/cp-ui/);
      await openTab('User Metadata');
      await seeText(new RegExp(SUMMARY));
      // Current details (setCurrentDetails), rendered as markdown.
      await seeText(/Stage:\s*waiting-for-window/);
    });

    await step('run the status query', async () => {
      await openTab('Queries');
      // `status` is the only query the workflow defines, so the UI preselects it.
      await page.getByRole('button', { name: /^Run Query$/ }).waitFor();
      await page.getByRole('button', { name: /^Run Query$/ }).click();
      // The control plane waits; its upgrade in progress waits for the window. (The result editor renders only the
      // lines in view: the status's top, not its `whyNot` at the end.)
      await seeText(/"state":\s*"waiting"/);
      await seeText(/"stage":\s*"waiting-for-window"/);
    });

    await step('send pause from the UI', async () => {
      await page
        .getByRole('button', { name: /More Actions|Workflow Actions/i })
        .first()
        .click();
      await page
        .getByRole('menuitem', { name: /Send a Signal/i })
        .filter({ visible: true })
        .first()
        .click();
      const dialog = page.getByRole('dialog');
      // The UI lists the signals the workflow defines (from the SDK's workflow metadata).
      await dialog
        .getByRole('button', { name: /Signal name|Select a signal/i })
        .first()
        .click();
      await dialog
        .getByRole('option', { name: /^\s*pause\b/ })
        .filter({ visible: true })
        .first()
        .click();
      const editor = dialog.locator('.cm-content').first();
      await editor.click();
      await page.keyboard.insertText('{"reason":"ui test","by":"playwright"}');
      // The editor reformats the JSON when it loses focus; click Submit only after that re-render.
      await dialog.getByText('Single JSON payload supported.').click();
      await dialog.locator('.cm-content').getByText('"playwright"').waitFor();
      await dialog.getByRole('button', { name: /^Submit$/i }).click();
    });

    await step('see the workflow hold', async () => {
      const status = await until('status.upgrade.paused', async () => {
        const s = await handle.query(controlPlaneStatusQuery);
        return s.upgrade?.paused ? s : undefined;
      });
      const history = await handle.fetchHistory();
      const signals = history.events!.filter((e) => e.workflowExecutionSignaledEventAttributes);
      const u = status.upgrade!;
      const why = `upgrade ${JSON.stringify({ stage: u.stage, paused: u.paused, pause: u.pause })}; signals in history: ${signals.length}`;
      expect({ why, pause: u.pause, stage: u.stage, whyNot: status.whyNot[0] }).toMatchObject({
        pause: { reason: 'ui test', by: 'playwright' },
        stage: 'waiting-for-window',
        whyNot: { code: 'paused', detail: 'paused by playwright: ui test' },
      });
    });

    await step('see the pause in the current details', async () => {
      await page.reload();
      await openTab('User Metadata');
      await seeText(/PAUSED: ui test/);
    });
    await screenshot('upgrade-paused.png');
  });
});
