// A local stand-in for the three HubSpot endpoints HubSpotNotifier calls, speaking their wire contract:
//   POST /crm/v3/objects/contacts/batch/upsert          (200, or 207 with `errors` when some inputs failed)
//   POST /marketing/v3/transactional/single-email/send  (200 with an EmailSendStatusView: `statusId`, status PENDING,
//                                                         no sendResult yet; unknown emailId → 400 VALIDATION_ERROR)
//   GET  /marketing/v3/email/send-statuses/{statusId}   (the send's status: PENDING → PROCESSING → COMPLETE with a
//                                                         sendResult, or CANCELED; unknown statusId → 404)
// with bearer auth (401 INVALID_AUTHENTICATION), and injectable faults (any HTTP status with HubSpot's headers and
// body for it: 429 with X-HubSpot-RateLimit-* and a policyName, 423 Locked, 477 Migration in Progress with
// Retry-After; an answer without a content type; a slow answer) and injectable outcomes (any status and sendResult of
// the SDK's enums, after any sequence of intermediate answers). Every request is recorded as received, with the answer
// given.
//
// Like HubSpot, the fake does the work when the send arrives (the email goes out, or not, at once and is listed in
// `sentEmails`) but only tells the outcome through the status endpoint: by default the first poll answers it;
// `pollsBeforeResult` / a fault's `polls` keep it PENDING/PROCESSING (or QUEUED) for longer. A sendId seen before
// answers a new statusId whose outcome is IDEMPOTENT_IGNORE (the earlier send went out) or IDEMPOTENT_FAIL (it did
// not, for whatever reason, THROTTLED included).
//
// Field names, statuses, sendResults and the 429 body follow HubSpot's public API reference (v3 CRM batch,
// transactional single-send, email send status, error handling, usage guidelines) and the SDK's generated models.
// Assumptions, not confirmed against the real service: the exact wording of the unknown-emailId and unknown-statusId
// messages; that a sendId which failed, was cancelled or was THROTTLED answers IDEMPOTENT_FAIL when sent again
// (HubSpot documents only "one email per sendId"; THROTTLED is not documented at all); that a repeated sendId gets a
// new statusId (rather than the first one's); that the send's own answer carries no sendResult unless `immediate`;
// that QUEUED shows while the status is PROCESSING or COMPLETE and is later replaced by SENT; the 207 error entry's
// wording for an invalid email; the bodies of 423 and 477 (HubSpot documents only their meaning and, for 477, the
// Retry-After header); that 429s carry no Retry-After unless asked (HubSpot documents X-HubSpot-RateLimit-* headers,
// not Retry-After) and the header values; the JSON body of 5xx (real ones may come from a CDN as HTML).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const UPSERT_PATH = '/crm/v3/objects/contacts/batch/upsert';
export const SEND_PATH = '/marketing/v3/transactional/single-email/send';
export const STATUS_PATH = '/marketing/v3/email/send-statuses/';
export const statusPath = (statusId: string) => `${STATUS_PATH}${encodeURIComponent(statusId)}`;

export type FakeEndpoint = 'upsert' | 'send' | 'status';

export interface RecordedRequest {
  method: string;
  /** Path and query string, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the raw text when it is not JSON. */
  body: unknown;
  /** When the request arrived (epoch ms). */
  at: number;
  response?: { status: number; headers: Record<string, string>; body: unknown };
  /** The client closed the connection before the answer was complete. */
  aborted: boolean;
}

export interface SentEmail {
  emailId: number;
  to: string;
  from?: string;
  sendId?: string;
  customProperties: Record<string, unknown>;
  contactProperties: Record<string, unknown>;
  statusId: string;
  /** When it went out (epoch ms). */
  at: number;
}

export interface FakeContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** One answer of the status endpoint before the outcome: a status, with or without a sendResult (e.g. QUEUED). */
export type StatusStep = string | { status: string; sendResult?: string };

