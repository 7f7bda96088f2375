// The shipped build, as the Dockerfile makes it, without a Docker daemon: `npm run build` (the build stage), then the
// runtime stage's own steps (its COPY and RUN lines, read from the Dockerfile) in a clean folder, so production
// dependencies only, and its ENTRYPOINT + CMD started there against a real Temporal dev server with the demo
// inventory the image carries. The worker must load the prebuilt workflow bundle, upgrade a control plane, and exit
// cleanly on SIGTERM. hadolint checks the Dockerfile (skipped when it is not installed, unless CI is set).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Release } from '../../domain/release';
import { readOutbox } from '../../integrations/outboxNotifier';
import { controlPlaneWorkflowId } from '../../workflows/messages';
import { SHARED_WORKFLOW_MODULES, SHARED_WORKFLOW_SOURCES, WORKFLOW_BUNDLE_FILE } from '../../worker/workflowBundle';
import { offerRelease, waitForAttempt } from '../helpers/controlPlaneRuns';
import { parseDockerfile, parseEnvArgs, type Instruction } from '../../scripts/dockerfile';
import { devServerEnv } from '../helpers/temporalServers';

const ROOT = path.resolve(__dirname, '../..');
const HADOLINT = path.join(ROOT, '.tools/venv/bin/hadolint');
const BUILD_MS = 15 * 60_000;

// ---------------------------------------------------------------------------------------------------------------
// The runtime stage, run here (scripts/dockerfile.ts reads the Dockerfile).

/** Leading `--name=value` flags of COPY / RUN, and the rest. */
function flagsOf(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    flags[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

interface Image {
  env: Record<string, string>;
  user?: string;
  command: string[];
}

/**
 * Runs a runtime stage in `dir` (its WORKDIR): COPY from the build context (the checkout) or from the build stage
 * (its /app is the checkout after `npm run build`), RUN with a shell. Anything it cannot reproduce is an error.
 */
function runStage(stage: Instruction[], dir: string): Image {
  const image: Image = { env: {}, command: [] };
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  for (const { keyword, args, line } of stage) {
    const where = `Dockerfile:${line} ${keyword}`;
    if (keyword === 'FROM' || keyword === 'LABEL' || keyword === 'EXPOSE') continue;
    if (keyword === 'WORKDIR') {
      if (args !== '/app') throw new Error(`${where}: this test maps only WORKDIR /app`);
    } else if (keyword === 'ENV') {
      Object.assign(image.env, parseEnvArgs(args, line));
    } else if (keyword === 'COPY') {
      const { flags, rest } = flagsOf(args);
      const parts = rest.split(/\s+/);
      const destArg = parts.pop()!;
      const dest = path.join(dir, destArg);
      const intoDir = destArg.endsWith('/') || parts.length > 1;
      for (const src of parts) {
        let from: string;
        if (flags.from === undefined) from = path.join(ROOT, src);
        else if (flags.from === 'build' && src.startsWith('/app/')) from = path.join(ROOT, src.slice('/app/'.length));
        else throw new Error(`${where}: cannot copy ${src} from ${flags.from}`);
        if (!fs.existsSync(from)) throw new Error(`${where}: ${src} does not exist (${from})`);
        // A directory's contents go into dest, as COPY does; a file goes into dest/ or becomes dest.
        const isDir = fs.statSync(from).isDirectory();
        fs.cpSync(from, isDir || !intoDir ? dest : path.join(dest, path.basename(src)), { recursive: true });
      }
    } else if (keyword === 'RUN') {
      const { rest } = flagsOf(args); // --mount=type=cache: only where npm keeps its cache during the build
      // Not root here: chown to the image's user is not possible (nor needed to run).
      const script = process.getuid?.() === 0 ? rest : `chown() { :; }; ${rest}`;
      const r = spawnSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...image.env } });
      if (r.status !== 0) throw new Error(`${where} failed (exit ${r.status}): ${rest}\n${r.stdout}\n${r.stderr}`);
    } else if (keyword === 'USER') {
      image.user = args;
    } else if (keyword === 'ENTRYPOINT') {
      entrypoint = JSON.parse(args) as string[];
    } else if (keyword === 'CMD') {
      cmd = JSON.parse(args) as string[];
    } else {
      throw new Error(`${where}: this test does not know how to run it`);
    }
  }
  image.command = [...entrypoint, ...cmd];
  return image;
}

