// Real servers started by tests (the Kubernetes API server and etcd, PostgreSQL and Temporal Server), supervised so
// that nothing outlives the test process, however it ends. stop() stops them; an 'exit' handler kills them when the
// process exits without stop() (outside Jest: Jest hands test files a process object whose 'exit' never fires); and
// a detached watchdog shell kills them within a second of the test process dying, even by SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited?: string;
}

const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const p of liveProcesses) p.kill('SIGKILL');
    for (const d of liveDirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

/**
 * A detached shell that outlives a SIGKILLed test process: once the parent pid is gone it kills the pids listed in
 * `<dir>/pids` and removes `<dir>`. It exits by itself when `<dir>` disappears (a normal stop()).
 */
function startWatchdog(dir: string): void {
  const script =
    'parent=$1; dir=$2; while [ -d "$dir" ] && kill -0 "$parent" 2>/dev/null; do sleep 1; done; ' +
    '[ -d "$dir" ] || exit 0; [ -f "$dir/pids" ] && kill -9 $(cat "$dir/pids") 2>/dev/null; rm -rf "$dir"';
  spawn('sh', ['-c', script, 'watchdog', String(process.pid), dir], { detached: true, stdio: 'ignore' }).unref();
}

/** The last lines of a log, each cut to 400 characters (servers log JSON with whole stack traces). */
export function tail(file: string, lines = 25): string {
  try {
    const all = fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
    return all.map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A group of server processes with a temporary folder of their own (`dir`) for data and logs. */
export class ServerProcesses {
  readonly dir: string;
  readonly started = Date.now();
  private readonly procs: Proc[] = [];
  private stopped = false;

  /** `label` prefixes log lines and the temp folder; `startTimeoutMs` bounds every waitFor from construction on. */
  constructor(
    private readonly label: string,
    private readonly startTimeoutMs: number,
  ) {
    installExitHandler();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `nightshift-${label}-`));
    liveDirs.add(this.dir);
    startWatchdog(this.dir);
  }

  /** Starts a process logging to `<dir>/<name>.log`; an unexpected exit is logged with the log's tail. */
  spawn(name: string, file: string, args: string[], extra: { uid?: number; gid?: number; cwd?: string } = {}): Proc {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(file, args, { stdio: ['ignore', fd, fd], env: { ...process.env }, ...extra });
    fs.closeSync(fd);
    child.unref(); // a test that forgets stop() must not keep Jest alive: the watchdog then cleans up
    const proc: Proc = { name, child, log };
    liveProcesses.add(child);
    fs.appendFileSync(path.join(this.dir, 'pids'), `${child.pid}\n`);
    child.on('exit', (code, signal) => {
      liveProcesses.delete(child);
      proc.exited = `exited with ${code ?? signal}`;
      if (!this.stopped) console.error(`[${this.label}] ${name} ${proc.exited} unexpectedly:\n${tail(log)}`);
    });
    child.on('error', (err) => {
      proc.exited = `failed to start: ${err.message}`;
    });
    this.procs.push(proc);
    return proc;
  }

  /** Polls `check` until it returns true, failing early (with the log tail) if `proc` dies. */
  async waitFor(what: string, proc: Proc, check: () => Promise<boolean>): Promise<void> {
    const deadline = this.started + this.startTimeoutMs;
    for (;;) {
      if (proc.exited) throw new Error(`${proc.name} ${proc.exited} while waiting for ${what}:\n${tail(proc.log)}`);
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${proc.name} log:\n${tail(proc.log)}`);
      await sleep(200);
    }
  }

  /**
   * Stops the processes newest first (each with `signalFor(name)`, SIGKILL after `graceMs`), then removes `dir`.
   * Idempotent.
   */
  async stop(graceMs: number, signalFor: (name: string) => NodeJS.Signals = () => 'SIGTERM'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.procs].reverse()) {
      if (p.exited) continue;
      const gone = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
      p.child.kill(signalFor(p.name));
      const timeout = new AbortController(); // cancelled below, so that no timer keeps the process alive
      const ended = await Promise.race([
        gone.then(() => true),
        sleep(graceMs, false, { signal: timeout.signal }).catch(() => false),
      ]);
      timeout.abort();
      if (!ended) {
        p.child.kill('SIGKILL');
        await gone;
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
