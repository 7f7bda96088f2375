#!/usr/bin/env node
// Builds the real Kubernetes test environment (kube-apiserver, kube-controller-manager, etcd) from the Go module
// proxy, once per Kubernetes version, into a cache outside the repository. test/helpers/realKube.ts runs them.
//
// The Go wrapper module scripts/kube-testenv pins the versions (go.mod: k8s.io/kubernetes and, by minimal version
// selection, go.etcd.io/etcd/server/v3). It is copied to a temporary directory and built there, so the work tree
// stays clean. A cold build (empty module and build caches) downloads 162 module zips (87 MB; 555 MB unpacked),
// compiles ~2,100 packages (+2.9 GB of GOCACHE, peak RSS 1.9 GB) and took 3 min 40 s on this project's 2-core
// machine; with a warm GOCACHE it is a 7 s link. Later runs find the marker file and return at once.
//
// NIGHTSHIFT_REAL_KUBE = off | auto (default) | required
//   off       do nothing; the real-cluster tests skip.
//   auto      build when a Go toolchain (>= 1.24) is found and the binaries are not cached; otherwise skip with a
//             reason.
//   required  like auto, but not producing the binaries is an error (exit code 1 when run directly); the tests
//             that need the real cluster then fail instead of skipping.
// NIGHTSHIFT_KUBE_CACHE     cache root (default ${XDG_CACHE_HOME:-~/.cache}/nightshift/kube-testenv); the binaries
//                           go to <root>/<k8s version>/bin.
// NIGHTSHIFT_KUBE_GO        the go command to use (default: `go` on PATH, else /usr/local/go/bin/go).
//
// Plain JavaScript with Node built-ins only: it runs before any dependency is installed.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setInterval, clearInterval } = require('node:timers');
const { setTimeout: sleep } = require('node:timers/promises');

const MODULE_DIR = path.join(__dirname, 'kube-testenv');
const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'etcd'];
const MARKER = '.complete.json';
const MIN_GO_MINOR = 24; // go.mod uses `tool` directives (Go 1.24+), and Kubernetes 1.34 needs Go 1.24
const LOCK_STALE_MS = 3 * 60 * 60_000;
const LOCK_WAIT_MS = 2 * 60 * 60_000;

/** Versions pinned by the wrapper module's go.mod (the single source of truth, also read by realKube.ts). */
function pinnedVersions() {
  const gomod = fs.readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8');
  const req = (mod) => {
    const m = gomod.match(new RegExp(`^\\s*(?:require\\s+)?${mod.replace(/[.]/g, '\\.')}\\s+(v\\S+)`, 'm'));
    return m ? m[1] : undefined;
  };
  const k8s = req('k8s.io/kubernetes');
  if (!k8s) throw new Error(`${MODULE_DIR}/go.mod does not require k8s.io/kubernetes`);
  return { k8s, etcd: req('go.etcd.io/etcd/server/v3') };
}

function cacheRoot() {
  if (process.env.NIGHTSHIFT_KUBE_CACHE) return path.resolve(process.env.NIGHTSHIFT_KUBE_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'nightshift', 'kube-testenv');
}

function layout(version) {
  const versionDir = path.join(cacheRoot(), version);
  const binDir = path.join(versionDir, 'bin');
  return { versionDir, binDir, marker: path.join(binDir, MARKER), lock: path.join(versionDir, '.lock') };
}

