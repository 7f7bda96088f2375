// The release-event webhook: `POST /release-events` with a signed JSON release (see releaseEventAuth.ts) starts the
// release's fleet rollout. Nothing starts unless the signature, timestamp and release all check out. Every answer
// other than a health check is logged as one line: remote address, status, reason.
import http from 'node:http';
import type { Release } from '../domain/release';
import type { RolloutPolicyInput } from '../domain/rollout';
import type { FleetStartResult } from '../workers/startFleet';
import { verifyReleaseEvent } from './releaseEventAuth';

export const RELEASE_EVENTS_PATH = '/release-events';
export const HEALTH_PATH = '/healthz';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export interface WebhookServerOptions {
  /** Accepted signing secrets (more than one during a rotation). */
  secrets: string[];
  /** Starts (or finds) the rollout. The event's release carries its own `rollout`, if any. */
  start: (release: Release, rollout?: RolloutPolicyInput) => Promise<FleetStartResult>;
  log: (line: string) => void;
  /** Seconds a signature stays valid either side of now (default 300). */
  toleranceSeconds?: number;
  maxBodyBytes?: number;
}

type Reply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

const oneLine = (text: string) => text.replace(/\s*\n\s*-?\s*/g, '; ').replace(/:;/g, ':');

/** Reads the body up to `limit` bytes; resolves undefined when it is larger (and stops buffering it). */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export function createWebhookServer(opts: WebhookServerOptions): http.Server {
  if (opts.secrets.length === 0) throw new Error('webhook: at least one signing secret is required');
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  async function handle(req: http.IncomingMessage): Promise<Reply> {
    const path = new URL(req.url ?? '/', 'http://webhook').pathname;
    if (path === HEALTH_PATH) {
      if (req.method === 'GET' || req.method === 'HEAD') return { status: 200, body: { ok: true } };
      return { status: 405, body: { error: `${req.method} not allowed on ${path}` }, headers: { allow: 'GET, HEAD' } };
    }
    if (path !== RELEASE_EVENTS_PATH) return { status: 404, body: { error: `no such endpoint: ${path}` } };
    if (req.method !== 'POST')
      return { status: 405, body: { error: `${req.method} not allowed on ${path}` }, headers: { allow: 'POST' } };

    const tooLarge: Reply = {
      status: 413,
      body: { error: `body larger than ${limit} bytes` },
      headers: { connection: 'close' },
    };
    if (Number(req.headers['content-length'] ?? 0) > limit) return tooLarge;
    const rawBody = await readBody(req, limit);
    if (rawBody === undefined) return tooLarge;

    const verdict = verifyReleaseEvent(req.headers, rawBody, {
      secrets: opts.secrets,
      toleranceSeconds: opts.toleranceSeconds,
    });
    if (!verdict.ok) return { status: verdict.status, body: { error: oneLine(verdict.error) } };

    const { release } = verdict;
    try {
      const started = await opts.start(release);
      // 202: a rollout was started; 200: this event had already started one (a retry or a duplicate delivery).
      return {
        status: started.result === 'started' ? 202 : 200,
        body: { workflowId: started.workflowId, runId: started.runId, result: started.result, release: release.id },
      };
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      const reason = err instanceof Error ? `${err.message}${cause}` : String(err);
      return {
        status: 503,
        body: { error: `could not start the rollout of ${release.id}, retry later: ${oneLine(reason)}` },
        headers: { 'retry-after': '30' },
      };
    }
  }

  const server = http.createServer((req, res) => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    const send = ({ status, body, headers }: Reply) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : text);
      const path = (req.url ?? '/').split('?')[0];
      if (path === HEALTH_PATH && status === 200) return;
      const what = typeof body.error === 'string' ? body.error : `${String(body.result)} ${String(body.workflowId)}`;
      opts.log(`${remote} ${req.method} ${path} ${status} ${what}`);
    };
    handle(req).then(send, (err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      // The sender went away mid-body: nobody is left to answer.
      if (req.destroyed || res.headersSent) {
        opts.log(`${remote} ${req.method} ${req.url} aborted: ${reason}`);
        res.destroy();
      } else send({ status: 500, body: { error: `internal error: ${oneLine(reason)}` } });
    });
  });
  // A sender that trickles its request must not hold a connection for minutes.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  return server;
}