// ---------------------------------------------------------------------------------------------------------------

const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const buildStage = stages[0]!;
const runtimeStage = stages.at(-1)!;

function hadolint(file: string): { status: number | null; output: string } {
  const r = spawnSync(HADOLINT, ['--no-color', file], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const hadolintMissing = fs.existsSync(HADOLINT)
  ? undefined
  : `hadolint is not installed at ${HADOLINT} (node scripts/setup.js --tests installs it)`;
// NIGHTSHIFT_HADOLINT=required (CI, .ci/run): a missing hadolint fails the checks instead of skipping them.
const hadolintRequired = process.env.NIGHTSHIFT_HADOLINT === 'required';
if (hadolintMissing && !hadolintRequired) console.warn(`[build.test] hadolint checks skipped: ${hadolintMissing}`);
const hadolintIt = hadolintMissing && !hadolintRequired ? it.skip : it;

describe('Dockerfile', () => {
  hadolintIt('passes hadolint, and hadolint fails a Dockerfile with known mistakes', () => {
    if (hadolintMissing) throw new Error(`CI is set: ${hadolintMissing}`);
    const good = hadolint(path.join(ROOT, 'Dockerfile'));
    expect(good.output).toBe('');
    expect(good.status).toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-hadolint-'));
    fs.writeFileSync(
      path.join(dir, 'Dockerfile'),
      'FROM node:latest\nRUN cd /app && npm install\nCMD node server.js\n',
    );
    const result = hadolint(path.join(dir, 'Dockerfile'));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(result.status).not.toBe(0);
    for (const rule of ['DL3007', 'DL3003', 'DL3025']) expect(result.output).toContain(rule);
  });

  it('builds with `npm run build`, copies what tsconfig.build.json compiles, and the context allows each copy', () => {
    expect(buildStage.filter((i) => i.keyword === 'RUN').map((i) => i.args)).toContainEqual('npm run build');
    const allowed = new Set(
      fs
        .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).replace(/\/$/, '')),
    );
    const fromContext = [...buildStage, ...runtimeStage]
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => flagsOf(i.args).rest.split(/\s+/).slice(0, -1))
      .map((src) => src.replace(/\/$/, ''));
    expect(fromContext.filter((src) => !allowed.has(src))).toEqual([]);
    const compiled = (
      JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
    ).include;
    expect(compiled.filter((dir) => !fromContext.includes(dir))).toEqual([]);
    // The runtime stage runs as a user other than root.
    const user = runtimeStage.filter((i) => i.keyword === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(0|root)(:|$)/);
  });
});

