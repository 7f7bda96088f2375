// Customer email through HubSpot transactional single-send: one template per notice kind, the org admin upserted as
// a contact first. HubSpot decides a send asynchronously: the send answers a statusId (PENDING), and the outcome
// (sendResult) is read from the Email Send Status API, polled with backoff until it is final; every answer is reported
// through `progress` so the calling activity heartbeats the statusId and a retry resumes from it instead of sending
// again. Exactly-once across activity retries rests on HubSpot's sendId, derived from the message key (and, after a
// THROTTLED send, from the key and the throttled statusId: docs/decisions/0008-hubspot-async-send.md).
// Retries belong to Temporal: the SDK's own retries are off, and every failure becomes RetryLaterError (429, 423, 477,
// THROTTLED), RequestRejectedError (won't succeed by retrying) or a plain Error (retry with backoff). The access token
// never leaves this file: messages are built here, never taken from the SDK's ApiException, and redacted all the same.
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Client } from '@hubspot/api-client';
import ApiDecoratorService from '@hubspot/api-client/lib/src/services/ApiDecoratorService';
import type IDecorator from '@hubspot/api-client/lib/src/services/decorators/IDecorator';
import {
  RequestRejectedError,
  RetryLaterError,
  type EmailMessage,
  type NoticeDelivery,
  type NotifierPort,
  type SendOptions,
} from '../activities/ports';
import { NOTICE_KINDS, type NoticeKind } from '../domain/model';
import { parseRetryAfter, sleep } from './httpClient';

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
  /** Wait before the first poll of a send's status; it doubles after each poll up to `pollMaxMs`. Default 1 s. */
  pollInitialMs?: number;
  /** Longest wait between two polls. Default 30 s. */
  pollMaxMs?: number;
  /**
   * Longest one send() waits for HubSpot's outcome before failing with a retryable error (the retry resumes the same
   * statusId). Default 10 minutes, inside the sendNotice activity's 15-minute start-to-close timeout.
   */
  pollTimeoutMs?: number;
  /** Wait after a 429 of HubSpot's DAILY policy (the daily limit resets at midnight in the account's zone). 1 h. */
  dailyLimitRetryMs?: number;
  log?: (line: string) => void;
}

const DEFAULT_BASE_PATH = 'https://api.hubapi.com';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_INITIAL_MS = 1_000;
const DEFAULT_POLL_MAX_MS = 30_000;
const DEFAULT_POLL_TIMEOUT_MS = 10 * 60_000;
/** When a 429 carries neither Retry-After nor X-HubSpot-RateLimit-Interval-Milliseconds. */
const DEFAULT_RETRY_AFTER_MS = 10_000;
/** A 429 of the DAILY policy: see docs/decisions/0008-hubspot-async-send.md. */
const DEFAULT_DAILY_RETRY_MS = 60 * 60_000;
/** 423 Locked: HubSpot's locks last 2 s. */
const LOCKED_RETRY_MS = 2_000;
/** 477 Migration in Progress without a usable Retry-After. */
const MIGRATION_RETRY_MS = 60 * 60_000;
/** No wait longer than the sendNotice activity's schedule-to-close timeout (HubSpot's 477 says "typically ≤ 24 h"). */
const MAX_RETRY_AFTER_MS = 24 * 60 * 60_000;
/** sendResult THROTTLED comes without a delay; HubSpot's send throttling works on a scale of minutes. */
const THROTTLED_RETRY_AFTER_MS = 60_000;
const MIN_RETRY_AFTER_MS = 1_000;

const UPSERT = 'contact upsert (POST /crm/v3/objects/contacts/batch/upsert)';
const SEND = 'email send (POST /marketing/v3/transactional/single-email/send)';
const STATUS_PATH = '/marketing/v3/email/send-statuses/';

type ContactsBatchApi = Client['crm']['contacts']['batchApi'];
type SingleSendApi = Client['marketing']['transactional']['singleSendApi'];
type SdkSendStatus = Awaited<ReturnType<SingleSendApi['sendEmail']>>;
type FetchResponse = Awaited<ReturnType<Client['apiRequest']>>;

