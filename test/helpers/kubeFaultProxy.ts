// A fault-injecting HTTPS proxy in front of a real kube-apiserver (test/helpers/realKube.ts). It terminates TLS with
// a certificate of its own (self-signed for 127.0.0.1 by `openssl`, trusted through the `caPem` it hands out) and
// forwards every request, Authorization header included, to the apiserver: the apiserver still authenticates the
// token and applies RBAC, admission, patches and the controllers react as usual. Rules pick requests by method and
// path and, for the next N of them:
// - answer a status itself (409, 429 with Retry-After, 500, ...) with the apiserver's V1Status body, never forwarding;
// - reset the connection (a TCP RST) before forwarding, or after the apiserver has answered (the change is applied
//   but the client never hears of it: the case that needs an idempotent re-apply);
// - delay the request, or hold it unanswered (a hung apiserver);
// - run a hook first (e.g. a concurrent write through the admin token, so that the real apiserver answers 409).
// Every request is logged with what happened to it, so tests can prove the faults were really injected.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export type KubeFault =
  /** Answered by the proxy (the apiserver never sees the request), with a V1Status body like the apiserver's. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  /** TCP reset of the client's connection: before forwarding, or after the apiserver has answered the request. */
  | { kind: 'reset'; when: 'before-forward' | 'after-forward' }
  /** Forwarded after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Never forwarded, never answered: the connection is held until the client gives up (or the proxy closes). */
  | { kind: 'hang' }
  /** Forwarded untouched (with `before`, to provoke a real answer such as a 409 from the apiserver). */
  | { kind: 'forward' };

export interface KubeFaultRule {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** The request's path without the query: a string matches exactly, a RegExp by test (any when omitted). */
  path?: string | RegExp;
  /** How many matching requests get the fault; default 1. */
  times?: number;
  /** Matching requests to let through untouched before the fault starts applying; default 0. */
  skip?: number;
  fault: KubeFault;
  /** Awaited before the fault is applied to each matching request. */
  before?: () => Promise<void>;
}

export interface KubeFaultRuleHandle {
  readonly rule: KubeFaultRule;
  /** Requests the rule has applied to so far. */
  readonly hits: number;
  /** Requests it will still apply to. */
  readonly remaining: number;
}

export interface ProxiedRequest {
  seq: number;
  /** Date.now() when the request arrived, and when it was settled (answered, reset, or given up). */
  at: number;
  settledAt?: number;
  method: string;
  /** Path without the query. */
  path: string;
  /** What the proxy did: the fault's kind (`status`, `reset`, `delay`, `hang`, `forward`), or `pass` without a rule. */
  action: KubeFault['kind'] | 'pass';
  /** The status the client received (undefined for resets and hung requests). */
  status?: number;
  /** The status the apiserver answered, when the request reached it. */
  upstreamStatus?: number;
  /** True when the proxy, not the apiserver, decided the outcome (a status answered, a reset, a hang). */
  injected: boolean;
}

export interface KubeFaultProxy {
  /** The proxy's URL, e.g. https://127.0.0.1:41234 — use it in place of the apiserver's. */
  readonly server: string;
  /** The PEM that signs the proxy's certificate (its own self-signed certificate). */
  readonly caPem: string;
  /** Adds a rule; rules are tried in the order added, the first with requests left wins. */
  add(rule: KubeFaultRule): KubeFaultRuleHandle;
  /** Drops every rule (the log stays). */
  clearRules(): void;
  /** Every request seen, oldest first. */
  readonly log: readonly ProxiedRequest[];
  /** The log entries matching `filter`. */
  requests(filter?: { method?: string; path?: string | RegExp; injected?: boolean }): ProxiedRequest[];
  close(): Promise<void>;
}

/** Deployments and ConfigMaps as the apiserver names them in a Status (`deployments.apps "x"`). */
function describePath(p: string): { group: string; kind: string; name?: string } {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?/.exec(p);
  if (!m) return { group: '', kind: 'unknown' };
  return { group: m[1] ?? '', kind: m[2] ?? 'unknown', ...(m[3] ? { name: m[3] } : {}) };
}

/** The V1Status the apiserver answers with this code (reasons and messages as kube-apiserver words them). */
function statusBody(code: number, p: string, retryAfterSeconds: number | undefined): Record<string, unknown> {
  const { group, kind, name } = describePath(p);
  const qualified = group ? `${kind}.${group}` : kind;
  const details = { ...(name ? { name } : {}), group, kind, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) };
  const table: Record<number, [string, string]> = {
    409: [
      'Conflict',
      `Operation cannot be fulfilled on ${qualified} "${name ?? ''}": the object has been modified; please apply ` +
        'your changes to the latest version and try again',
    ],
    429: ['TooManyRequests', 'Too many requests, please try again later.'],
    500: ['InternalError', 'Internal error occurred: injected by kubeFaultProxy'],
    503: ['ServiceUnavailable', 'The server is currently unable to handle the request'],
    504: ['Timeout', 'Timeout: request did not complete within the allowed duration'],
  };
  const [reason, message] = table[code] ?? ['InternalError', `injected fault ${code}`];
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}

