// Local stand-ins for the PagerDuty Events API v2 and a Slack incoming webhook, on node:http. They check requests
// the way the services document, answer in their formats, record every request, and fail on demand. The PagerDuty
// one also keeps incidents the way PagerDuty documents them, so tests can count pages.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The parsed body, when it was JSON. */
  json?: unknown;
}

/** A request whose client closed the connection before the receiver answered it. */
export interface AbandonedRequest extends RecordedRequest {
  /** When the receiver saw the connection close (epoch ms). */
  hungUpAt: number;
}

/** An answer forced on the next request(s), instead of the receiver's normal one. */
export type Fault =
  | { status: 429; retryAfter?: string }
  | { status: 500 | 502 | 503; body?: string }
  | { status: 400 | 403 | 404 | 410; body?: string }
  | { status: 301 | 302 | 307 | 308; location: string }
  /** Accepts the connection and never answers. */
  | { hang: true }
  /**
   * A slow receiver: handles the request normally, but only `holdMs` after it arrived. It commits the request (e.g.
   * PagerDuty applies the event to its incidents) only when it answers: a client that hung up first is recorded in
   * `abandoned` and its request has no effect.
   */
  | { holdMs: number };

interface Receiver {
  readonly url: string;
  /** Every request received, in order of arrival (whatever became of it). */
  readonly requests: RecordedRequest[];
  /** Requests whose client hung up before the receiver answered (a timeout, a cancellation, a deadline). */
  readonly abandoned: AbandonedRequest[];
  /** Answers the next `times` requests with `fault` (queued after faults already pending). */
  failNext(fault: Fault, times?: number): void;
  close(): Promise<void>;
}

async function listen(handle: (req: RecordedRequest, res: ServerResponse) => void) {
  const requests: RecordedRequest[] = [];
  const abandoned: AbandonedRequest[] = [];
  const faults: Fault[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      try {
        recorded.json = JSON.parse(body);
      } catch {
        // recorded as text only
      }
      requests.push(recorded);
      let hungUp = false;
      res.once('close', () => {
        if (res.writableFinished) return;
        hungUp = true;
        abandoned.push({ ...recorded, hungUpAt: Date.now() });
      });
      const fault = faults.shift();
      if (!fault) return handle(recorded, res);
      if ('hang' in fault) return;
      if ('holdMs' in fault) {
        setTimeout(() => {
          if (!hungUp) handle(recorded, res);
        }, fault.holdMs);
        return;
      }
      if ('location' in fault) {
        res.writeHead(fault.status, { location: fault.location }).end();
        return;
      }
      if (fault.status === 429) {
        res.writeHead(429, fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter }).end();
        return;
      }
      res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(fault.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    abandoned,
    failNext(fault: Fault, times = 1) {
      for (let i = 0; i < times; i++) faults.push(fault);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

// ---- PagerDuty Events API v2 ----

export type IncidentStatus = 'triggered' | 'acknowledged' | 'resolved';

/**
 * One incident, as PagerDuty keeps it (one alert per incident here: PagerDuty's alert grouping is not modelled).
 * Opening it pages on-call once; later events with its dedup_key apply to it while it is open.
 */
export interface FakeIncident {
  /** 1, 2, …: the order in which the fake opened incidents. */
  readonly number: number;
  readonly dedupKey: string;
  status: IncidentStatus;
  /** The events applied to it: the trigger that opened it, then later triggers, acknowledges and the resolve. */
  readonly events: Record<string, unknown>[];
}

export interface FakePagerDuty extends Receiver {
  /** The base URL to give PagerDutyAlerter (`/v2/enqueue` is appended). */
  readonly url: string;
  /** Events answered 202, in order (including those dropped as PagerDuty drops them, see `dropped`). */
  readonly accepted: Record<string, unknown>[];
  /** The status of the latest incident per dedup_key. */
  readonly incidents: Map<string, IncidentStatus>;
  /** Every incident opened, in order. Each one paged on-call once. */
  readonly opened: FakeIncident[];
  /** How many times on-call was paged: incidents opened, for `dedupKey` or in all. */
  pages(dedupKey?: string): number;
  /** Accepted acknowledge and resolve events that found no open incident: PagerDuty drops them. */
  readonly dropped: Record<string, unknown>[];
}

/**
 * PagerDuty's size limit for an event: "Events API payloads are limited to 512 KB" (Events API v2 overview, "Size
 * Limits"). The docs do not say whether a KB is 1000 or 1024 bytes: the fake takes the stricter reading.
 */
export const PAGERDUTY_EVENT_MAX_BYTES = 512_000;

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const ACTIONS = ['trigger', 'acknowledge', 'resolve'];

/** Problems PagerDuty would report about an event (its `errors`), [] when it is valid. */
function pagerDutyErrors(event: unknown, routingKeys: readonly string[] | undefined): string[] {
  if (!event || typeof event !== 'object' || Array.isArray(event)) return ['Event object is not a JSON object'];
  const e = event as Record<string, unknown>;
  const errors: string[] = [];
  const nonBlank = (v: unknown) => typeof v === 'string' && v.trim() !== '';
  if (!nonBlank(e.routing_key)) errors.push("'routing_key' is missing or blank");
  else if ((e.routing_key as string).length !== 32)
    errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  else if (routingKeys && !routingKeys.includes(e.routing_key as string)) errors.push('Invalid routing key');
  if (!ACTIONS.includes(e.event_action as string))
    errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255))
    errors.push("'dedup_key' must be a string of at most 255 characters");
  if ((e.event_action === 'acknowledge' || e.event_action === 'resolve') && !nonBlank(e.dedup_key))
    errors.push("'dedup_key' is missing or blank");
  if (e.event_action === 'trigger') {
    const p = e.payload as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') errors.push("'payload' is missing or not an object");
    else {
      if (!nonBlank(p.summary)) errors.push("'payload.summary' is missing or blank");
      else if ((p.summary as string).length > 1024) errors.push("'payload.summary' is longer than 1024 characters");
      if (!nonBlank(p.source)) errors.push("'payload.source' is missing or blank");
      if (!SEVERITIES.includes(p.severity as string))
        errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
      if (p.custom_details !== undefined && (typeof p.custom_details !== 'object' || p.custom_details === null))
        errors.push("'payload.custom_details' must be an object");
    }
    if (e.links !== undefined && !Array.isArray(e.links)) errors.push("'links' must be an array");
  }
  return errors;
}

/**
 * `routingKeys`: the integration keys that exist; others get 400 `Invalid routing key`. Without it any 32-character
 * key is accepted.
 *
 * Incidents follow PagerDuty's documented de-duplication: a trigger whose dedup_key (sent with the same routing key)
 * has an open incident is added to it, with no new page; a resolve closes it; once it is resolved, a trigger with the
 * same dedup_key opens a new incident (a new page), and acknowledges or resolves are dropped.
 */
export async function startFakePagerDuty(opts: { routingKeys?: string[] } = {}): Promise<FakePagerDuty> {
  const accepted: Record<string, unknown>[] = [];
  const dropped: Record<string, unknown>[] = [];
  const incidents = new Map<string, IncidentStatus>();
  const opened: FakeIncident[] = [];
  /** Open incidents by routing key and dedup_key: events sent with another routing key do not apply to them. */
  const open = new Map<string, FakeIncident>();
  const receiver = await listen((req, res) => {
    if (req.path !== '/v2/enqueue') return json(res, 404, { status: 'not found', message: 'Not Found' });
    if (req.method !== 'POST') return json(res, 405, { status: 'method not allowed', message: 'Use POST' });
    const size = Buffer.byteLength(req.body, 'utf8');
    if (size > PAGERDUTY_EVENT_MAX_BYTES)
      return json(res, 400, {
        status: 'invalid event',
        message: 'Event object is invalid',
        // PagerDuty documents the limit, not this error's wording.
        errors: [`Event is too large: ${size} bytes (the limit is 512 KB)`],
      });
    if (req.json === undefined)
      return json(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] });
    const errors = pagerDutyErrors(req.json, opts.routingKeys);
    if (errors.length) return json(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors });
    const event = req.json as Record<string, unknown>;
    const dedupKey = (event.dedup_key as string | undefined) ?? randomBytes(16).toString('hex');
    const openKey = `${event.routing_key as string}\n${dedupKey}`;
    accepted.push(event);
    const incident = open.get(openKey);
    if (event.event_action === 'trigger') {
      if (incident) incident.events.push(event);
      else {
        const created: FakeIncident = { number: opened.length + 1, dedupKey, status: 'triggered', events: [event] };
        opened.push(created);
        open.set(openKey, created);
        incidents.set(dedupKey, 'triggered');
      }
    } else if (!incident) {
      dropped.push(event);
    } else {
      incident.events.push(event);
      incident.status = event.event_action === 'resolve' ? 'resolved' : 'acknowledged';
      if (incident.status === 'resolved') open.delete(openKey);
      incidents.set(dedupKey, incident.status);
    }
    json(res, 202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  });
  return {
    url: receiver.origin,
    requests: receiver.requests,
    abandoned: receiver.abandoned,
    accepted,
    incidents,
    opened,
    pages: (dedupKey?: string) =>
      dedupKey === undefined ? opened.length : opened.filter((i) => i.dedupKey === dedupKey).length,
    dropped,
    failNext: receiver.failNext,
    close: receiver.close,
  };
}

