// The worker's health for Kubernetes probes, served on NIGHTSHIFT_HEALTH_ADDRESS:
// - GET /livez:  200 while the process runs and the worker has not FAILED. It does not ask Temporal: an outage of
//                Temporal must not restart every worker.
// - GET /readyz: 200 only while the worker is RUNNING (polling) and Temporal answers a DescribeNamespace on the
//                worker's own connection within a short deadline (the answer is kept a few seconds, so frequent
//                probes cost one call). 503 with the reason otherwise: starting, shutting down, or Temporal unreachable.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NativeConnection, State, Worker } from '@temporalio/worker';

export const LIVENESS_PATH = '/livez';
export const READINESS_PATH = '/readyz';

export interface HealthCheck {
  ok: boolean;
  /** One line: what was checked, or why it failed. */
  detail: string;
}

export interface WorkerHealthOptions {
  namespace: string;
  /** Deadline of one DescribeNamespace call. */
  probeTimeoutMs?: number;
  /** How long a probe's answer (either way) is reused. */
  cacheMs?: number;
}

/** Liveness and readiness of one worker; attach() the worker once it is created (until then: alive, not ready). */
export class WorkerHealth {
  private worker?: Pick<Worker, 'getState'>;
  private connection?: Pick<NativeConnection, 'withDeadline' | 'workflowService'>;
  private cached?: { at: number; check: HealthCheck };
  private inFlight?: Promise<HealthCheck>;
  private readonly probeTimeoutMs: number;
  private readonly cacheMs: number;

  constructor(private readonly opts: WorkerHealthOptions) {
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 2_000;
    this.cacheMs = opts.cacheMs ?? 5_000;
  }

  attach(worker: Pick<Worker, 'getState'>, connection: Pick<NativeConnection, 'withDeadline' | 'workflowService'>) {
    this.worker = worker;
    this.connection = connection;
    this.cached = undefined;
  }

  private state(): State | undefined {
    return this.worker?.getState();
  }

  liveness(): HealthCheck {
    const state = this.state();
    if (state === 'FAILED') return { ok: false, detail: 'worker FAILED' };
    return { ok: true, detail: `worker ${state ?? 'starting'}` };
  }

  async readiness(): Promise<HealthCheck> {
    const state = this.state();
    if (state !== 'RUNNING') return { ok: false, detail: `worker ${state ?? 'starting'}, not polling` };
    const temporal = await this.temporal();
    // The state may have changed while Temporal was asked (a SIGTERM): report the later one.
    const now = this.state();
    if (now !== 'RUNNING') return { ok: false, detail: `worker ${now}, not polling` };
    return temporal.ok ? { ok: true, detail: `worker RUNNING; ${temporal.detail}` } : temporal;
  }

  /** DescribeNamespace on the worker's connection, answered from the cache when recent. */
  private temporal(): Promise<HealthCheck> {
    const c = this.cached;
    if (c && Date.now() - c.at < this.cacheMs) return Promise.resolve(c.check);
    this.inFlight ??= this.describeNamespace().then((check) => {
      this.cached = { at: Date.now(), check };
      this.inFlight = undefined;
      return check;
    });
    return this.inFlight;
  }

  private async describeNamespace(): Promise<HealthCheck> {
    const connection = this.connection!;
    const { namespace } = this.opts;
    const started = Date.now();
    try {
      await connection.withDeadline(started + this.probeTimeoutMs, () =>
        connection.workflowService.describeNamespace({ namespace }),
      );
      return { ok: true, detail: `Temporal answered for namespace ${namespace} in ${Date.now() - started} ms` };
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      return { ok: false, detail: `Temporal did not answer for namespace ${namespace}: ${message}` };
    }
  }
}

export interface HealthServer {
  /** http://host:port, with the port actually bound (an address with port 0 gets a free one). */
  readonly url: string;
  close(): Promise<void>;
}

/** `ip:port` or `[ipv6]:port` (the form config/config.ts validates) into host and port. */
export function parseSocketAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  if (!m) throw new Error(`health address ${JSON.stringify(address)} is not <ip>:<port>`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** Serves /livez and /readyz on `address` (plain text: `ok: …` or `not ready: …`). */
export async function serveHealth(health: WorkerHealth, address: string): Promise<HealthServer> {
  const { host, port } = parseSocketAddress(address);
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://health').pathname;
    const answer = (status: number, text: string): void => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : `${text}\n`);
    };
    if (path !== LIVENESS_PATH && path !== READINESS_PATH) return answer(404, `not found: ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, `method ${req.method} not allowed`);
    const check = path === LIVENESS_PATH ? Promise.resolve(health.liveness()) : health.readiness();
    check.then(
      (c) =>
        answer(c.ok ? 200 : 503, `${c.ok ? 'ok' : path === LIVENESS_PATH ? 'not live' : 'not ready'}: ${c.detail}`),
      (err: Error) => answer(500, `health check failed: ${err.message}`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
