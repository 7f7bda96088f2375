// Customer email through HubSpot transactional single-send: one template per notice kind, the org admin upserted as
// a contact first. Exactly-once across activity retries rests on HubSpot's sendId, derived from the message key.
// Retries belong to Temporal: the SDK's own retries are off, and every failure becomes RetryLaterError (429),
// RequestRejectedError (won't succeed by retrying) or a plain Error (retry with backoff). The access token never
// leaves this file: messages are built here, never taken from the SDK's ApiException, and redacted all the same.
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Client } from '@hubspot/api-client';
import ApiDecoratorService from '@hubspot/api-client/lib/src/services/ApiDecoratorService';
import { RequestRejectedError, RetryLaterError, type EmailMessage, type NotifierPort } from '../activities/ports';
import { NOTICE_KINDS, type NoticeKind } from '../domain/model';
import { parseRetryAfter } from './httpClient';

export interface HubSpotNotifierOptions {
  /** Private app token (scopes: transactional-email, crm.objects.contacts.write). */
  accessToken: string;
  /** Default https://api.hubapi.com. */
  basePath?: string;
  /** Sender address (a verified sender in HubSpot); unset: the template's. */
  from?: string;
  /** One transactional email id per notice kind. */
  templates: Record<NoticeKind, number>;
  /** Deadline of each HubSpot request, from connecting to the last byte of the answer. Default 10 s. */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

const DEFAULT_BASE_PATH = 'https://api.hubapi.com';
const DEFAULT_TIMEOUT_MS = 10_000;
/** When a 429 carries no usable Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 10_000;
/** sendResult THROTTLED comes without a delay; HubSpot's send throttling works on a scale of minutes. */
const THROTTLED_RETRY_AFTER_MS = 60_000;
const MIN_RETRY_AFTER_MS = 1_000;

const UPSERT = 'contact upsert (POST /crm/v3/objects/contacts/batch/upsert)';
const SEND = 'email send (POST /marketing/v3/transactional/single-email/send)';

type ContactsBatchApi = Client['crm']['contacts']['batchApi'];
type SingleSendApi = Client['marketing']['transactional']['singleSendApi'];
type SendStatus = Awaited<ReturnType<SingleSendApi['sendEmail']>>;

// Failure sendResults, by who has to act. All are final for this sendId: HubSpot answers IDEMPOTENT_FAIL to a retry.
const RECIPIENT_REFUSED: Record<string, string> = {
  INVALID_TO_ADDRESS: 'the address is not valid',
  BLOCKED_DOMAIN: "the address's domain is blocked",
  BLOCKED_ADDRESS: 'the address is blocked',
  PREVIOUSLY_BOUNCED: 'mail to the address bounced before',
  EMAIL_UNCONFIRMED: 'the address is unconfirmed',
  PREVIOUS_SPAM: 'the recipient marked earlier mail as spam',
  PREVIOUSLY_UNSUBSCRIBED_MESSAGE: 'the recipient unsubscribed from this email',
  PREVIOUSLY_UNSUBSCRIBED_PORTAL: 'the recipient unsubscribed from all email of this account',
  PREVIOUSLY_UNSUBSCRIBED_BRAND: 'the recipient unsubscribed from this brand',
  PREVIOUSLY_UNSUBSCRIBED_BUSINESS_UNIT: 'the recipient unsubscribed from this business unit',
  QUARANTINED_ADDRESS: 'the address is quarantined',
  ADDRESS_ONLY_ACCEPTED_ON_PROD: 'the address is accepted only by a production account',
  ADDRESS_LIST_BOMBED: 'the address was flagged for list bombing',
  ADDRESS_OPTED_OUT: 'the recipient opted out',
  GRAYMAIL_SUPPRESSED: 'the recipient is suppressed as unengaged (graymail)',
  RECIPIENT_FATIGUE_SUPPRESSED: 'the recipient has had too many emails lately',
  NON_MARKETABLE_CONTACT: 'the contact is not marketable',
  GDPR_DOI_ENABLED: 'the contact has not confirmed GDPR double opt-in',
  UNDELIVERABLE: 'the address is undeliverable',
};
const TEMPLATE_PROBLEM: Record<string, string> = {
  MISSING_TEMPLATE_PROPERTIES: 'the template uses properties the request did not set',
  TEMPLATE_RENDER_EXCEPTION: 'the template failed to render',
  MISSING_CONTENT: 'the template has no content',
  MISSING_REQUIRED_PARAMETER: 'a required parameter is missing',
  CORRUPT_INPUT: 'HubSpot could not read the request',
  VALIDATION_FAILED: 'the request failed validation',
  TOO_MANY_RECIPIENTS: 'too many recipients',
  INVALID_FROM_ADDRESS: 'the from address is not a valid sender',
};
const ACCOUNT_PROBLEM: Record<string, string> = {
  EMAIL_DISABLED: 'email is disabled for the account',
  PORTAL_SUSPENDED: 'the account is suspended',
  PORTAL_OVER_LIMIT: 'the account is over its sending limit',
  PORTAL_EXPIRED: 'the account has expired',
  PORTAL_MISSING_MARKETING_SCOPE: 'the account lacks the marketing email scope',
  PORTAL_AUTHENTICATION_FAILURE: 'the account failed authentication',
  PORTAL_NOT_AUTHORIZED_FOR_APPLICATION: 'the account has not authorised the app',
  UNCONFIGURED_SENDING_DOMAIN: 'the sending domain is not configured',
  CANCELLED_ABUSE: 'the send was cancelled for abuse',
  CAMPAIGN_CANCELLED: 'the send was cancelled',
  MTA_IGNORE: 'the mail server dropped the send',
};

export class HubSpotNotifier implements NotifierPort {
  readonly channel = 'hubspot';
  private readonly token: string;
  private readonly templates: Record<NoticeKind, number>;
  private readonly from: string | undefined;
  private readonly timeoutMs: number;
  private readonly secure: boolean;
  private readonly writeLog: (line: string) => void;
  private readonly contacts: ContactsBatchApi;
  private readonly singleSend: SingleSendApi;