/** What the status endpoint tells about one send. */
export interface FakeSendStatus {
  statusId: string;
  sendId?: string;
  requestedAt: string;
  /** Answers still to give before the outcome (consumed one per poll). */
  steps: { status: string; sendResult?: string }[];
  /** Not before this time (epoch ms) either. */
  decideAt: number;
  outcome: { status: string; sendResult?: string };
  completedAt?: string;
  eventId?: { id: string; created: string };
  polls: number;
}

export interface Fault {
  /** Which endpoint the fault applies to; default: the next request to any. */
  endpoint?: FakeEndpoint;
  /** Answer with this HTTP status instead of doing the work. */
  status?: number;
  /** Answer body for `status` (default: HubSpot's body for that status). */
  body?: unknown;
  /** Retry-After header (default: '3600' for 477, none otherwise); null: none. */
  retryAfter?: string | null;
  /** More response headers (e.g. X-HubSpot-RateLimit-Interval-Milliseconds), over the defaults for `status`. */
  headers?: Record<string, string>;
  /** policyName of a 429 (default TEN_SECONDLY_ROLLING); DAILY also gives the daily headers and message. */
  policyName?: string;
  /** Content type of the answer (default JSON); null: none at all. */
  contentType?: string | null;
  /** Hold the answer this long before giving it (the work, e.g. sending, is done at once). */
  delayMs?: number;
  /**
   * For a send: the sendResult HubSpot decides (SENT sends the email, QUEUED too; anything else sends nothing);
   * null: none (with `sendStatus` CANCELED, or never deciding: the status stays PENDING).
   */
  sendResult?: string | null;
  /** For a send: the final status (default COMPLETE; CANCELED comes without a sendResult). */
  sendStatus?: string;
  /** For a send: what the status endpoint answers before the outcome, one per poll (default: `pollsBeforeResult`). */
  polls?: StatusStep[];
  /** For a send: answer it with the outcome at once, as a synchronous send would. */
  immediate?: boolean;
}

export interface FakeHubSpotOptions {
  /** The private app token the fake accepts (default: a random `pat-na1-…`). */
  token?: string;
  /** Transactional email ids that exist; default: any positive integer. */
  emailIds?: Iterable<number>;
  /** Polls answering PENDING (then PROCESSING) before the one telling the outcome; default 0: the first tells it. */
  pollsBeforeResult?: number;
  /** The outcome is not told before this long after the send (ms); default 0. */
  resultAfterMs?: number;
}

export interface FakeHubSpot {
  baseUrl: string;
  token: string;
  requests: RecordedRequest[];
  /** Emails that went out (at the send, even while the status still says PENDING). */
  sentEmails: SentEmail[];
  /** Contacts by email (lower case). */
  contacts: Map<string, FakeContact>;
  /** Every send's status, by statusId. */
  sendStatuses: Map<string, FakeSendStatus>;
  /** Queues faults; each is used once, by the first request it matches, in order. */
  injectFaults(...faults: Fault[]): void;
  close(): Promise<void>;
}

type Answer = {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
  contentType?: string | null;
};

const JSON_TYPE = 'application/json;charset=utf-8';

const error = (message: string, category: string, extra: Record<string, unknown> = {}) => ({
  status: 'error',
  message,
  correlationId: randomUUID(),
  category,
  ...extra,
});

// X-HubSpot-RateLimit-* as HubSpot's usage guidelines list them (private app: daily headers included).
function rateLimitHeaders(policyName: string | undefined): Record<string, string> {
  const daily = policyName === 'DAILY';
  return {
    'X-HubSpot-RateLimit-Daily': '625000',
    'X-HubSpot-RateLimit-Daily-Remaining': daily ? '0' : '600000',
    'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
    'X-HubSpot-RateLimit-Max': '190',
    'X-HubSpot-RateLimit-Remaining': daily ? '150' : '0',
  };
}