/** What HubSpot says about one send (an EmailSendStatusView), times as HubSpot's ISO strings. */
interface SendStatus {
  statusId: string;
  /** PENDING, PROCESSING, CANCELED or COMPLETE. */
  status: string;
  sendResult?: string;
  completedAt?: string;
}

/** Not final: HubSpot is still deciding (QUEUED: accepted, "will send as the queue gets processed"). */
function isFinal(s: SendStatus): boolean {
  if (s.status === 'CANCELED') return true;
  return s.sendResult !== undefined && s.sendResult !== 'QUEUED';
}

/** How a send stands, for progress and messages: its sendResult once it has one, else its status. */
const stateOf = (s: SendStatus) => s.sendResult ?? s.status;

interface SendContext {
  kind: string;
  to: string;
  emailId: number;
  options: SendOptions;
  /** Last moment to wait for an outcome (epoch ms). */
  waitUntil: number;
}

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
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly pollTimeoutMs: number;
  private readonly dailyRetryMs: number;
  private readonly secure: boolean;
  private readonly writeLog: (line: string) => void;
  private readonly client: Client;
  private readonly contacts: ContactsBatchApi;
  private readonly singleSend: SingleSendApi;

  constructor(opts: HubSpotNotifierOptions) {
    if (!opts.accessToken) throw new Error('HubSpotNotifier needs an access token');
    this.token = opts.accessToken;
    this.templates = checkTemplates(opts.templates);
    this.from = opts.from;
    this.timeoutMs = positive('requestTimeoutMs', opts.requestTimeoutMs, DEFAULT_TIMEOUT_MS);
    this.pollInitialMs = positive('pollInitialMs', opts.pollInitialMs, DEFAULT_POLL_INITIAL_MS);
    this.pollMaxMs = Math.max(this.pollInitialMs, positive('pollMaxMs', opts.pollMaxMs, DEFAULT_POLL_MAX_MS));
    this.pollTimeoutMs = positive('pollTimeoutMs', opts.pollTimeoutMs, DEFAULT_POLL_TIMEOUT_MS);
    this.dailyRetryMs = positive('dailyLimitRetryMs', opts.dailyLimitRetryMs, DEFAULT_DAILY_RETRY_MS);
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
    // not-yet-built API objects as their owners configured them. (apiRequest applies them at each call: see get().)
    const decorators = ApiDecoratorService.getInstance();
    const previous = (decorators as unknown as { decorators?: unknown }).decorators;
    try {
      this.client = new Client({ accessToken: this.token, basePath, numberOfApiCallRetries: 0 });
      this.contacts = this.client.crm.contacts.batchApi;
      this.singleSend = this.client.marketing.transactional.singleSendApi;
    } finally {
      if (Array.isArray(previous)) decorators.setDecorators(previous as IDecorator[]);
    }
  }

  async send(message: EmailMessage, options: SendOptions = {}): Promise<NoticeDelivery> {
    const kind = message.noticeKind;
    const emailId = (NOTICE_KINDS as readonly string[]).includes(kind) ? this.templates[kind as NoticeKind] : undefined;
    if (emailId === undefined) throw new RequestRejectedError(`no HubSpot template for notice kind "${kind}"`);
    const to = message.to.email;
    const ctx: SendContext = { kind, to, emailId, options, waitUntil: Date.now() + this.pollTimeoutMs };
    const sendId = hubspotSendId(message.key);
    try {
      // An earlier attempt's send: find out how it ended instead of sending again.
      let resumed: SendStatus | undefined;
      if (options.resumeDeliveryId) {
        resumed = await this.readStatus(options.resumeDeliveryId, ctx);
        if (resumed) this.log(`${kind} → ${to}: resuming HubSpot send ${resumed.statusId} (${stateOf(resumed)})`);
        else
          this.log(
            `${kind} → ${to}: HubSpot does not know send ${options.resumeDeliveryId} (404); sending with sendId ${sendId}`,
          );
      }
      if (resumed) {
        const throttledBefore = resumed.sendResult === 'THROTTLED';
        const status = await this.waitForOutcome(resumed, ctx);
        if (!throttledBefore) return this.outcome(status, ctx, { resumed: true });
        // Throttled in an earlier attempt, retried after the delay HubSpot's throttling asked for: a throttled sendId
        // is spent (docs/decisions/0008), so this send goes under a new one derived from the throttled statusId.
        const retrySendId = throttledSendId(sendId, resumed.statusId);
        this.log(`${kind} → ${to}: send ${resumed.statusId} was THROTTLED; sending again with sendId ${retrySendId}`);
        const sent = await this.sendEmail(message, retrySendId, ctx);
        return this.outcome(await this.waitForOutcome(sent, ctx), ctx, { sendId: retrySendId });
      }

      const { firstname, lastname } = splitName(message.to.name);
      await this.upsertContact(to, firstname, lastname, ctx);
      const sent = await this.sendEmail(message, sendId, ctx);
      return this.outcome(await this.waitForOutcome(sent, ctx), ctx, { sendId });
    } catch (err) {
      if (err instanceof Error) this.log(`${kind} → ${to}: failed: ${err.message}`);
      throw err;
    }
  }

  private async upsertContact(email: string, firstname: string, lastname: string, ctx: SendContext): Promise<void> {
    const properties: Record<string, string> = {};
    if (firstname) properties.firstname = firstname;
    if (lastname) properties.lastname = lastname;
    const response = await this.call(
      UPSERT,
      ({ options }) => this.contacts.upsert({ inputs: [{ id: email, idProperty: 'email', properties }] }, options),
      ctx.options.signal,
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

  /** One single-send request; HubSpot's answer (usually PENDING) is reported as progress. */
  private async sendEmail(message: EmailMessage, sendId: string, ctx: SendContext): Promise<SendStatus> {
    const { firstname } = splitName(message.to.name);
    const answer = await this.call(
      SEND,
      ({ options }) =>
        this.singleSend.sendEmail(
          {
            emailId: ctx.emailId,
            message: { to: ctx.to, sendId, ...(this.from ? { _from: this.from } : {}) },
            contactProperties: firstname ? { firstname } : {},
            customProperties: { ...message.properties, subject: message.subject, text: message.text },
          },
          options,
        ),
      ctx.options.signal,
    );
    const status = fromSdk(answer);
    this.report(status, ctx);
    return status;
  }

  /** Polls the send's status with backoff until HubSpot's answer is final, reporting each answer. */
  private async waitForOutcome(first: SendStatus, ctx: SendContext): Promise<SendStatus> {
    const started = Date.now();
    let status = first;
    let delay = this.pollInitialMs;
    while (!isFinal(status)) {
      const remaining = ctx.waitUntil - Date.now();
      if (remaining <= 0)
        throw new Error(
          this.redact(
            `HubSpot send ${status.statusId} is still ${stateOf(status)} after ${Date.now() - started} ms; ` +
              'the retry resumes it',
          ),
        );
      await pause(Math.min(delay, remaining), ctx.options.signal);
      delay = Math.min(delay * 2, this.pollMaxMs);
      const next = await this.readStatus(status.statusId, ctx);
      if (!next) throw new Error(this.redact(`HubSpot no longer knows send ${status.statusId} (404)`));
      status = next;
    }
    return status;
  }

  /** GET /marketing/v3/email/send-statuses/{statusId}, reported as progress; undefined when HubSpot answers 404. */
  private async readStatus(statusId: string, ctx: SendContext): Promise<SendStatus | undefined> {
    const path = `${STATUS_PATH}${encodeURIComponent(statusId)}`;
    const what = `send status (GET ${path})`;
    const status = await this.call(
      what,
      async ({ agent }) => {
        const response = await this.get(path, agent);
        const text = await response.text();
        if (response.status === 404) return undefined;
        if (response.status < 200 || response.status > 299)
          throw new HttpStatusError(response.status, parseBody(text), headersOf(response));
        const view = fromJson(parseBody(text));
        if (!view) throw new Error(`answered ${response.status} without a readable send status`);
        return view;
      },
      ctx.options.signal,
    );
    if (status) this.report(status, ctx);
    return status;
  }

  private report(status: SendStatus, ctx: SendContext): void {
    ctx.options.progress?.({ deliveryId: status.statusId, status: stateOf(status) });
  }

  /** A final answer as the port's NoticeDelivery, or the error saying why there is none. */
  private outcome(status: SendStatus, ctx: SendContext, how: { sendId?: string; resumed?: boolean }): NoticeDelivery {
    const { kind, to, emailId } = ctx;
    const result = status.sendResult;
    const via = how.sendId ? `sendId ${how.sendId}, ` : '';
    const about = `${kind} notice to ${to} (template ${emailId}, ${via}statusId ${status.statusId})`;
    const reject = (why: string) => new RequestRejectedError(this.redact(why));
    const delivery = (duplicate: boolean): NoticeDelivery => ({
      duplicate,
      deliveryId: status.statusId,
      ...(result ? { result } : {}),
      ...(status.completedAt ? { completedAt: status.completedAt } : {}),
    });

    if (status.status === 'CANCELED') throw reject(`HubSpot cancelled the ${about}`);
    if (result === 'SENT') {
      this.log(`${kind} → ${to}: SENT (template ${emailId}, ${via}statusId ${status.statusId})`);
      // Resumed: the earlier attempt's send is the one that went out.
      return delivery(how.resumed === true);
    }
    if (result === 'IDEMPOTENT_IGNORE') {
      this.log(`${kind} → ${to}: already sent, not sent again (${via}statusId ${status.statusId})`);
      return delivery(true);
    }
    if (result === 'THROTTLED')
      throw new RetryLaterError(
        this.redact(`HubSpot throttled the ${about}; retrying in ${THROTTLED_RETRY_AFTER_MS / 1000} s`),
        THROTTLED_RETRY_AFTER_MS,
      );
    if (result === undefined) throw new Error(this.redact(`HubSpot's send status for the ${about} has no result`));
    if (result === 'IDEMPOTENT_FAIL')
      throw reject(
        `HubSpot will not send the ${about}: an earlier attempt with this sendId failed or was throttled ` +
          "(IDEMPOTENT_FAIL). Find that failure in HubSpot's email send log; once the cause is fixed, send the notice " +
          'with a new key.',
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
   * The SDK's generic request (the SDK 13.5 has no send-status API). apiRequest applies the process-wide decorators
   * at each call, synchronously, so for this call they are swapped for one that only hands our per-request agent to
   * node-fetch (no retries of a later Client, and a deadline that can close the socket); then they are put back.
   */
  private get(path: string, agent: HttpAgent): Promise<FetchResponse> {
    const decorators = ApiDecoratorService.getInstance();
    const previous = (decorators as unknown as { decorators?: unknown }).decorators;
    const withAgent: IDecorator = {
      decorate:
        (send: (request: SdkRequest) => Promise<FetchResponse>) =>
        (request: SdkRequest): Promise<FetchResponse> =>
          send({ getUrl: () => request.getUrl(), getSendData: () => ({ ...request.getSendData(), agent }) }),
    };
    decorators.setDecorators([withAgent]);
    try {
      return this.client.apiRequest({ method: 'GET', path });
    } finally {
      decorators.setDecorators(Array.isArray(previous) ? (previous as IDecorator[]) : []);
    }
  }

  /**
   * One request under a deadline, abandoned at once when `signal` aborts (with the signal's reason). The SDK passes no
   * AbortSignal to its transport but takes a per-call agent (through middleware for generated calls; config-level
   * httpAgent/middleware are ignored unless call options are given); each call gets its own agent, so destroying it
   * closes exactly this request's sockets. The middleware also keeps the answer's status, headers and text: the SDK
   * throws a plain Error, not an ApiException, on an answer without a content type, which must still be classified
   * by its HTTP status.
   */
  private async call<T>(what: string, run: (io: CallIo) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const agent = this.secure ? new HttpsAgent({ keepAlive: false }) : new HttpAgent({ keepAlive: false });
    let answer: SeenResponse | undefined;
    const options: CallOptions = {
      middlewareMergeStrategy: 'append',
      middleware: [
        {
          pre: (ctx) => {
            ctx.setAgent(agent);
            return Promise.resolve(ctx);
          },
          post: async (rsp) => {
            const text = await rsp.body.text();
            (rsp as ResponseLike).body = {
              text: () => Promise.resolve(text),
              binary: () => Promise.resolve(Buffer.from(text, 'utf8')),
            };
            answer = { status: rsp.httpStatusCode, headers: rsp.headers, text };
            return rsp;
          },
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
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      if (!signal) return;
      onAbort = () => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([run({ options, agent }), deadline, aborted]);
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      // No `cause`: the SDK's errors embed response headers and bodies, and ours may end up in Temporal history.
      // eslint-disable-next-line preserve-caught-error
      if (timedOut) throw new Error(`HubSpot ${what} timed out: no complete answer within ${this.timeoutMs} ms`);
      throw this.translate(err, what, answer);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      agent.destroy();
    }
  }

  private translate(err: unknown, what: string, answer: SeenResponse | undefined): Error {
    if (isApiException(err)) return this.classify(err.code, err.headers, err.body, what);
    // The SDK could not read an error answer (no or unknown content type): its HTTP status still says what it means.
    if (answer && (answer.status < 200 || answer.status > 299))
      return this.classify(answer.status, answer.headers, parseBody(answer.text), what);
    const e = err as { message?: unknown; code?: unknown; type?: unknown };
    if (answer)
      return new Error(
        this.redact(`HubSpot ${what} failed: ${answer.status} answer unreadable (${String(e?.message ?? err)})`),
      );
    // node-fetch's FetchError: type 'system' with the errno code.
    if (e && e.type === 'system' && typeof e.code === 'string')
      return new Error(this.redact(`HubSpot ${what} failed: network error ${e.code}`));
    return new Error(
      this.redact(`HubSpot ${what} failed: ${typeof e?.message === 'string' ? e.message : String(err)}`),
    );
  }

  /** An HTTP error answer as RetryLaterError, RequestRejectedError or a plain (retryable) Error. */
  private classify(
    code: number,
    headers: Record<string, string> | undefined,
    responseBody: unknown,
    what: string,
  ): Error {
    const body = describeBody(responseBody);
    const retryAfter = parseRetryAfter(header(headers, 'retry-after'));
    const later = (text: string, ms: number) => {
      const delay = Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, ms));
      return new RetryLaterError(this.redact(`${text}; retrying in ${delay / 1000} s`), delay);
    };
    if (code === 429) {
      // Retry-After if HubSpot sends one; the DAILY policy resets at midnight in the account's time zone, not in the
      // 10 s window the interval header describes; otherwise one rate-limit window.
      const policy = isRecord(responseBody) ? responseBody.policyName : undefined;
      const daily = policy === 'DAILY' || header(headers, 'x-hubspot-ratelimit-daily-remaining')?.trim() === '0';
      const interval = positiveInt(header(headers, 'x-hubspot-ratelimit-interval-milliseconds'));
      const delay = retryAfter ?? (daily ? this.dailyRetryMs : (interval ?? DEFAULT_RETRY_AFTER_MS));
      return later(`HubSpot rate limit on ${what}: 429${body}`, delay);
    }
    // 423 Locked: "locks last 2 seconds"; 477 Migration in Progress: Retry-After, "typically up to 24 hours".
    if (code === 423)
      return later(`HubSpot ${what} hit a lock: 423${body}`, Math.max(LOCKED_RETRY_MS, retryAfter ?? 0));
    if (code === 477)
      return later(`HubSpot ${what} waits for an account migration: 477${body}`, retryAfter ?? MIGRATION_RETRY_MS);
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

  private log(line: string): void {
    this.writeLog(this.redact(`[hubspot] ${line}`));
  }

  private redact(text: string): string {
    // A token this short is no real HubSpot token, and blanking it would garble every message.
    const withoutToken = this.token.length >= 8 ? text.split(this.token).join('[redacted]') : text;
    return withoutToken.replace(/Bearer\s+[^\s"',;]+/gi, 'Bearer [redacted]');
  }
}

/** An error answer of a request made without the generated code (the status API), shaped like the SDK's. */
class HttpStatusError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
    readonly headers: Record<string, string>,
  ) {
    super(`HTTP ${code}`);
  }
}

interface SdkRequest {
  getUrl(): URL;
  getSendData(): Record<string, unknown>;
}
interface ResponseLike {
  httpStatusCode: number;
  headers: Record<string, string>;
  body: { text(): Promise<string>; binary(): Promise<Buffer> };
}
interface SeenResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}
interface CallIo {
  /** Call options for generated API methods. */
  options: CallOptions;
  /** This request's agent (for requests made without the generated code). */
  agent: HttpAgent;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal) return sleep(ms, signal);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`aborted: ${String(reason)}`);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v > 0)) throw new Error(`${name} must be positive, not ${value}`);
  return v;
}