  constructor(opts: HubSpotNotifierOptions) {
    if (!opts.accessToken) throw new Error('HubSpotNotifier needs an access token');
    this.token = opts.accessToken;
    this.templates = checkTemplates(opts.templates);
    this.from = opts.from;
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new Error(`requestTimeoutMs must be positive, not ${opts.requestTimeoutMs}`);
    const basePath = (opts.basePath ?? DEFAULT_BASE_PATH).replace(/\/+$/, '');
    let protocol: string;
    try {
      protocol = new URL(basePath).protocol;
    } catch {
      throw new Error(`HubSpot basePath is not a URL: ${this.redact(basePath)}`);
    }
    this.secure = protocol === 'https:';
    this.writeLog = opts.log ?? (() => {});

    // Retry and limiter decorators live in a process-wide singleton that each `new Client()` overwrites and that is
    // applied when an API object is first built (lazily). Building ours right after our Client makes them undecorated
    // (no retries) whatever clients are built later; putting the previous decorators back leaves other clients'
    // not-yet-built API objects as their owners configured them.
    const decorators = ApiDecoratorService.getInstance();
    const previous = (decorators as unknown as { decorators?: unknown }).decorators;
    try {
      const client = new Client({ accessToken: this.token, basePath, numberOfApiCallRetries: 0 });
      this.contacts = client.crm.contacts.batchApi;
      this.singleSend = client.marketing.transactional.singleSendApi;
    } finally {
      if (Array.isArray(previous)) decorators.setDecorators(previous);
    }
  }

  async send(message: EmailMessage): Promise<{ duplicate: boolean }> {
    const kind = message.noticeKind;
    const emailId = (NOTICE_KINDS as readonly string[]).includes(kind) ? this.templates[kind as NoticeKind] : undefined;
    if (emailId === undefined) throw new RequestRejectedError(`no HubSpot template for notice kind "${kind}"`);
    try {
      const to = message.to.email;
      const { firstname, lastname } = splitName(message.to.name);
      await this.upsertContact(to, firstname, lastname);

      const sendId = hubspotSendId(message.key);
      const status = await this.call(SEND, (options) =>
        this.singleSend.sendEmail(
          {
            emailId,
            message: { to, sendId, ...(this.from ? { _from: this.from } : {}) },
            contactProperties: firstname ? { firstname } : {},
            customProperties: { ...message.properties, subject: message.subject, text: message.text },
          },
          options,
        ),
      );
      return this.outcome(status, { kind, to, emailId, sendId });
    } catch (err) {
      if (err instanceof Error) this.log(`${kind} → ${message.to.email}: failed: ${err.message}`);
      throw err;
    }
  }

  private async upsertContact(email: string, firstname: string, lastname: string): Promise<void> {
    const properties: Record<string, string> = {};
    if (firstname) properties.firstname = firstname;
    if (lastname) properties.lastname = lastname;
    const response = await this.call(UPSERT, (options) =>
      this.contacts.upsert({ inputs: [{ id: email, idProperty: 'email', properties }] }, options),
    );
    // 207 Multi-Status: the batch ran, but not for our one input.
    const errors = 'errors' in response ? (response.errors ?? []) : [];
    if (errors.length > 0) {
      const detail = errors.map((e) => `${e.category}: ${e.message}`).join('; ');
      throw new RequestRejectedError(
        this.redact(`HubSpot refused to upsert contact ${email}: ${detail}. Check the org admin's name and address.`),
      );
    }
    const contact = response.results[0];
    if (contact) this.log(`contact ${email} upserted (id ${contact.id}, ${contact._new ? 'created' : 'updated'})`);
  }