function defaultFaultBody(status: number, policyName = 'TEN_SECONDLY_ROLLING'): unknown {
  if (status === 429)
    return {
      status: 'error',
      message:
        policyName === 'DAILY'
          ? 'You have reached your daily limit.'
          : `You have reached your ${policyName.toLowerCase()} limit.`,
      errorType: 'RATE_LIMIT',
      correlationId: randomUUID(),
      policyName,
    };
  if (status === 401)
    return error(
      'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more ' +
        'details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
      'INVALID_AUTHENTICATION',
    );
  if (status === 403)
    return error('This app hasn\u2019t been granted all required scopes to make this call.', 'MISSING_SCOPES');
  if (status === 423) return error('The record is locked by another request; try again in 2 seconds.', 'LOCKED');
  if (status === 477)
    return error('This account is being migrated between data hosting locations.', 'MIGRATION_IN_PROGRESS');
  if (status >= 500) return { status: 'error', message: 'internal error', correlationId: randomUUID() };
  return error('Invalid input', 'VALIDATION_ERROR');
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const looksLikeEmail = (v: unknown): v is string => typeof v === 'string' && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v);
const step = (s: StatusStep) => (typeof s === 'string' ? { status: s } : s);

export async function startFakeHubSpot(opts: FakeHubSpotOptions = {}): Promise<FakeHubSpot> {
  const token = opts.token ?? `pat-na1-${randomUUID()}`;
  const emailIds = opts.emailIds ? new Set(opts.emailIds) : undefined;
  const pollsBeforeResult = opts.pollsBeforeResult ?? 0;
  const resultAfterMs = opts.resultAfterMs ?? 0;
  const requests: RecordedRequest[] = [];
  const sentEmails: SentEmail[] = [];
  const contacts = new Map<string, FakeContact>();
  const sendStatuses = new Map<string, FakeSendStatus>();
  /** sendId → whether the send it named went out. */
  const sendIds = new Map<string, boolean>();
  const faults: Fault[] = [];
  let nextContactId = 1001;

  function takeFault(endpoint: FakeEndpoint | undefined): Fault | undefined {
    const i = faults.findIndex((f) => f.endpoint === undefined || f.endpoint === endpoint);
    return i < 0 ? undefined : faults.splice(i, 1)[0];
  }

  function upsert(body: unknown): Answer {
    if (!isRecord(body) || !Array.isArray(body.inputs))
      return { status: 400, body: error('Invalid input JSON: inputs is required', 'VALIDATION_ERROR') };
    const startedAt = new Date().toISOString();
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of body.inputs as unknown[]) {
      if (!isRecord(input) || input.idProperty !== 'email' || !looksLikeEmail(input.id)) {
        const id = isRecord(input) ? String(input.id) : '';
        errors.push({
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: `Property values were not valid: [{"isValid":false,"message":"Email address ${id} is invalid","error":"INVALID_EMAIL","name":"email"}]`,
          context: { id: [id] },
          errors: [],
          links: {},
        });
        continue;
      }
      const email = input.id.toLowerCase();
      const properties = isRecord(input.properties) ? (input.properties as Record<string, string>) : {};
      const now = new Date().toISOString();
      const existing = contacts.get(email);
      const contact: FakeContact = existing
        ? { ...existing, properties: { ...existing.properties, ...properties, lastmodifieddate: now }, updatedAt: now }
        : {
            id: String(nextContactId++),
            properties: { ...properties, email, createdate: now, lastmodifieddate: now },
            createdAt: now,
            updatedAt: now,
          };
      contact.properties.hs_object_id = contact.id;
      contacts.set(email, contact);
      results.push({ ...contact, archived: false, new: !existing });
    }
    const completedAt = new Date().toISOString();
    return errors.length > 0
      ? { status: 207, body: { status: 'COMPLETE', results, numErrors: errors.length, errors, startedAt, completedAt } }
      : { status: 200, body: { status: 'COMPLETE', results, startedAt, completedAt } };
  }

  /** The EmailSendStatusView of a send as it stands (and one poll counted when `polled`). */
  function view(s: FakeSendStatus, polled: boolean): Record<string, unknown> {
    if (polled) s.polls++;
    const next = polled ? s.steps.shift() : undefined;
    const told = next === undefined && s.steps.length === 0 && Date.now() >= s.decideAt;
    const now = next ?? (told ? s.outcome : { status: 'PENDING' });
    if (told && !s.completedAt && s.outcome.status !== 'PENDING' && s.outcome.status !== 'PROCESSING')
      s.completedAt = new Date().toISOString();
    return {
      statusId: s.statusId,
      status: now.status,
      ...(now.sendResult ? { sendResult: now.sendResult } : {}),
      requestedAt: s.requestedAt,
      ...(now.status !== 'PENDING' ? { startedAt: s.requestedAt } : {}),
      ...(told && s.completedAt ? { completedAt: s.completedAt } : {}),
      ...(told && s.eventId ? { eventId: s.eventId } : {}),
    };
  }

  function send(body: unknown, fault: Fault | undefined): Answer {
    if (!isRecord(body) || !isRecord(body.message) || typeof body.message.to !== 'string')
      return { status: 400, body: error('Invalid input JSON: message.to is required', 'VALIDATION_ERROR') };
    if (typeof body.emailId !== 'number' || (emailIds && !emailIds.has(body.emailId)))
      return {
        status: 400,
        body: error(`Email ${String(body.emailId)} does not exist or is not a transactional email`, 'VALIDATION_ERROR'),
      };
    const msg = body.message;
    const to = body.message.to;
    const sendId = typeof msg.sendId === 'string' ? msg.sendId : undefined;

    // The outcome, decided now.
    let outcome: { status: string; sendResult?: string };
    if (sendId !== undefined && sendIds.has(sendId))
      outcome = { status: 'COMPLETE', sendResult: sendIds.get(sendId) ? 'IDEMPOTENT_IGNORE' : 'IDEMPOTENT_FAIL' };
    else if (fault?.sendResult !== undefined || fault?.sendStatus !== undefined) {
      const result = fault.sendResult ?? undefined;
      const status = fault.sendStatus ?? (result === undefined ? 'PENDING' : 'COMPLETE');
      outcome = { status, ...(result ? { sendResult: result } : {}) };
    } else outcome = { status: 'COMPLETE', sendResult: looksLikeEmail(to) ? 'SENT' : 'INVALID_TO_ADDRESS' };
    const goesOut = outcome.sendResult === 'SENT' || outcome.sendResult === 'QUEUED';
    const decided = outcome.status !== 'PENDING' && outcome.status !== 'PROCESSING';
    if (sendId !== undefined && !sendIds.has(sendId) && decided) sendIds.set(sendId, goesOut);

    const requestedAt = new Date().toISOString();
    const steps = fault?.polls
      ? fault.polls.map(step)
      : Array.from({ length: pollsBeforeResult }, (_, i) => ({ status: i === 0 ? 'PENDING' : 'PROCESSING' }));
    const status: FakeSendStatus = {
      statusId: randomUUID(),
      ...(sendId !== undefined ? { sendId } : {}),
      requestedAt,
      steps: fault?.immediate ? [] : steps,
      decideAt: fault?.immediate ? 0 : Date.now() + resultAfterMs,
      outcome,
      ...(goesOut ? { eventId: { id: randomUUID(), created: requestedAt } } : {}),
      polls: 0,
    };
    sendStatuses.set(status.statusId, status);
    if (goesOut)
      sentEmails.push({
        emailId: body.emailId,
        to,
        ...(typeof msg.from === 'string' ? { from: msg.from } : {}),
        ...(sendId !== undefined ? { sendId } : {}),
        customProperties: isRecord(body.customProperties) ? body.customProperties : {},
        contactProperties: isRecord(body.contactProperties) ? body.contactProperties : {},
        statusId: status.statusId,
        at: Date.now(),
      });
    if (fault?.immediate) return { status: 200, body: view(status, false) };
    return { status: 200, body: { statusId: status.statusId, status: 'PENDING', requestedAt } };
  }

  function sendStatus(path: string): Answer {
    const id = decodeURIComponent(path.slice(STATUS_PATH.length));
    const s = sendStatuses.get(id);
    if (!s) return { status: 404, body: error(`No email send status found for statusId ${id}`, 'OBJECT_NOT_FOUND') };
    return { status: 200, body: view(s, true) };
  }

  function route(rec: RecordedRequest): Answer {
    const path = rec.path.split('?')[0]!;
    const endpoint: FakeEndpoint | undefined =
      path === UPSERT_PATH
        ? 'upsert'
        : path === SEND_PATH
          ? 'send'
          : path.startsWith(STATUS_PATH) && path.length > STATUS_PATH.length
            ? 'status'
            : undefined;
    if (!endpoint) return { status: 404, body: error('resource not found', 'OBJECT_NOT_FOUND') };
    const method = endpoint === 'status' ? 'GET' : 'POST';
    if (rec.method !== method) return { status: 405, body: error(`${rec.method} not allowed`, 'VALIDATION_ERROR') };
    if (rec.headers.authorization !== `Bearer ${token}`) return { status: 401, body: defaultFaultBody(401) };
    const fault = takeFault(endpoint);
    return {
      ...work(rec, endpoint, fault),
      ...(fault?.delayMs ? { delayMs: fault.delayMs } : {}),
      ...(fault?.contentType !== undefined ? { contentType: fault.contentType } : {}),
    };
  }

  // The work is done when the request arrives; a delay holds only the answer (like a slow network or proxy).
  function work(rec: RecordedRequest, endpoint: FakeEndpoint, fault: Fault | undefined): Answer {
    if (fault?.status !== undefined) {
      const code = fault.status;
      const retryAfter = fault.retryAfter === undefined ? (code === 477 ? '3600' : null) : fault.retryAfter;
      return {
        status: code,
        body: fault.body ?? defaultFaultBody(code, fault.policyName),
        headers: {
          ...(code === 429 ? rateLimitHeaders(fault.policyName) : {}),
          ...(retryAfter !== null ? { 'Retry-After': retryAfter } : {}),
          ...fault.headers,
        },
      };
    }
    if (endpoint === 'status') return sendStatus(rec.path.split('?')[0]!);
    if (!/^application\/json\b/.test(rec.headers['content-type'] ?? ''))
      return { status: 415, body: error('Unsupported content type', 'VALIDATION_ERROR') };
    if (typeof rec.body === 'string')
      return { status: 400, body: error('Invalid input JSON on line 1', 'VALIDATION_ERROR') };
    return endpoint === 'upsert' ? upsert(rec.body) : send(rec.body, fault);
  }

  function respond(res: ServerResponse, rec: RecordedRequest, answer: Answer): void {
    const contentType = answer.contentType === undefined ? JSON_TYPE : answer.contentType;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries({
      ...(contentType !== null ? { 'content-type': contentType } : {}),
      ...answer.headers,
    }))
      headers[k.toLowerCase()] = v;
    rec.response = { status: answer.status, headers, body: answer.body };
    // A text body goes as is unless the answer says it is JSON; anything else as JSON (also without a content type).
    const raw = typeof answer.body === 'string' && !/json/.test(contentType ?? '');
    const text = raw ? (answer.body as string) : JSON.stringify(answer.body);
    res.writeHead(answer.status, headers).end(text);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // kept as text: answered with 400 below
      }
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        at: Date.now(),
        aborted: false,
      };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      const answer = route(rec);
      if (!answer.delayMs) return respond(res, rec, answer);
      const timer = setTimeout(() => respond(res, rec, answer), answer.delayMs);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    token,
    requests,
    sentEmails,
    contacts,
    sendStatuses,
    injectFaults: (...more) => void faults.push(...more),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