describe('the build, run from a clean folder with production dependencies only', () => {
  let app: string;
  let image: Image;
  let env: TestWorkflowEnvironment | undefined;

  beforeAll(() => {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: BUILD_MS });
    app = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-image-'));
    image = runStage(runtimeStage, app);
  }, BUILD_MS);

  afterAll(async () => {
    await env?.teardown();
    if (app) fs.rmSync(app, { recursive: true, force: true });
  });

  it('has no dev dependencies, and dist/ requires only dependencies, Node built-ins and files in dist/', () => {
    expect(fs.existsSync(path.join(app, 'node_modules/typescript'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules/@temporalio/testing'))).toBe(false);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    const walk = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? walk(p) : p.endsWith('.js') ? [p] : [];
      });
    const files = walk(path.join(app, 'dist')).filter((f) => path.basename(f) !== 'workflow-bundle.js');
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/require\("([^"]+)"\)/g)) {
        const where = `${path.relative(app, file)}: require("${spec}")`;
        if (spec!.startsWith('.')) {
          try {
            require.resolve(path.resolve(path.dirname(file), spec!));
          } catch {
            problems.push(`${where} does not resolve inside dist/`);
          }
          continue;
        }
        const name = spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!;
        if (!builtins.has(name.replace(/^node:/, '')) && !(name in pkg.dependencies))
          problems.push(`${where}: ${name} is not a dependency`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('ships a workflow bundle that loads the stateless libraries once for every cached workflow (preloadModules)', () => {
    const code = fs.readFileSync(path.join(app, 'dist', WORKFLOW_BUNDLE_FILE), 'utf8');
    const preload = /exports\.preloadModules = function preloadModules\(\) \{([^}]*)\}/.exec(code)?.[1] ?? '';
    expect(SHARED_WORKFLOW_MODULES.length).toBeGreaterThan(0);
    for (const name of SHARED_WORKFLOW_MODULES) expect(preload).toContain(`"./node_modules/${name}/`);
    // nightshift's own pure modules, under the same module id the workflow code imports them by (else: two copies).
    for (const source of SHARED_WORKFLOW_SOURCES) {
      const id = `./${path.posix.join('workflows', source)}.ts`;
      expect(preload).toContain(`"${id}"`);
      expect(code).toContain(`/***/ "${id}"`);
    }
  });

  const cliBuilt = () => fs.existsSync(path.join(app, 'dist/cli/nightshift.js'));

  it('runs the CLI (`--help`), when the build has one', () => {
    if (!cliBuilt()) {
      console.warn('[build.test] dist/cli/nightshift.js not built (no cli/nightshift.ts yet): --help not checked');
      expect(image.command.slice(0, 2)).toEqual(['node', 'dist/cli/nightshift.js']);
      return;
    }
    const r = spawnSync('node', ['dist/cli/nightshift.js', '--help'], {
      cwd: app,
      encoding: 'utf8',
      env: cleanEnv(app, image.env),
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\bworker\b/);
  });

  it('starts the worker with the prebuilt bundle, upgrades a control plane, and exits cleanly on SIGTERM', async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await devServerEnv();
    const taskQueue = `build-test-${Date.now()}`;
    // The image's ENTRYPOINT + CMD; until the CLI exists, the worker's own entry point.
    const [node, ...args] = cliBuilt() ? image.command : ['node', 'dist/worker/main.js'];
    const worker = spawn(node!, args, {
      cwd: app,
      env: {
        ...cleanEnv(app, image.env),
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: 'default',
        TEMPORAL_TASK_QUEUE: taskQueue,
        // The demo inventory (examples/fleet.yaml, the image's default), upgraded fast.
        NIGHTSHIFT_SIM_ROLLOUT_MS: '200',
        NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
        NIGHTSHIFT_VERIFY_PASSES: '2',
        NIGHTSHIFT_VERIFY_INTERVAL_MS: '100',
        NIGHTSHIFT_VERIFY_SOAK_MS: '100',
        NIGHTSHIFT_VERIFY_TIMEOUT_MS: '5000',
        NIGHTSHIFT_TYK_CHECK_DURATION_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = watch(worker);
    try {
      await out.waitFor(/nightshift worker: .*task queues=/, 60_000);
      expect(out.text()).toContain(`workflow code: prebuilt bundle ${path.join(app, 'dist/workflow-bundle.js')}`);
      expect(out.text()).not.toContain('bundling');

      const release = JSON.parse(
        fs.readFileSync(path.join(ROOT, 'examples/release-lts-5.8.2.json'), 'utf8'),
      ) as Release;
      const handle = await offerRelease(env.client, { controlPlaneId: 'cp-acme-us', release, taskQueue });
      const { record } = await waitForAttempt(handle, { timeoutMs: 90_000 });
      expect(record).toMatchObject({ releaseId: 'lts-5.8.2', outcome: 'completed', changed: true });
      // The notices went to the image's writable .data/.
      const notices = await readOutbox(path.join(app, '.data/outbox.jsonl'));
      expect(notices.map((n) => n.key)).toContain(`${controlPlaneWorkflowId('cp-acme-us')}/a1/completed/2`);
    } catch (err) {
      worker.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n--- worker output ---\n${out.text()}`, { cause: err });
    }
    worker.kill('SIGTERM');
    const code = await out.exited;
    expect({ code, output: out.text() }).toEqual({ code: 0, output: expect.any(String) });
  }, 240_000);
});

/** The environment a container would have: PATH, the image's ENV, a HOME of its own (no Temporal profile). */
function cleanEnv(app: string, imageEnv: Record<string, string>): NodeJS.ProcessEnv {
  const home = path.join(app, '.home');
  fs.mkdirSync(home, { recursive: true });
  return { PATH: process.env.PATH, HOME: home, ...imageEnv };
}

function watch(child: ChildProcess) {
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    text: () => text,
    exited,
    waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const done = (err?: Error) => {
          listeners.delete(check);
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (pattern.test(text)) done();
        };
        const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs / 1000}s`)), timeoutMs);
        void exited.then((code) => done(new Error(`the worker exited (${code}) before ${pattern}`)));
        listeners.add(check);
        check();
      });
    },
  };
}