/** Hash of what the build depends on, so that a changed wrapper module is rebuilt even for the same version. */
function inputsHash() {
  const h = crypto.createHash('sha256');
  for (const f of ['go.mod', 'go.sum', path.join('cmd', 'etcd', 'main.go')]) {
    h.update(f)
      .update('\0')
      .update(fs.readFileSync(path.join(MODULE_DIR, f)))
      .update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

function readMarker(l) {
  try {
    const m = JSON.parse(fs.readFileSync(l.marker, 'utf8'));
    if (!BINARIES.every((b) => fs.existsSync(path.join(l.binDir, b)))) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/** A Go toolchain new enough for the wrapper module: `go` on PATH, then /usr/local/go/bin/go. */
function findGo() {
  const tried = [];
  const candidates = process.env.NIGHTSHIFT_KUBE_GO ? [process.env.NIGHTSHIFT_KUBE_GO] : ['go', '/usr/local/go/bin/go'];
  for (const candidate of candidates) {
    const r = spawnSync(candidate, ['env', 'GOVERSION'], { encoding: 'utf8', timeout: 60_000 });
    if (r.error || r.status !== 0) continue;
    const version = r.stdout.trim();
    const m = version.match(/^go1\.(\d+)/);
    if (m && Number(m[1]) >= MIN_GO_MINOR) return { go: candidate, version };
    tried.push(`${candidate} (${version})`);
  }
  return {
    why:
      tried.length > 0
        ? `Go 1.${MIN_GO_MINOR}+ needed to build kube-apiserver; found only ${tried.join(', ')}`
        : `no Go toolchain found (tried ${candidates.join(', ')})`,
  };
}

function mode() {
  const m = (process.env.NIGHTSHIFT_REAL_KUBE || 'auto').trim().toLowerCase();
  return ['off', 'auto', 'required'].includes(m) ? m : 'invalid';
}

/**
 * Makes sure the real-cluster binaries are in the cache, building them when needed (synchronously: a child process
 * does the build and prints progress). Never throws.
 * @param {{ log?: (msg: string) => void }} [opts]
 * @returns {{ ok: true, binDir: string, version: string } | { ok: false, why: string }}
 */
function ensureKubeBinaries({ log = (msg) => console.log(`[setup] ${msg}`) } = {}) {
  const m = mode();
  if (m === 'off') return { ok: false, why: 'NIGHTSHIFT_REAL_KUBE=off' };
  if (m === 'invalid')
    return {
      ok: false,
      why: `NIGHTSHIFT_REAL_KUBE=${process.env.NIGHTSHIFT_REAL_KUBE}: expected off, auto or required`,
    };
  let versions;
  try {
    versions = pinnedVersions();
  } catch (err) {
    return { ok: false, why: `kube-testenv: ${err.message}` };
  }
  const l = layout(versions.k8s);
  const hash = inputsHash();
  const cached = readMarker(l);
  if (cached && cached.inputs === hash) {
    log(`kube-testenv ${versions.k8s}: cached in ${l.binDir}`);
    return { ok: true, binDir: l.binDir, version: versions.k8s };
  }
  const go = findGo();
  if (!go.go) return { ok: false, why: `kube-testenv: ${go.why}` };
  try {
    fs.mkdirSync(l.versionDir, { recursive: true });
    fs.accessSync(l.versionDir, fs.constants.W_OK);
  } catch (err) {
    return { ok: false, why: `kube-testenv: cache directory ${l.versionDir} is not writable (${err.message})` };
  }
  log(
    `kube-testenv ${versions.k8s}: ${cached ? 'wrapper module changed, rebuilding' : 'not cached, building'} ` +
      `kube-apiserver, kube-controller-manager and etcd ${versions.etcd ?? ''} with ${go.version} into ${l.binDir}. ` +
      'A cold build downloads ~90 MB of modules (~550 MB unpacked), fills ~3 GB of Go build cache and compiles ' +
      'for about 4 minutes on 2 cores (more on slower machines). Set NIGHTSHIFT_REAL_KUBE=off to skip the ' +
      'real-cluster tests instead.',
  );
  const child = spawnSync(process.execPath, [path.join(__dirname, 'setupKube.js'), '--build-child'], {
    stdio: 'inherit',
    env: { ...process.env, NIGHTSHIFT_KUBE_GO: go.go, NIGHTSHIFT_KUBE_INPUTS: hash },
  });
  if (child.error) return { ok: false, why: `kube-testenv: build process failed to start: ${child.error.message}` };
  const built = readMarker(l);
  if (child.status === 0 && built && built.inputs === hash) {
    return { ok: true, binDir: l.binDir, version: versions.k8s };
  }
  let why = `kube-testenv: building ${versions.k8s} failed (exit ${child.status ?? child.signal})`;
  try {
    why += `: ${fs.readFileSync(path.join(l.versionDir, 'last-error.txt'), 'utf8').trim()}`;
  } catch {
    // no detail written
  }
  return { ok: false, why };
}

// ---------------------------------------------------------------------------------------------------------------
// The build itself runs in a child process (so it can print progress while the caller waits synchronously).

/** What an interrupted build must clean up (the child handles SIGINT/SIGTERM). */
const inFlight = { proc: undefined, work: undefined, lock: undefined };

function onSignal(signal) {
  if (inFlight.proc) inFlight.proc.kill('SIGKILL');
  if (inFlight.work) fs.rmSync(inFlight.work, { recursive: true, force: true });
  if (inFlight.lock) fs.rmSync(inFlight.lock, { recursive: true, force: true });
  console.error(`[kube-testenv] build interrupted (${signal}); it starts over next time`);
  process.exit(130);
}

function childLog(msg) {
  console.log(`[kube-testenv] ${msg}`);
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** mkdir-based lock; a lock whose owner died (or that is older than LOCK_STALE_MS) is taken over. */
async function acquireLock(l, isDone) {
  const started = Date.now();
  let lastNote = 0;
  for (;;) {
    try {
      fs.mkdirSync(l.lock);
      fs.writeFileSync(
        path.join(l.lock, 'owner.json'),
        JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }),
      );
      return true;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    if (isDone()) return false;
    let owner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(l.lock, 'owner.json'), 'utf8'));
    } catch {
      owner = undefined; // being created right now, or left half-written by a crash
    }
    const age = Date.now() - fs.statSync(l.lock, { throwIfNoEntry: false })?.mtimeMs;
    const dead = owner && owner.host === os.hostname() && !pidAlive(owner.pid);
    if (dead || age > LOCK_STALE_MS || (!owner && age > 60_000)) {
      childLog(`removing a stale build lock ${l.lock}${owner ? ` (pid ${owner.pid})` : ''}`);
      fs.rmSync(l.lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > LOCK_WAIT_MS) throw new Error(`timed out waiting for the build lock ${l.lock}`);
    if (Date.now() - lastNote > 60_000) {
      lastNote = Date.now();
      childLog(`another build is running (pid ${owner?.pid ?? '?'}, lock ${l.lock}); waiting for it`);
    }
    await sleep(5_000);
  }
}

function dirSizeBytes(dir) {
  const r = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split(/\s+/)[0]) * 1024 : undefined;
}

function copyModule(dest) {
  fs.mkdirSync(dest, { recursive: true });
  fs.cpSync(MODULE_DIR, dest, { recursive: true, filter: (src) => !/(^|\/)(bin|\.lock)$/.test(src) });
}

/** Runs `go build -v`, printing a progress line every minute; resolves with the exit code and the output's tail. */
function goBuild(go, args, cwd, env, logFile) {
  return new Promise((resolve) => {
    const out = fs.openSync(logFile, 'w');
    const started = Date.now();
    let packages = 0;
    let tail = '';
    const proc = spawn(go, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    inFlight.proc = proc;
    const onData = (chunk) => {
      fs.writeSync(out, chunk);
      const text = chunk.toString();
      packages += text.split('\n').filter((line) => /^[\w.-]+(\/[\w.~+-]+)*$/.test(line.trim())).length;
      tail = (tail + text).slice(-4000);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    const timer = setInterval(() => {
      const min = ((Date.now() - started) / 60_000).toFixed(0);
      childLog(`still building: ${min} min elapsed, ${packages} packages compiled (log: ${logFile})`);
    }, 60_000);
    proc.on('close', (code, signal) => {
      inFlight.proc = undefined;
      clearInterval(timer);
      fs.closeSync(out);
      resolve({ code: code ?? signal, tail });
    });
    proc.on('error', (err) => {
      clearInterval(timer);
      resolve({ code: -1, tail: err.message });
    });
  });
}

async function buildChild() {
  const versions = pinnedVersions();
  const l = layout(versions.k8s);
  const hash = process.env.NIGHTSHIFT_KUBE_INPUTS || inputsHash();
  const go = process.env.NIGHTSHIFT_KUBE_GO || 'go';
  fs.mkdirSync(l.versionDir, { recursive: true });
  const errorFile = path.join(l.versionDir, 'last-error.txt');
  fs.rmSync(errorFile, { force: true });
  const isDone = () => readMarker(l)?.inputs === hash;

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (!(await acquireLock(l, isDone))) return 0; // someone else finished it while we waited
  inFlight.lock = l.lock;
  let work;
  try {
    if (isDone()) {
      childLog('built by a concurrent setup meanwhile');
      return 0;
    }
    fs.rmSync(l.marker, { force: true });
    fs.mkdirSync(l.binDir, { recursive: true });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-kube-build-'));
    inFlight.work = work;
    const moduleCopy = path.join(work, 'kube-testenv');
    copyModule(moduleCopy);

    const goEnv = (name) => spawnSync(go, ['env', name], { encoding: 'utf8' }).stdout.trim();
    const modCache = goEnv('GOMODCACHE');
    const buildCache = goEnv('GOCACHE');
    const modBefore = dirSizeBytes(modCache) ?? 0;
    const cacheBefore = dirSizeBytes(buildCache) ?? 0;
    const minor = versions.k8s.split('.')[1];
    const ldflags = [
      '-s',
      '-w',
      `-X k8s.io/component-base/version.gitVersion=${versions.k8s}`,
      '-X k8s.io/component-base/version.gitMajor=1',
      `-X k8s.io/component-base/version.gitMinor=${minor}`,
      '-X k8s.io/component-base/version.gitTreeState=clean',
    ].join(' ');
    const env = { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false', CGO_ENABLED: '0' };
    const logFile = path.join(l.versionDir, 'build.log');
    const started = Date.now();
    childLog(`go build in ${moduleCopy} (GOMODCACHE ${modCache}, GOCACHE ${buildCache}); log: ${logFile}`);
    const { code, tail } = await goBuild(
      go,
      [
        'build',
        '-v',
        '-trimpath',
        '-ldflags',
        ldflags,
        '-o',
        l.binDir + path.sep,
        'k8s.io/kubernetes/cmd/kube-apiserver',
        'k8s.io/kubernetes/cmd/kube-controller-manager',
        './cmd/etcd',
      ],
      moduleCopy,
      env,
      logFile,
    );
    if (code !== 0) {
      const lines = tail.trim().split('\n').slice(-15).join('\n');
      throw new Error(`go build exited with ${code}; last lines (full log ${logFile}):\n${lines}`);
    }
    for (const b of BINARIES) {
      const r = spawnSync(path.join(l.binDir, b), ['--version'], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`${b} --version failed: ${(r.stderr || r.stdout || '').trim()}`);
    }
    const seconds = Math.round((Date.now() - started) / 1000);
    const mb = (bytes) => Math.round(bytes / 1e6);
    const sizes = Object.fromEntries(BINARIES.map((b) => [b, mb(fs.statSync(path.join(l.binDir, b)).size)]));
    const marker = {
      version: versions.k8s,
      etcd: versions.etcd,
      inputs: hash,
      go: spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim(),
      builtAt: new Date().toISOString(),
      buildSeconds: seconds,
      binaryMB: sizes,
      modCacheGrowthMB: mb((dirSizeBytes(modCache) ?? 0) - modBefore),
      buildCacheGrowthMB: mb((dirSizeBytes(buildCache) ?? 0) - cacheBefore),
    };
    // The marker is written last: a build interrupted before this point is redone next time.
    fs.writeFileSync(`${l.marker}.tmp`, JSON.stringify(marker, null, 2) + '\n');
    fs.renameSync(`${l.marker}.tmp`, l.marker);
    childLog(
      `built in ${Math.floor(seconds / 60)} min ${seconds % 60} s: ${BINARIES.map((b) => `${b} ${sizes[b]} MB`).join(', ')}; ` +
        `module cache +${marker.modCacheGrowthMB} MB, build cache +${marker.buildCacheGrowthMB} MB`,
    );
    return 0;
  } catch (err) {
    fs.writeFileSync(errorFile, err.message + '\n');
    console.error(`[kube-testenv] build failed: ${err.message}`);
    return 1;
  } finally {
    if (work) fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(l.lock, { recursive: true, force: true });
    inFlight.work = inFlight.lock = undefined;
  }
}

module.exports = { ensureKubeBinaries, pinnedVersions, cacheRoot };

if (require.main === module) {
  if (process.argv.includes('--build-child')) {
    buildChild().then(
      (code) => process.exit(code),
      (err) => {
        console.error(`[kube-testenv] ${err.stack || err.message}`);
        process.exit(1);
      },
    );
  } else {
    const result = ensureKubeBinaries();
    console.log(JSON.stringify(result));
    if (!result.ok) {
      if (mode() === 'required' || mode() === 'invalid') {
        console.error(`[setup] the real Kubernetes test environment is required but unavailable: ${result.why}`);
        process.exit(1);
      }
      console.warn(`[setup] real Kubernetes tests will be skipped: ${result.why}`);
    }
  }
}