/** A throw-away self-signed certificate for 127.0.0.1 and localhost. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-kube-proxy-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=nightshift-kube-fault-proxy',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'pipe' },
    );
    return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
  } catch (err) {
    throw new Error(`kubeFaultProxy: could not make a certificate with openssl: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function matches(value: string, want: string | RegExp | undefined): boolean {
  return want === undefined || (typeof want === 'string' ? value === want : want.test(value));
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te']);

/** Starts the proxy on a free loopback port in front of `upstream` (an https:// apiserver URL signed by `upstreamCa`). */
export async function startKubeFaultProxy(opts: { upstream: string; upstreamCa?: string }): Promise<KubeFaultProxy> {
  const { key, cert } = selfSignedCertificate();
  const secureContext = tls.createSecureContext({ key, cert });
  const upstream = new URL(opts.upstream);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.upstreamCa });
  const rules: { rule: KubeFaultRule; hits: number; skipped: number }[] = [];
  const log: ProxiedRequest[] = [];
  /** The TCP socket under each TLS socket: a reset must be a real RST, which only a TCP handle can send. */
  const rawOf = new WeakMap<object, net.Socket>();
  const sockets = new Set<net.Socket>();
  const held = new Set<http.ServerResponse>();

  const reset = (req: http.IncomingMessage): void => {
    const raw = rawOf.get(req.socket);
    if (raw && typeof raw.resetAndDestroy === 'function') raw.resetAndDestroy();
    else req.socket.destroy();
  };

  const forward = (
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && k !== 'host') headers[k] = v;
      headers['content-length'] = body.length;
      const out = https.request(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const method = req.method ?? 'GET';
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const entry: ProxiedRequest = {
      seq: log.length + 1,
      at: Date.now(),
      method,
      path: pathname,
      action: 'pass',
      injected: false,
    };
    log.push(entry);
    const settle = (): void => void (entry.settledAt = Date.now());

    let slot = rules.find(
      (r) => r.hits < (r.rule.times ?? 1) && matches(method, r.rule.method) && matches(pathname, r.rule.path),
    );
    if (slot && slot.skipped < (slot.rule.skip ?? 0)) {
      slot.skipped += 1;
      slot = undefined;
    }
    if (slot) slot.hits += 1;
    const fault = slot?.rule.fault;
    if (fault) entry.action = fault.kind;
    if (slot?.rule.before) await slot.rule.before();

    if (fault?.kind === 'status') {
      const answer = JSON.stringify(statusBody(fault.status, pathname, fault.retryAfterSeconds));
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(answer),
        ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}),
      });
      res.end(answer);
      Object.assign(entry, { status: fault.status, injected: true });
      return settle();
    }
    if (fault?.kind === 'reset' && fault.when === 'before-forward') {
      entry.injected = true;
      reset(req);
      return settle();
    }
    if (fault?.kind === 'hang') {
      entry.injected = true;
      held.add(res);
      res.on('close', () => {
        held.delete(res);
        settle();
      });
      return;
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));

    let answer: Awaited<ReturnType<typeof forward>>;
    try {
      answer = await forward(req, body);
    } catch (err) {
      const text = JSON.stringify(statusBody(502, pathname, undefined));
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(text);
      console.error(`[kubeFaultProxy] ${method} ${pathname}: upstream failed: ${(err as Error).message}`);
      return settle();
    }
    entry.upstreamStatus = answer.status;
    if (fault?.kind === 'reset') {
      entry.injected = true;
      reset(req);
      return settle();
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    headers['content-length'] = answer.body.length;
    res.writeHead(answer.status, headers);
    res.end(answer.body);
    entry.status = answer.status;
    settle();
  };

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error(`[kubeFaultProxy] ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  httpServer.on('clientError', (_err, socket) => socket.destroy());

  const tcp = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => undefined); // clients that hang up, and our own resets
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    secure.on('error', () => raw.destroy());
    rawOf.set(secure, raw);
    httpServer.emit('connection', secure);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (tcp.address() as net.AddressInfo).port;

  return {
    server: `https://127.0.0.1:${port}`,
    caPem: cert,
    add(rule) {
      const slot = { rule, hits: 0, skipped: 0 };
      rules.push(slot);
      return {
        rule,
        get hits() {
          return slot.hits;
        },
        get remaining() {
          return Math.max(0, (rule.times ?? 1) - slot.hits);
        },
      };
    },
    clearRules() {
      rules.length = 0;
    },
    log,
    requests(filter = {}) {
      return log.filter(
        (e) =>
          matches(e.method, filter.method) &&
          matches(e.path, filter.path) &&
          (filter.injected === undefined || e.injected === filter.injected),
      );
    },
    async close() {
      for (const res of held) res.destroy();
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      httpServer.close();
    },
  };
}
