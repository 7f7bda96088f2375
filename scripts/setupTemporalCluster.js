#!/usr/bin/env node
// Builds a real, self-hosted Temporal Server (`temporal-server`) and its schema tool (`temporal-sql-tool`) from the
// Go module proxy, once per server version, into a cache outside the repository, and keeps the PostgreSQL schema
// files of that version beside them. test/helpers/temporalCluster.ts runs them on a throw-away PostgreSQL with the
// config in scripts/temporal-cluster/.
//
// The Go wrapper module scripts/temporal-cluster pins the version (go.mod: go.temporal.io/server, the version of
// docker-compose.temporal.yml's images). It is copied to a temporary directory and built there, so the work tree
// stays clean. Later runs find the marker file and return at once.
//
// NIGHTSHIFT_REAL_TEMPORAL = off | auto (default) | required
//   off       do nothing; the real-cluster tests skip.
//   auto      build when a new enough Go toolchain is found and the binaries are not cached; otherwise skip with a
//             reason.
//   required  like auto, but not producing the binaries is an error (exit code 1 when run directly).
// NIGHTSHIFT_TEMPORAL_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/nightshift/temporal-cluster); the
//                            binaries go to <root>/<version>/bin, the schema to <root>/<version>/schema.
// NIGHTSHIFT_TEMPORAL_GO     the go command to use (default: `go` on PATH, else /usr/local/go/bin/go).
//
// Plain JavaScript with Node built-ins only: it runs before any dependency is installed.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MODULE_DIR = path.join(__dirname, 'temporal-cluster');
const SERVER_MODULE = 'go.temporal.io/server';
/** Binary name → package. */
const BINARIES = {
  'temporal-server': `${SERVER_MODULE}/cmd/server`,
  'temporal-sql-tool': `${SERVER_MODULE}/cmd/tools/sql`,
};
const SCHEMA = path.join('schema', 'postgresql', 'v12');
const MARKER = '.complete.json';
const LOCK_STALE_MS = 2 * 60 * 60_000;

let log = (msg) => console.log(`[temporal-cluster] ${msg}`);

function readGoMod() {
  return fs.readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8');
}

/** The server version pinned by the wrapper module's go.mod (also read by test/helpers/temporalCluster.ts). */
function pinnedVersion() {
  const m = readGoMod().match(/^\s*(?:require\s+)?go\.temporal\.io\/server\s+(v\S+)/m);
  if (!m) throw new Error(`${MODULE_DIR}/go.mod does not require ${SERVER_MODULE}`);
  return m[1];
}

/** The `go` line of the wrapper module: the server's own minimum (1.32 needs 1.26.8). */
function requiredGo() {
  const m = readGoMod().match(/^go\s+(\d+\.\d+(?:\.\d+)?)/m);
  return m ? m[1] : '1.26';
}

function cacheRoot() {
  if (process.env.NIGHTSHIFT_TEMPORAL_CACHE) return path.resolve(process.env.NIGHTSHIFT_TEMPORAL_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'nightshift', 'temporal-cluster');
}

function layout(version) {
  const versionDir = path.join(cacheRoot(), version);
  const binDir = path.join(versionDir, 'bin');
  return {
    versionDir,
    binDir,
    schemaDir: path.join(versionDir, SCHEMA),
    marker: path.join(versionDir, MARKER),
    lock: path.join(versionDir, '.lock'),
  };
}

/** Hash of what the build depends on, so that a changed wrapper module is rebuilt even for the same version. */
function inputsHash() {
  const h = crypto.createHash('sha256');
  for (const f of ['go.mod', 'go.sum'])
    h.update(f)
      .update('\0')
      .update(fs.readFileSync(path.join(MODULE_DIR, f)));
  return h.digest('hex').slice(0, 16);
}

function readMarker(l) {
  try {
    const m = JSON.parse(fs.readFileSync(l.marker, 'utf8'));
    const present = [
      ...Object.keys(BINARIES).map((b) => path.join(l.binDir, b)),
      path.join(l.schemaDir, 'temporal', 'versioned'),
      path.join(l.schemaDir, 'visibility', 'versioned'),
    ].every((p) => fs.existsSync(p));
    return present ? m : undefined;
  } catch {
    return undefined;
  }
}

