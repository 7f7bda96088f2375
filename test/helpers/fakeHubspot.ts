// A local stand-in for the two HubSpot endpoints HubSpotNotifier calls, speaking their wire contract:
//   POST /crm/v3/objects/contacts/batch/upsert          (200, or 207 with `errors` when some inputs failed)
//   POST /marketing/v3/transactional/single-email/send  (200 with an EmailSendStatusView; a known sendId again →
//                                                         IDEMPOTENT_IGNORE; unknown emailId → 400 VALIDATION_ERROR)
// with bearer auth (401 INVALID_AUTHENTICATION), and injectable faults (429 with Retry-After, 5xx, any status or
// body, a slow answer, a given sendResult). Every request is recorded as received, with the answer given.
//
// Field names and error bodies follow HubSpot's public API reference (v3 CRM batch and transactional single-send)
// and the SDK's generated models. Assumptions, not confirmed against the real service: the exact wording of the
// unknown-emailId message; that a sendId which failed answers IDEMPOTENT_FAIL and one that was THROTTLED can be
// sent again; that the send answers with sendResult right away (the real one may answer status PENDING and decide
// later); the 207 error entry's wording for an invalid email; that 429s carry Retry-After (HubSpot documents
// X-HubSpot-RateLimit-* headers, not Retry-After); the JSON body of 5xx (real ones may come from a CDN as HTML).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const UPSERT_PATH = '/crm/v3/objects/contacts/batch/upsert';
export const SEND_PATH = '/marketing/v3/transactional/single-email/send';

export type FakeEndpoint = 'upsert' | 'send';

export interface RecordedRequest {
  method: string;
  /** Path and query string, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the raw text when it is not JSON. */
  body: unknown;
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
}

export interface FakeContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface Fault {
  /** Which endpoint the fault applies to; default: the next request to either. */
  endpoint?: FakeEndpoint;
  /** Answer with this HTTP status instead of doing the work. */
  status?: number;
  /** Answer body for `status` (default: HubSpot's body for that status). */
  body?: unknown;
  /** Retry-After header of a 429 (default '10'); null: none. */
  retryAfter?: string | null;
  /** Hold the answer this long before giving it (the work, e.g. sending, is done at once). */
  delayMs?: number;
  /** For a send: answer 200 with this sendResult (null: none, status PENDING) and send nothing. */
  sendResult?: string | null;
}

export interface FakeHubSpotOptions {
  /** The private app token the fake accepts (default: a random `pat-na1-…`). */
  token?: string;
  /** Transactional email ids that exist; default: any positive integer. */
  emailIds?: Iterable<number>;
}

export interface FakeHubSpot {
  baseUrl: string;
  token: string;
  requests: RecordedRequest[];
  sentEmails: SentEmail[];
  /** Contacts by email (lower case). */
  contacts: Map<string, FakeContact>;
  /** Queues faults; each is used once, by the first request it matches, in order. */
  injectFaults(...faults: Fault[]): void;
  close(): Promise<void>;
}

type Answer = { status: number; body: unknown; headers?: Record<string, string>; delayMs?: number };

const error = (message: string, category: string, extra: Record<string, unknown> = {}) => ({
  status: 'error',
  message,
  correlationId: randomUUID(),
  category,
  ...extra,
});

function defaultFaultBody(status: number): unknown {
  if (status === 429)
    return {
      status: 'error',
      message: 'You have reached your ten_secondly_rolling limit.',
      errorType: 'RATE_LIMIT',
      correlationId: randomUUID(),
      policyName: 'TEN_SECONDLY_ROLLING',
    };
  if (status === 401)
    return error(
      'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more ' +
        'details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
      'INVALID_AUTHENTICATION',
    );
  if (status === 403)
    return error('This app hasn\u2019t been granted all required scopes to make this call.', 'MISSING_SCOPES');
  if (status >= 500) return { status: 'error', message: 'internal error', correlationId: randomUUID() };
  return error('Invalid input', 'VALIDATION_ERROR');
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const looksLikeEmail = (v: unknown): v is string => typeof v === 'string' && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v);