  private outcome(
    status: SendStatus,
    ctx: { kind: string; to: string; emailId: number; sendId: string },
  ): { duplicate: boolean } {
    const { kind, to, emailId, sendId } = ctx;
    const result: string | undefined = status.sendResult;
    const about = `${kind} notice to ${to} (template ${emailId}, sendId ${sendId}, statusId ${status.statusId})`;
    const reject = (why: string) => new RequestRejectedError(this.redact(why));

    // Without a sendResult the send is accepted and still being processed.
    if (result === undefined || result === 'SENT' || result === 'QUEUED') {
      if (result === undefined && status.status === 'CANCELED') throw reject(`HubSpot cancelled the ${about}`);
      this.log(`${kind} → ${to}: ${result ?? status.status} (template ${emailId}, sendId ${sendId})`);
      return { duplicate: false };
    }
    if (result === 'IDEMPOTENT_IGNORE') {
      this.log(`${kind} → ${to}: already sent, not sent again (sendId ${sendId})`);
      return { duplicate: true };
    }
    if (result === 'THROTTLED')
      throw new RetryLaterError(
        this.redact(`HubSpot throttled the ${about}; retrying in ${THROTTLED_RETRY_AFTER_MS / 1000} s`),
        THROTTLED_RETRY_AFTER_MS,
      );
    if (result === 'IDEMPOTENT_FAIL')
      throw reject(
        `HubSpot will not send the ${about}: an earlier attempt with this sendId failed (IDEMPOTENT_FAIL). ` +
          "Find that failure in HubSpot's email send log; once the cause is fixed, send the notice with a new key.",
      );
    const recipient = RECIPIENT_REFUSED[result];
    if (recipient)
      throw reject(
        `HubSpot will not email ${to}: ${recipient} (${result}; ${about}). ` +
          "Correct the org admin's address in the inventory, or lift the suppression in HubSpot.",
      );
    const template = TEMPLATE_PROBLEM[result];
    if (template)
      throw reject(
        `HubSpot could not send the ${about}: ${template} (${result}). ` +
          `Fix transactional email ${emailId} in HubSpot or the ${kind} template mapping.`,
      );
    const account = ACCOUNT_PROBLEM[result];
    if (account)
      throw reject(
        `HubSpot could not send the ${about}: ${account} (${result}). ` +
          "Check the HubSpot account's transactional email add-on, sending domain and the private app's scopes.",
      );
    throw reject(`HubSpot did not send the ${about}: unrecognised sendResult ${result}. Check the send in HubSpot.`);
  }