// ---- Slack incoming webhook ----

export interface FakeSlack extends Receiver {
  /** The webhook URL, with a random secret path like Slack's `/services/T…/B…/…`. */
  readonly url: string;
  /** The secret part of the path, to check it never leaks. */
  readonly secret: string;
  /** Bodies of the messages posted (answered `ok`), in order. */
  readonly posted: { text?: string; blocks?: unknown[] }[];
}

function slackAnswer(res: ServerResponse, status: number, error: string): void {
  res.writeHead(status, { 'content-type': 'text/html' }).end(error);
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const secret = randomBytes(12).toString('hex');
  const path = `/services/TFAKE0001/BFAKE0001/${secret}`;
  const posted: { text?: string; blocks?: unknown[] }[] = [];
  const receiver = await listen((req, res) => {
    if (req.path !== path) return slackAnswer(res, 404, 'no_service');
    if (req.method !== 'POST') return slackAnswer(res, 405, 'invalid_method');
    const body = req.json as { text?: unknown; blocks?: unknown } | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return slackAnswer(res, 400, 'invalid_payload');
    const hasText = typeof body.text === 'string' && body.text.trim() !== '';
    const hasBlocks = Array.isArray(body.blocks) && body.blocks.length > 0;
    if (!hasText && !hasBlocks) return slackAnswer(res, 400, 'no_text');
    if (body.blocks !== undefined && !Array.isArray(body.blocks)) return slackAnswer(res, 400, 'invalid_blocks');
    posted.push(body as { text?: string; blocks?: unknown[] });
    slackAnswer(res, 200, 'ok');
  });
  return {
    url: `${receiver.origin}${path}`,
    secret,
    requests: receiver.requests,
    abandoned: receiver.abandoned,
    posted,
    failNext: receiver.failNext,
    close: receiver.close,
  };
}