const versionParts = (v) => v.split('.').map((n) => Number(n) || 0);
function atLeast(have, need) {
  const [a, b] = [versionParts(have), versionParts(need)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** A Go toolchain at least as new as the wrapper module's `go` line: `go` on PATH, then /usr/local/go/bin/go. */
function findGo() {
  const need = requiredGo();
  const tried = [];
  const candidates = process.env.NIGHTSHIFT_TEMPORAL_GO
    ? [process.env.NIGHTSHIFT_TEMPORAL_GO]
    : ['go', '/usr/local/go/bin/go'];
  for (const candidate of candidates) {
    const r = spawnSync(candidate, ['env', 'GOVERSION'], { encoding: 'utf8', timeout: 60_000 });
    if (r.error || r.status !== 0) continue;
    const version = r.stdout.trim();
    if (atLeast(version.replace(/^go/, '').replace(/[^\d.].*$/, ''), need)) return { go: candidate, version };
    tried.push(`${candidate} (${version})`);
  }
  return {
    why:
      tried.length > 0
        ? `Go ${need}+ needed to build Temporal Server ${pinnedVersion()}; found only ${tried.join(', ')}`
        : `no Go toolchain found (tried ${candidates.join(', ')})`,
  };
}

function mode() {
  const m = (process.env.NIGHTSHIFT_REAL_TEMPORAL || 'auto').trim().toLowerCase();
  return ['off', 'auto', 'required'].includes(m) ? m : 'invalid';
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * mkdir-based lock, so that two setups at once build once; a lock whose owner died (an interrupted setup) is taken
 * over.
 */
function acquireLock(l, isDone) {
  const started = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(l.lock);
      fs.writeFileSync(path.join(l.lock, 'owner.json'), JSON.stringify({ pid: process.pid, host: os.hostname() }));
      return true;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    if (isDone()) return false;
    let owner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(l.lock, 'owner.json'), 'utf8'));
    } catch {
      owner = undefined;
    }
    const age = Date.now() - (fs.statSync(l.lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    const dead = owner && owner.host === os.hostname() && !pidAlive(owner.pid);
    if (dead || age > LOCK_STALE_MS || (!owner && age > 60_000)) {
      log(`removing a stale build lock ${l.lock}`);
      fs.rmSync(l.lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > LOCK_STALE_MS) throw new Error(`timed out waiting for the build lock ${l.lock}`);
    log(`another build holds ${l.lock} (pid ${owner?.pid ?? '?'}); waiting`);
    spawnSync('sleep', ['10']);
  }
}

function build(l, go, hash, version) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-temporal-build-'));
  try {
    const moduleCopy = path.join(work, 'temporal-cluster');
    fs.mkdirSync(moduleCopy);
    for (const f of ['go.mod', 'go.sum']) fs.copyFileSync(path.join(MODULE_DIR, f), path.join(moduleCopy, f));
    // CGO as `go env` has it (a build with another CGO setting shares no Go build cache with this one).
    const env = { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false', GOTOOLCHAIN: 'local' };
    const started = Date.now();
    fs.rmSync(l.binDir, { recursive: true, force: true });
    fs.mkdirSync(l.binDir, { recursive: true });
    const logFile = path.join(l.versionDir, 'build.log');
    log(`go build in ${moduleCopy}; log: ${logFile}`);
    const out = fs.openSync(logFile, 'w');
    const packages = Object.values(BINARIES);
    const r = spawnSync(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', work + path.sep, ...packages], {
      cwd: moduleCopy,
      env,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    if (r.error || r.status !== 0) {
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
      throw new Error(`go build exited with ${r.error?.message ?? r.status ?? r.signal}:\n${tail}`);
    }
    // `go build -o dir/` names each binary after its package directory (server, sql).
    for (const [name, pkg] of Object.entries(BINARIES)) {
      fs.renameSync(path.join(work, path.basename(pkg)), path.join(l.binDir, name));
    }
    const check = spawnSync(path.join(l.binDir, 'temporal-server'), ['--version'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`temporal-server --version failed: ${check.stderr || check.stdout}`);
    // The schema files of exactly this version, from the module cache.
    const dir = spawnSync(go, ['list', '-m', '-f', '{{.Dir}}', SERVER_MODULE], {
      cwd: moduleCopy,
      env,
      encoding: 'utf8',
    });
    const src = path.join(dir.stdout.trim(), SCHEMA);
    if (dir.status !== 0 || !fs.existsSync(src)) throw new Error(`schema not found in the module cache (${src})`);
    fs.rmSync(l.schemaDir, { recursive: true, force: true });
    fs.cpSync(src, l.schemaDir, { recursive: true });
    // Module cache files are read-only; make the copy removable.
    spawnSync('chmod', ['-R', 'u+w', l.schemaDir]);
    const seconds = Math.round((Date.now() - started) / 1000);
    const marker = {
      version,
      inputs: hash,
      go: spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim(),
      builtAt: new Date().toISOString(),
      buildSeconds: seconds,
      server: check.stdout.trim(),
    };
    fs.writeFileSync(`${l.marker}.tmp`, JSON.stringify(marker, null, 2) + '\n');
    fs.renameSync(`${l.marker}.tmp`, l.marker); // written last: an interrupted build is redone next time
    log(`built in ${seconds} s: ${marker.server}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Makes sure temporal-server, temporal-sql-tool and the PostgreSQL schema are in the cache, building them when needed
 * (synchronously; a cold build downloads the server's modules and compiles for several minutes). Never throws.
 * @param {{ log?: (msg: string) => void }} [opts]
 * @returns {{ ok: true, binDir: string, schemaDir: string, version: string } | { ok: false, why: string }}
 */
function ensureTemporalCluster(opts = {}) {
  if (opts.log) log = opts.log;
  const m = mode();
  if (m === 'off') return { ok: false, why: 'NIGHTSHIFT_REAL_TEMPORAL=off' };
  if (m === 'invalid') {
    return {
      ok: false,
      why: `NIGHTSHIFT_REAL_TEMPORAL=${process.env.NIGHTSHIFT_REAL_TEMPORAL}: expected off, auto or required`,
    };
  }
  let version;
  try {
    version = pinnedVersion();
  } catch (err) {
    return { ok: false, why: `temporal-cluster: ${err.message}` };
  }
  const l = layout(version);
  const hash = inputsHash();
  const done = () => readMarker(l)?.inputs === hash;
  const ok = { ok: true, binDir: l.binDir, schemaDir: l.schemaDir, version };
  if (done()) {
    log(`Temporal Server ${version}: cached in ${l.versionDir}`);
    return ok;
  }
  const go = findGo();
  if (!go.go) return { ok: false, why: `temporal-cluster: ${go.why}` };
  try {
    fs.mkdirSync(l.versionDir, { recursive: true });
    fs.accessSync(l.versionDir, fs.constants.W_OK);
  } catch (err) {
    return { ok: false, why: `temporal-cluster: cache directory ${l.versionDir} is not writable (${err.message})` };
  }
  log(
    `Temporal Server ${version}: not cached, building temporal-server and temporal-sql-tool with ${go.version} into ` +
      `${l.binDir}. A cold build downloads the server's modules and compiles for several minutes on 2 cores. Set ` +
      'NIGHTSHIFT_REAL_TEMPORAL=off to skip the real-cluster tests instead.',
  );
  try {
    if (!acquireLock(l, done)) return ok; // built by a concurrent setup while we waited
    try {
      if (!done()) build(l, go.go, hash, version);
    } finally {
      fs.rmSync(l.lock, { recursive: true, force: true });
    }
    return done() ? ok : { ok: false, why: 'temporal-cluster: the build finished without its marker' };
  } catch (err) {
    return { ok: false, why: `temporal-cluster: building ${version} failed: ${err.message}` };
  }
}

/** For `node scripts/setup.js --tests`: builds when needed; throws only when the cluster is required (or the switch
 * is misspelt), otherwise logs why the tests will skip. */
function setupForTests({ log: setupLog = (msg) => console.log(`[setup] ${msg}`) } = {}) {
  const result = ensureTemporalCluster({ log: setupLog });
  if (result.ok) setupLog(`real Temporal cluster: Temporal Server ${result.version} in ${result.binDir}`);
  else if (mode() === 'required' || mode() === 'invalid') {
    throw new Error(`the real Temporal cluster is required but unavailable: ${result.why}`);
  } else setupLog(`real Temporal cluster tests will be skipped: ${result.why}`);
  return result;
}

module.exports = { ensureTemporalCluster, setupForTests, pinnedVersion, cacheRoot, layout };

if (require.main === module) {
  try {
    console.log(JSON.stringify(setupForTests()));
  } catch (err) {
    console.error(`[setup] ${err.message}`);
    process.exit(1);
  }
}