function positiveInt(value: string | undefined): number | undefined {
  const n = value !== undefined && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return n > 0 ? n : undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseBody(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : '';
  } catch {
    return text;
  }
}

function headersOf(response: FetchResponse): Record<string, string> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return headers;
}

const isoOf = (v: unknown): string | undefined =>
  v instanceof Date ? (Number.isNaN(v.getTime()) ? undefined : v.toISOString()) : typeof v === 'string' ? v : undefined;

function fromSdk(v: SdkSendStatus): SendStatus {
  const completedAt = isoOf(v.completedAt);
  return {
    statusId: v.statusId,
    status: v.status,
    ...(v.sendResult ? { sendResult: v.sendResult } : {}),
    ...(completedAt ? { completedAt } : {}),
  };
}

function fromJson(v: unknown): SendStatus | undefined {
  if (!isRecord(v) || typeof v.statusId !== 'string' || !v.statusId || typeof v.status !== 'string') return undefined;
  const completedAt = isoOf(v.completedAt);
  return {
    statusId: v.statusId,
    status: v.status,
    ...(typeof v.sendResult === 'string' && v.sendResult ? { sendResult: v.sendResult } : {}),
    ...(completedAt ? { completedAt } : {}),
  };
}

interface AgentSettable {
  setAgent(agent: HttpAgent): void;
}
interface CallOptions {
  middlewareMergeStrategy: 'append';
  middleware: {
    pre<C extends AgentSettable>(ctx: C): Promise<C>;
    post<R extends ResponseLike>(rsp: R): Promise<R>;
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

/**
 * The sendId for sending again after HubSpot THROTTLED the send with statusId `throttledStatusId`: a throttled sendId
 * is spent (docs/decisions/0008-hubspot-async-send.md). Derived from what a retry can always reconstruct (the
 * message's sendId and the throttled statusId it resumes from), so a retry that lost the resend's answer sends the
 * same sendId again and HubSpot answers IDEMPOTENT_IGNORE instead of emailing twice. At most 97 characters.
 */
export function throttledSendId(sendId: string, throttledStatusId: string): string {
  const hash = createHash('sha256').update(`${sendId}\n${throttledStatusId}`, 'utf8').digest('hex').slice(0, 16);
  const readable = sendId
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, SEND_ID_READABLE_MAX - 1)
    .replace(/[-.]+$/, '');
  return readable ? `${readable}-t${hash}` : `t${hash}`;
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
