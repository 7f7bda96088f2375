// The worker's /livez and /readyz (worker/health.ts) against the real Temporal dev server: ready only while the worker
// polls and Temporal answers; alive (not ready) while it drains an activity on shutdown; not ready once the server is
// unreachable (a relay in front of it cut), and ready again when it is back. And the worker process (`worker/main.ts`)
// end to end: health on NIGHTSHIFT_HEALTH_ADDRESS, a clean exit on SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { heartbeat } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { serveHealth, WorkerHealth, type HealthServer } from '../../worker/health';
import { devServerEnv } from '../helpers/temporalServers';

const ROOT = path.resolve(__dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-health-'));
let env: TestWorkflowEnvironment;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await devServerEnv();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await env?.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: (await res.text()).trim() };
}

/** Polls `url` until it answers `status` (or fails with the last answer). */
async function until(url: string, status: number, timeoutMs = 20_000): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, text: '(no answer yet)' };
  while (Date.now() < deadline) {
    last = await get(url).catch((err: Error) => ({ status: 0, text: err.message }));
    if (last.status === status) return last;
    await sleep(100);
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms; last: ${last.status} ${last.text}`);
}

async function startHealth(namespace = 'default'): Promise<{ health: WorkerHealth; server: HealthServer }> {
  const health = new WorkerHealth({ namespace, cacheMs: 200, probeTimeoutMs: 1_000 });
  const server = await serveHealth(health, '127.0.0.1:0');
  cleanups.push(() => server.close());
  return { health, server };
}

async function connect(): Promise<NativeConnection> {
  const connection = await NativeConnection.connect({ address: env.address });
  cleanups.push(() => connection.close());
  return connection;
}

it('is alive and not ready while starting, ready while running, alive and not ready while draining an activity', async () => {
  const { health, server } = await startHealth();
  const livez = `${server.url}/livez`;
  const readyz = `${server.url}/readyz`;
  expect(await get(livez)).toEqual({ status: 200, text: 'ok: worker starting' });
  expect(await get(readyz)).toEqual({ status: 503, text: 'not ready: worker starting, not polling' });

  let activityStarted!: () => void;
  const started = new Promise<void>((resolve) => (activityStarted = resolve));
  let released = false;
  const connection = await connect();
  const worker = await Worker.create({
    connection,
    taskQueue: 'health-drain',
    workflowsPath: require.resolve('./workerHealthWorkflows'),
    activities: {
      async hold(): Promise<string> {
        activityStarted();
        while (!released) {
          heartbeat();
          await sleep(100);
        }
        return 'finished';
      },
    },
    shutdownGraceTime: '30s',
  });
  health.attach(worker, connection);
  expect(await get(readyz)).toEqual({ status: 503, text: 'not ready: worker INITIALIZED, not polling' });

  const running = worker.run();
  const ready = await until(readyz, 200);
  expect(ready.text).toMatch(/^ok: worker RUNNING; Temporal answered for namespace default in \d+ ms$/);

  const handle = await env.client.workflow.start('holdOneActivity', {
    taskQueue: 'health-drain',
    workflowId: 'health-1',
  });
  cleanups.push(() => handle.terminate());
  await started;
  worker.shutdown(); // what SIGTERM does
  for (let i = 0; i < 5; i++) {
    // Draining for as long as the activity runs (within shutdownGraceTime): still alive, no longer ready.
    expect(await get(readyz)).toEqual({
      status: 503,
      text: expect.stringMatching(/^not ready: worker (STOPPING|DRAINING), not polling$/),
    });
    expect((await get(livez)).status).toBe(200);
    await sleep(200);
  }
  released = true;
  await running;
  expect(await get(readyz)).toEqual({ status: 503, text: 'not ready: worker STOPPED, not polling' });
});

it('reports a FAILED worker as not alive', async () => {
  const { health, server } = await startHealth();
  health.attach({ getState: () => 'FAILED' }, await connect()); // a worker's state after an unrecoverable error
  expect(await get(`${server.url}/livez`)).toEqual({ status: 503, text: 'not live: worker FAILED' });
  expect((await get(`${server.url}/readyz`)).status).toBe(503);
});

it('is not ready when the namespace does not exist on the server', async () => {
  const { health, server } = await startHealth('no-such-namespace');
  const connection = await connect();
  // The worker itself polls the real namespace; only the health check asks about the missing one.
  const worker = await Worker.create({ connection, taskQueue: 'health-ns', activities: { noop: async () => 0 } });
  health.attach(worker, connection);
  const running = worker.run();
  try {
    const answer = await until(`${server.url}/readyz`, 503);
    expect(answer.text).toMatch(/^not ready: Temporal did not answer for namespace no-such-namespace: .*not found/i);
  } finally {
    worker.shutdown();
    await running;
  }
});

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

it('the worker process serves health on NIGHTSHIFT_HEALTH_ADDRESS and exits cleanly on SIGTERM', async () => {
  const port = await freePort();
  const own = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('NIGHTSHIFT_') && !k.startsWith('TEMPORAL_')),
  );
  const child: ChildProcess = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['worker/main.ts'], {
    cwd: ROOT,
    env: {
      ...own,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: 'health-process',
      NIGHTSHIFT_INVENTORY: 'examples/fleet.yaml',
      NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
      NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
      NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
      NIGHTSHIFT_HEALTH_ADDRESS: `127.0.0.1:${port}`,
      NIGHTSHIFT_SHUTDOWN_GRACE: '5s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(`${url}/readyz`, 200, 90_000);
    expect(await get(`${url}/livez`)).toEqual({ status: 200, text: 'ok: worker RUNNING' });
    expect(output).toContain(`nightshift worker: health on ${url}/livez and ${url}/readyz`);
    expect(output).toContain('nightshift worker: on SIGTERM, running activities get 5s to finish');
  } catch (err) {
    throw new Error(`${(err as Error).message}\nworker output:\n${output}`, { cause: err });
  }
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  // The health server went away with the worker.
  await expect(get(`${url}/livez`)).rejects.toThrow();
}, 120_000);

/** A TCP relay to the dev server that can be cut (connections refused, open ones dropped) and restored. */
async function startRelay(
  target: string,
): Promise<{ address: string; cut(): Promise<void>; restore(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host === 'localhost' ? '127.0.0.1' : host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (p: number) => new Promise<void>((resolve) => server.listen(p, '127.0.0.1', resolve));
  await listen(0);
  const relayPort = (server.address() as net.AddressInfo).port;
  const cut = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  cleanups.push(() => (server.listening ? cut() : Promise.resolve()));
  return { address: `127.0.0.1:${relayPort}`, cut, restore: () => listen(relayPort) };
}

it('is not ready while Temporal cannot be reached, still alive, and ready again once it can', async () => {
  const relay = await startRelay(env.address);
  const { health, server } = await startHealth();
  const connection = await NativeConnection.connect({ address: relay.address });
  cleanups.push(() => connection.close());
  const worker = await Worker.create({ connection, taskQueue: 'health-gone', activities: { noop: async () => 0 } });
  health.attach(worker, connection);
  const running = worker.run();
  try {
    await until(`${server.url}/readyz`, 200);

    await relay.cut(); // to the worker, the server is gone: connections refused
    const answer = await until(`${server.url}/readyz`, 503);
    expect(answer.text).toMatch(/^not ready: Temporal did not answer for namespace default: /);
    expect(await get(`${server.url}/livez`)).toEqual({ status: 200, text: 'ok: worker RUNNING' });

    await relay.restore();
    expect((await until(`${server.url}/readyz`, 200, 60_000)).text).toMatch(/^ok: worker RUNNING; Temporal answered/);
  } finally {
    worker.shutdown();
    await running;
  }
}, 120_000);
