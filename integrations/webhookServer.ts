// The release-event webhook: `POST /release-events` with a signed JSON release (see releaseEventAuth.ts) starts the
// release's fleet rollout. Nothing starts unless the signature, timestamp and release all check out, and a signed
// request is taken once (a replay inside the timestamp window is refused). Bodies are capped, and a sender that
// trickles its request is cut off. Every answer other than a health check is logged as one line: remote address,
// method, path, status, reason.
import http from 'node:http';
import type net from 'node:net';
import type { Release } from '../domain/release';
import type { RolloutPolicyInput } from '../domain/rollout';
import type { FleetStartResult } from '../workflows/messages';
import { readBodyUpTo } from './httpBody';
import { ReplayGuard, verifyReleaseEvent } from './releaseEventAuth';

export const RELEASE_EVENTS_PATH = '/release-events';
export const HEALTH_PATH = '/healthz';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

export interface WebhookServerOptions {
  /** Accepted signing secrets (more than one during a rotation). */
  secrets: string[];
  /** Starts (or finds) the rollout. The event's release carries its own `rollout`, if any. */
  start: (release: Release, rollout?: RolloutPolicyInput) => Promise<FleetStartResult>;
  log: (line: string) => void;
  /** Seconds a signature stays valid either side of now (default 300). */
  toleranceSeconds?: number;
  maxBodyBytes?: number;
  /** A sender must have sent its headers within this (default 10 s)… */
  headersTimeoutMs?: number;
  /** …and its whole request within this (default 15 s); else 408 and the connection is closed. */
  requestTimeoutMs?: number;
}

type Reply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

const oneLine = (text: string) => text.replace(/\s*\n\s*-?\s*/g, '; ').replace(/:;/g, ':');

/**
 * The path of a request target: `/release-events?x` (origin form; `//…` is a path here, not a host) or
 * `http://host/release-events` (absolute form). Undefined when it is neither (`http://[::1`).
 */
function pathOf(target: string): string | undefined {
  try {
    return (target.startsWith('/') ? new URL(`http://webhook${target}`) : new URL(target, 'http://webhook')).pathname;
  } catch {
    return undefined;
  }
}

/** A value a sender gave, as JSON, cut short for an answer or a log line. */
function excerpt(text: string, max = 80): string {
  const json = JSON.stringify(text);
  return json.length > max ? `${json.slice(0, max - 4)}..."` : json;
}

/** The start of what a sender sent that the HTTP parser refused (its first line), to name it in the answer. */
function rawExcerpt(err: NodeJS.ErrnoException & { rawPacket?: unknown }): string {
  if (!Buffer.isBuffer(err.rawPacket) || err.rawPacket.length === 0) return '';
  const firstLine = err.rawPacket.subarray(0, 200).toString('latin1').split(/\r?\n/)[0]!;
  return ` in ${excerpt(firstLine, 60)}`;
}

export function createWebhookServer(opts: WebhookServerOptions): http.Server {
  if (opts.secrets.length === 0) throw new Error('webhook: at least one signing secret is required');
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const tolerance = opts.toleranceSeconds ?? 300;
  const headersTimeout = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, headersTimeout);
  const replays = new ReplayGuard();

  async function handle(req: http.IncomingMessage): Promise<Reply> {
    const path = pathOf(req.url ?? '/');
    if (path === undefined)
      return {
        status: 400,
        body: { error: `request target = ${excerpt(req.url ?? '')}: not a path such as /release-events` },
      };
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
    // Cut off (request timeout) or gone: settles either way, so that nothing waits on a dead request.
    const body = await readBodyUpTo(req, limit, { rejectOnEarlyClose: true });
    if (body === undefined) return tooLarge;
    const rawBody = body.toString('utf8');

    const verdict = verifyReleaseEvent(req.headers, rawBody, { secrets: opts.secrets, toleranceSeconds: tolerance });
    if (!verdict.ok) return { status: verdict.status, body: { error: oneLine(verdict.error) } };

    const { release, signature } = verdict;
    // Held until the signature goes stale: after that the timestamp check refuses it anyway.
    const claim = replays.claim(signature, (verdict.signedAt + tolerance + 1) * 1000);
    if (!claim.ok && 'full' in claim)
      return {
        status: 429,
        body: { error: 'too many signed events inside the replay window; retry later' },
        headers: { 'retry-after': String(tolerance) },
      };
    if (!claim.ok)
      return {
        status: 409,
        body: {
          error: `replayed: this signed request was received at ${new Date(claim.firstSeenAt).toISOString()}; sign each delivery anew`,
        },
      };
    try {
      const started = await opts.start(release);
      // 202: a rollout was started; 200: this event had already started one (a retry or a duplicate delivery).
      return {
        status: started.result === 'started' ? 202 : 200,
        body: { workflowId: started.workflowId, runId: started.runId, result: started.result, release: release.id },
      };
    } catch (err) {
      // Nothing started: the sender may send this very request again.
      replays.release(signature);
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      const reason = err instanceof Error ? `${err.message}${cause}` : String(err);
      return {
        status: 503,
        body: { error: `could not start the rollout of ${release.id}, retry later: ${oneLine(reason)}` },
        headers: { 'retry-after': '30' },
      };
    }
  }

  /** The request in progress on each connection (a timeout's log line names it). */
  const inFlight = new WeakMap<net.Socket, http.IncomingMessage>();
  /** Connections the server cut off (clientError): their request handler logs nothing more. */
  const cutOff = new WeakSet<net.Socket>();

  const server = http.createServer(
    {
      // A sender that trickles its request must not hold a connection for minutes. Node checks these timeouts every
      // connectionsCheckingInterval (30 s by default, which let a slow sender stay three times as long).
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      const remote = req.socket.remoteAddress ?? 'unknown';
      inFlight.set(req.socket, req);
      res.on('finish', () => inFlight.delete(req.socket));
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
        if (cutOff.has(req.socket)) return;
        const reason = err instanceof Error ? err.message : String(err);
        // The sender went away mid-body: nobody is left to answer.
        if (req.destroyed || res.headersSent) {
          opts.log(`${remote} ${req.method} ${req.url} aborted: ${reason}`);
          res.destroy();
        } else send({ status: 500, body: { error: `internal error: ${oneLine(reason)}` } });
      });
    },
  );

  // What Node does by default (answer 408/431/400 unless a response has begun, then close), plus the log line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    // The sender went away: the request handler (if one runs) logs it as aborted.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    cutOff.add(socket);
    const req = inFlight.get(socket);
    const what = req ? `${req.method} ${(req.url ?? '/').split('?')[0]}` : '- -';
    const [status, text, error] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            408,
            'Request Timeout',
            `request timeout: headers must arrive within ${headersTimeout / 1000} s and the whole request within ${requestTimeout / 1000} s`,
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request headers too large']
          : [400, 'Bad Request', `bad request: ${err.code ?? err.message}${rawExcerpt(err)}`];
    opts.log(`${socket.remoteAddress ?? 'unknown'} ${what} ${status} ${error}`);
    const response = (socket as net.Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (!response?.headersSent) {
      const json = JSON.stringify({ error });
      socket.write(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
      );
    }
    socket.destroy();
  });
  return server;
}