  /**
   * One SDK call under a deadline. The SDK passes no AbortSignal to its transport but takes a per-call agent through
   * middleware (config-level httpAgent/middleware are ignored unless call options are given); each call gets its own
   * agent, so destroying it aborts exactly this request's sockets.
   */
  private async call<T>(what: string, run: (options: CallOptions) => Promise<T>): Promise<T> {
    const agent = this.secure ? new HttpsAgent({ keepAlive: false }) : new HttpAgent({ keepAlive: false });
    const options: CallOptions = {
      middlewareMergeStrategy: 'append',
      middleware: [
        {
          pre: (ctx) => {
            ctx.setAgent(agent);
            return Promise.resolve(ctx);
          },
          post: (rsp) => Promise.resolve(rsp),
        },
      ],
    };
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error('timeout'));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([run(options), deadline]);
    } catch (err) {
      // No `cause`: the SDK's errors embed response headers and bodies, and ours may end up in Temporal history.
      // eslint-disable-next-line preserve-caught-error
      if (timedOut) throw new Error(`HubSpot ${what} timed out: no complete answer within ${this.timeoutMs} ms`);
      throw this.translate(err, what);
    } finally {
      clearTimeout(timer);
      agent.destroy();
    }
  }

  private translate(err: unknown, what: string): Error {
    if (isApiException(err)) {
      const { code } = err;
      const body = describeBody(err.body);
      if (code === 429) {
        const retryAfter = parseRetryAfter(header(err.headers, 'retry-after')) ?? DEFAULT_RETRY_AFTER_MS;
        const delay = Math.max(MIN_RETRY_AFTER_MS, retryAfter);
        return new RetryLaterError(
          this.redact(`HubSpot rate limit on ${what}: 429${body}; retrying in ${delay / 1000} s`),
          delay,
        );
      }
      if (code === 401 || code === 403)
        return new RequestRejectedError(
          this.redact(
            `HubSpot refused the access token for ${what}: ${code}${body}. ` +
              'Check the private app token and its scopes (transactional-email, crm.objects.contacts.write).',
          ),
        );
      // 408 is a timeout by definition: worth another try.
      if (code >= 400 && code < 500 && code !== 408)
        return new RequestRejectedError(this.redact(`HubSpot rejected ${what}: ${code}${body}`));
      return new Error(this.redact(`HubSpot ${what} failed: ${code}${body}`));
    }
    const e = err as { message?: unknown; code?: unknown; type?: unknown };
    // node-fetch's FetchError: type 'system' with the errno code.
    if (e && e.type === 'system' && typeof e.code === 'string')
      return new Error(this.redact(`HubSpot ${what} failed: network error ${e.code}`));
    return new Error(
      this.redact(`HubSpot ${what} failed: ${typeof e?.message === 'string' ? e.message : String(err)}`),
    );
  }

  private log(line: string): void {
    this.writeLog(this.redact(`[hubspot] ${line}`));
  }

  private redact(text: string): string {
    // A token this short is no real HubSpot token, and blanking it would garble every message.
    const withoutToken = this.token.length >= 8 ? text.split(this.token).join('[redacted]') : text;
    return withoutToken.replace(/Bearer\s+[^\s"',;]+/gi, 'Bearer [redacted]');
  }
}

interface AgentSettable {
  setAgent(agent: HttpAgent): void;
}
interface CallOptions {
  middlewareMergeStrategy: 'append';
  middleware: {
    pre<C extends AgentSettable>(ctx: C): Promise<C>;
    post<R>(rsp: R): Promise<R>;
  }[];
}

function checkTemplates(templates: Partial<Record<string, unknown>> | undefined): Record<NoticeKind, number> {
  const missing = NOTICE_KINDS.filter((k) => templates?.[k] === undefined || templates[k] === null);
  const invalid = NOTICE_KINDS.filter(
    (k) => !missing.includes(k) && !(Number.isSafeInteger(templates?.[k]) && (templates?.[k] as number) > 0),
  );
  const problems = [
    ...(missing.length > 0 ? [`no template id for ${missing.join(', ')}`] : []),
    ...(invalid.length > 0 ? [`not a positive integer for ${invalid.join(', ')}`] : []),
  ];
  if (problems.length > 0) throw new Error(`HubSpot templates: ${problems.join('; ')}`);
  return Object.fromEntries(NOTICE_KINDS.map((k) => [k, templates![k] as number])) as Record<NoticeKind, number>;
}

/** `Ada Lovelace King` → firstname `Ada`, lastname `Lovelace King`. */
export function splitName(name: string): { firstname: string; lastname: string } {
  const trimmed = name.trim().replace(/\s+/g, ' ');
  const space = trimmed.indexOf(' ');
  return space < 0
    ? { firstname: trimmed, lastname: '' }
    : { firstname: trimmed.slice(0, space), lastname: trimmed.slice(space + 1) };
}

const SEND_ID_READABLE_MAX = 80;

/**
 * HubSpot's idempotency key for a message key: the key with anything but letters, digits, `.`, `_` and `-` turned
 * into `-`, plus a hash of the exact key whenever that changed it (so `a/b` and `a-b` stay distinct). Stable.
 */
export function hubspotSendId(key: string): string {
  const readable = key
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SEND_ID_READABLE_MAX);
  if (readable === key) return key;
  const hash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
  return readable ? `${readable}-${hash}` : hash;
}

/** Exported for its tests; the parsing is shared by every adapter. */
export { parseRetryAfter as retryAfterMs };

interface ApiExceptionLike {
  code: number;
  body: unknown;
  headers: Record<string, string> | undefined;
}

// The SDK has one ApiException class per generated module, so instanceof cannot be used.
function isApiException(err: unknown): err is ApiExceptionLike {
  return typeof err === 'object' && err !== null && typeof (err as ApiExceptionLike).code === 'number' && 'body' in err;
}

function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** ` VALIDATION_ERROR: <message> (correlationId …)` from HubSpot's error body, or a short excerpt of a non-JSON one. */
function describeBody(body: unknown): string {
  if (typeof body === 'string') {
    const text = body.replace(/\s+/g, ' ').trim();
    return text ? `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}` : '';
  }
  if (typeof body !== 'object' || body === null) return '';
  const b = body as Record<string, unknown>;
  const str = (k: string) => (typeof b[k] === 'string' && b[k] ? (b[k] as string) : undefined);
  const kind = str('category') ?? str('policyName') ?? str('errorType');
  const message = str('message');
  const correlationId = str('correlationId');
  return (
    (kind ? ` ${kind}` : '') +
    (message ? `: ${message}` : '') +
    (correlationId ? ` (correlationId ${correlationId})` : '')
  );
}