export async function startFakeHubSpot(opts: FakeHubSpotOptions = {}): Promise<FakeHubSpot> {
  const token = opts.token ?? `pat-na1-${randomUUID()}`;
  const emailIds = opts.emailIds ? new Set(opts.emailIds) : undefined;
  const requests: RecordedRequest[] = [];
  const sentEmails: SentEmail[] = [];
  const contacts = new Map<string, FakeContact>();
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

  function send(body: unknown, fault: Fault | undefined): Answer {
    if (!isRecord(body) || !isRecord(body.message) || typeof body.message.to !== 'string')
      return { status: 400, body: error('Invalid input JSON: message.to is required', 'VALIDATION_ERROR') };
    if (typeof body.emailId !== 'number' || (emailIds && !emailIds.has(body.emailId)))
      return {
        status: 400,
        body: error(`Email ${String(body.emailId)} does not exist or is not a transactional email`, 'VALIDATION_ERROR'),
      };
    const msg = body.message;
    const sendId = typeof msg.sendId === 'string' ? msg.sendId : undefined;
    const requestedAt = new Date().toISOString();
    const view = (sendResult: string | null, status = 'COMPLETE') => ({
      statusId: randomUUID(),
      status: sendResult === null ? 'PENDING' : status,
      ...(sendResult === null ? {} : { sendResult }),
      requestedAt,
      startedAt: requestedAt,
      ...(sendResult === null ? {} : { completedAt: new Date().toISOString() }),
    });

    if (sendId !== undefined && sendIds.has(sendId))
      return { status: 200, body: view(sendIds.get(sendId) ? 'IDEMPOTENT_IGNORE' : 'IDEMPOTENT_FAIL') };
    if (fault?.sendResult !== undefined) {
      const sent = fault.sendResult === null || ['SENT', 'QUEUED'].includes(fault.sendResult);
      if (sendId !== undefined && fault.sendResult !== 'THROTTLED') sendIds.set(sendId, sent);
      return { status: 200, body: view(fault.sendResult) };
    }
    if (!looksLikeEmail(msg.to)) {
      if (sendId !== undefined) sendIds.set(sendId, false);
      return { status: 200, body: view('INVALID_TO_ADDRESS') };
    }
    const answer = view('SENT');
    if (sendId !== undefined) sendIds.set(sendId, true);
    sentEmails.push({
      emailId: body.emailId,
      to: msg.to,
      ...(typeof msg.from === 'string' ? { from: msg.from } : {}),
      ...(sendId !== undefined ? { sendId } : {}),
      customProperties: isRecord(body.customProperties) ? body.customProperties : {},
      contactProperties: isRecord(body.contactProperties) ? body.contactProperties : {},
      statusId: answer.statusId,
    });
    return { status: 200, body: answer };
  }

  function route(rec: RecordedRequest): Answer {
    const path = rec.path.split('?')[0];
    const endpoint: FakeEndpoint | undefined =
      path === UPSERT_PATH ? 'upsert' : path === SEND_PATH ? 'send' : undefined;
    if (!endpoint) return { status: 404, body: error('resource not found', 'OBJECT_NOT_FOUND') };
    if (rec.method !== 'POST') return { status: 405, body: error(`${rec.method} not allowed`, 'VALIDATION_ERROR') };
    if (rec.headers.authorization !== `Bearer ${token}`) return { status: 401, body: defaultFaultBody(401) };
    const fault = takeFault(endpoint);
    return { ...work(rec, endpoint, fault), ...(fault?.delayMs ? { delayMs: fault.delayMs } : {}) };
  }

  // The work is done when the request arrives; a delay holds only the answer (like a slow network or proxy).
  function work(rec: RecordedRequest, endpoint: FakeEndpoint, fault: Fault | undefined): Answer {
    if (fault?.status !== undefined) {
      const retryAfter = fault.retryAfter === undefined ? '10' : fault.retryAfter;
      return {
        status: fault.status,
        body: fault.body ?? defaultFaultBody(fault.status),
        headers: fault.status === 429 && retryAfter !== null ? { 'retry-after': retryAfter } : {},
      };
    }
    if (!/^application\/json\b/.test(rec.headers['content-type'] ?? ''))
      return { status: 415, body: error('Unsupported content type', 'VALIDATION_ERROR') };
    if (typeof rec.body === 'string')
      return { status: 400, body: error('Invalid input JSON on line 1', 'VALIDATION_ERROR') };
    return endpoint === 'upsert' ? upsert(rec.body) : send(rec.body, fault);
  }

  function respond(res: ServerResponse, rec: RecordedRequest, answer: Answer): void {
    const headers = { 'content-type': 'application/json;charset=utf-8', ...answer.headers };
    rec.response = { status: answer.status, headers, body: answer.body };
    res.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
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
    injectFaults: (...more) => void faults.push(...more),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
