import { Client } from '@hubspot/api-client';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../../activities/errors';
import { RequestRejectedError, RetryLaterError, type EmailMessage } from '../../../activities/ports';
import { NOTICE_KINDS, type NoticeKind } from '../../../domain/model';
import {
  HubSpotNotifier,
  hubspotSendId,
  retryAfterMs,
  splitName,
  type HubSpotNotifierOptions,
} from '../../../integrations/hubspotNotifier';
import { SEND_PATH, UPSERT_PATH, startFakeHubSpot, type FakeHubSpot } from '../../helpers/fakeHubspot';

const TEMPLATES: Record<NoticeKind, number> = {
  scheduled: 101,
  rescheduled: 102,
  starting: 103,
  completed: 104,
  'rolled-back': 105,
  cancelled: 106,
  'action-needed': 107,
};

const message = (overrides: Partial<EmailMessage> = {}): EmailMessage => ({
  key: 'upgrade/cp-acme-eu/lts-5.8.2/scheduled/1',
  to: { email: 'ada@acme.test', name: 'Ada Lovelace' },
  subject: '[Scheduled] Auto Upgrade of cp-acme-eu to Gateway 5.8.2',
  text: 'Hello Ada,\n\nYour control plane is scheduled for an upgrade.\n',
  properties: { control_plane_id: 'cp-acme-eu', release_id: 'lts-5.8.2', notice_kind: 'scheduled' },
  noticeKind: 'scheduled',
  ...overrides,
});

let fake: FakeHubSpot;
let logs: string[];

beforeEach(async () => {
  fake = await startFakeHubSpot({ emailIds: Object.values(TEMPLATES) });
  logs = [];
});
afterEach(() => fake.close());

const notifier = (opts: Partial<HubSpotNotifierOptions> = {}) =>
  new HubSpotNotifier({
    accessToken: fake.token,
    basePath: fake.baseUrl,
    from: 'upgrades@tyk.test',
    templates: TEMPLATES,
    requestTimeoutMs: 2_000,
    log: (line) => logs.push(line),
    ...opts,
  });

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('HubSpotNotifier', () => {
  it('upserts the contact by email, then sends the template with a deterministic sendId', async () => {
    const hubspot = notifier();
    expect(hubspot.channel).toBe('hubspot');
    expect(await hubspot.send(message())).toEqual({ duplicate: false });

    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${UPSERT_PATH}`, `POST ${SEND_PATH}`]);
    for (const r of fake.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${fake.token}`);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const [upsert, send] = fake.requests;
    expect(upsert!.body).toEqual({
      inputs: [{ id: 'ada@acme.test', idProperty: 'email', properties: { firstname: 'Ada', lastname: 'Lovelace' } }],
    });
    const sendId = hubspotSendId('upgrade/cp-acme-eu/lts-5.8.2/scheduled/1');
    expect(send!.body).toEqual({
      emailId: 101,
      message: { to: 'ada@acme.test', from: 'upgrades@tyk.test', sendId },
      contactProperties: { firstname: 'Ada' },
      customProperties: {
        control_plane_id: 'cp-acme-eu',
        release_id: 'lts-5.8.2',
        notice_kind: 'scheduled',
        subject: message().subject,
        text: message().text,
      },
    });
    expect(sendId).toMatch(/^upgrade-cp-acme-eu-lts-5\.8\.2-scheduled-1-[0-9a-f]{16}$/);
    expect(fake.contacts.get('ada@acme.test')?.properties).toMatchObject({ firstname: 'Ada', lastname: 'Lovelace' });
    expect(fake.sentEmails).toHaveLength(1);
    expect(logs).toEqual([
      expect.stringMatching(/^\[hubspot\] contact ada@acme\.test upserted \(id \d+, created\)$/),
      `[hubspot] scheduled → ada@acme.test: SENT (template 101, sendId ${sendId})`,
    ]);
  });

  it('omits from when unset, and lastname for a one-word name', async () => {
    await notifier({ from: undefined }).send(message({ to: { email: 'ops@acme.test', name: 'Ops' } }));
    const [upsert, send] = fake.requests;
    expect(upsert!.body).toEqual({
      inputs: [{ id: 'ops@acme.test', idProperty: 'email', properties: { firstname: 'Ops' } }],
    });
    expect((send!.body as { message: unknown }).message).toEqual({
      to: 'ops@acme.test',
      sendId: expect.any(String),
    });
  });

  it('uses the template of each notice kind', async () => {
    const hubspot = notifier();
    for (const kind of NOTICE_KINDS)
      await hubspot.send(message({ key: `upgrade/cp-acme-eu/lts-5.8.2/${kind}/1`, noticeKind: kind }));
    expect(fake.sentEmails.map((e) => [e.customProperties.notice_kind, e.emailId])).toHaveLength(7);
    expect(fake.sentEmails.map((e) => e.emailId)).toEqual(NOTICE_KINDS.map((k) => TEMPLATES[k]));
    await expect(notifier().send(message({ noticeKind: 'newsletter' }))).rejects.toThrow(
      new RequestRejectedError('no HubSpot template for notice kind "newsletter"'),
    );
  });

  it('sends a key once: the same message again (another instance, as after a restart) is a duplicate', async () => {
    expect(await notifier().send(message())).toEqual({ duplicate: false });
    expect(await notifier().send(message({ subject: 'a retry' }))).toEqual({ duplicate: true });
    expect(fake.sentEmails).toHaveLength(1);
    const sendIds = fake.requests
      .filter((r) => r.path === SEND_PATH)
      .map((r) => (r.body as { message: { sendId: string } }).message.sendId);
    expect(new Set(sendIds).size).toBe(1);
    expect(logs.at(-1)).toMatch(/already sent, not sent again/);
  });

  it('a request that timed out after HubSpot sent the email is a duplicate on retry', async () => {
    fake.injectFaults({ endpoint: 'send', delayMs: 3_000 });
    const hubspot = notifier({ requestTimeoutMs: 150 });
    await expect(hubspot.send(message())).rejects.toThrow(/timed out/);
    expect(await hubspot.send(message())).toEqual({ duplicate: true });
    expect(fake.sentEmails).toHaveLength(1);
  });

  it('turns 429 into RetryLaterError with the Retry-After delay (seconds, HTTP date, or 10 s)', async () => {
    fake.injectFaults({ endpoint: 'upsert', status: 429, retryAfter: '7' });
    const err = await failure(notifier().send(message()));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBe(7_000);
    expect(err.message).toMatch(/429 TEN_SECONDLY_ROLLING: You have reached your ten_secondly_rolling limit\./);
    expect(fake.sentEmails).toHaveLength(0);

    fake.injectFaults({ endpoint: 'send', status: 429, retryAfter: null });
    const noHeader = await failure(notifier().send(message()));
    expect((noHeader as RetryLaterError).retryAfterMs).toBe(10_000);

    fake.injectFaults({ endpoint: 'send', status: 429, retryAfter: new Date(Date.now() + 30_000).toUTCString() });
    const dated = (await failure(notifier().send(message()))) as RetryLaterError;
    expect(dated.retryAfterMs).toBeGreaterThan(27_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(fake.requests.filter((r) => r.response?.status === 429)).toHaveLength(3); // no SDK retries
  });

  it('parses Retry-After values', () => {
    const now = Date.parse('2026-05-01T10:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7_000);
    expect(retryAfterMs(' 1.5 ', now)).toBe(1_500);
    expect(retryAfterMs('Fri, 01 May 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Fri, 01 May 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it("turns a 400 into RequestRejectedError carrying HubSpot's message and correlationId", async () => {
    const err = await failure(
      notifier({ templates: { ...TEMPLATES, completed: 999 } }).send(message({ noticeKind: 'completed' })),
    );
    const answer = fake.requests.at(-1)!.response!.body as { message: string; correlationId: string };
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toContain(answer.message);
    expect(err.message).toContain(`correlationId ${answer.correlationId}`);
    expect(err.message).toMatch(
      /^HubSpot rejected email send \(POST \/marketing\/v3\/transactional\/single-email\/send\): 400 VALIDATION_ERROR: Email 999 does not exist/,
    );
  });

  it('turns a 5xx into a plain retryable Error, made once even if a later Client asks for SDK retries', async () => {
    const hubspot = notifier();
    jest.spyOn(console, 'error').mockImplementation(() => {}); // the SDK logs its retries
    try {
      new Client({ accessToken: 'other', basePath: fake.baseUrl, numberOfApiCallRetries: 3 });
      fake.injectFaults({ endpoint: 'send', status: 502 });
      const err = await failure(hubspot.send(message()));
      expect(err.constructor).toBe(Error);
      expect(err.message).toBe(
        'HubSpot email send (POST /marketing/v3/transactional/single-email/send) failed: 502: internal error' +
          ` (correlationId ${(fake.requests.at(-1)!.response!.body as { correlationId: string }).correlationId})`,
      );
      expect(fake.requests.filter((r) => r.path === SEND_PATH)).toHaveLength(1);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it("leaves the SDK's retry settings of a Client built earlier in place", async () => {
    jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const other = new Client({ accessToken: fake.token, basePath: fake.baseUrl, numberOfApiCallRetries: 2 });
      notifier();
      fake.injectFaults({ endpoint: 'upsert', status: 500 });
      await other.crm.contacts.batchApi.upsert({
        inputs: [{ id: 'bob@acme.test', idProperty: 'email', properties: {} }],
      });
      expect(fake.requests.map((r) => r.response?.status)).toEqual([500, 200]);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('turns network errors into plain retryable Errors', async () => {
    const basePath = fake.baseUrl;
    await fake.close();
    const err = await failure(notifier({ basePath }).send(message()));
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(/^HubSpot contact upsert .* failed: network error ECONNREFUSED$/);
    fake = await startFakeHubSpot(); // for afterEach
  });

  it('rejects a wrong token (401) without showing it', async () => {
    const wrong = 'pat-na1-00000000-wrong-token-value';
    const err = await failure(notifier({ accessToken: wrong }).send(message()));
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toMatch(
      /refused the access token .*: 401 INVALID_AUTHENTICATION: Authentication credentials not found/,
    );
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${wrong}`);
    for (const text of [err.message, err.stack, JSON.stringify(err), ...logs]) expect(text).not.toContain(wrong);
  });

  it('maps failed sendResults: recipient and template problems are final, THROTTLED is retried later', async () => {
    fake.injectFaults({ endpoint: 'send', sendResult: 'PREVIOUSLY_BOUNCED' });
    const bounced = await failure(notifier().send(message()));
    expect(bounced).toBeInstanceOf(RequestRejectedError);
    expect(bounced.message).toMatch(
      /^HubSpot will not email ada@acme\.test: mail to the address bounced before \(PREVIOUSLY_BOUNCED; .*\)\. Correct the org admin's address in the inventory/,
    );
    // The same sendId again: HubSpot remembers the failure.
    const again = await failure(notifier().send(message()));
    expect(again).toBeInstanceOf(RequestRejectedError);
    expect(again.message).toMatch(/IDEMPOTENT_FAIL/);

    fake.injectFaults({ endpoint: 'send', sendResult: 'MISSING_TEMPLATE_PROPERTIES' });
    const template = await failure(notifier().send(message({ key: 'k2', noticeKind: 'cancelled' })));
    expect(template).toBeInstanceOf(RequestRejectedError);
    expect(template.message).toMatch(/Fix transactional email 106 in HubSpot/);

    fake.injectFaults({ endpoint: 'send', sendResult: 'THROTTLED' });
    const throttled = await failure(notifier().send(message({ key: 'k3' })));
    expect(throttled).toBeInstanceOf(RetryLaterError);
    expect((throttled as RetryLaterError).retryAfterMs).toBe(60_000);
    expect(await notifier().send(message({ key: 'k3' }))).toEqual({ duplicate: false });

    fake.injectFaults({ endpoint: 'send', sendResult: 'SOMETHING_NEW' });
    expect(await failure(notifier().send(message({ key: 'k4' })))).toBeInstanceOf(RequestRejectedError);

    fake.injectFaults({ endpoint: 'send', sendResult: null }); // accepted, still processing
    expect(await notifier().send(message({ key: 'k5' }))).toEqual({ duplicate: false });

    expect(
      await failure(notifier().send(message({ key: 'k6', to: { email: 'not-an-address', name: 'X' } }))),
    ).toBeInstanceOf(RequestRejectedError);
  });

  it('does not send when the contact upsert fails for the input (207)', async () => {
    // The fake accepts it as an email id only with a dot in the domain; the send is never attempted.
    const err = await failure(notifier().send(message({ to: { email: 'ada@localhost', name: 'Ada' } })));
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toMatch(
      /refused to upsert contact ada@localhost: VALIDATION_ERROR: Property values were not valid/,
    );
    expect(fake.requests.map((r) => r.response?.status)).toEqual([207]);
  });

  it('gives up on a request after requestTimeoutMs and closes its connection', async () => {
    fake.injectFaults({ endpoint: 'upsert', delayMs: 5_000 });
    const started = Date.now();
    const err = await failure(notifier({ requestTimeoutMs: 200 }).send(message()));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.constructor).toBe(Error);
    expect(err.message).toBe(
      'HubSpot contact upsert (POST /crm/v3/objects/contacts/batch/upsert) timed out: no complete answer within 200 ms',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fake.requests[0]!.aborted).toBe(true);
  });

  it('never shows the token in errors, failures or log lines', async () => {
    const seen: string[] = [];
    const hubspot = notifier();
    const run = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        const e = err as Error;
        seen.push(e.message, String(e.stack), JSON.stringify(e));
        const f = toFailure(e) as Error;
        seen.push(f.message, String(f.stack), JSON.stringify(f));
      }
    };
    await run(hubspot.send(message()));
    await run(hubspot.send(message()));
    // HubSpot echoing the token or the Authorization header back must not leak it either.
    fake.injectFaults({
      endpoint: 'send',
      status: 400,
      body: {
        status: 'error',
        message: `bad header: Authorization: Bearer ${fake.token}`,
        category: 'VALIDATION_ERROR',
      },
    });
    await run(hubspot.send(message({ key: 'k-echo' })));
    fake.injectFaults({ endpoint: 'upsert', status: 503, body: `<html>token ${fake.token} overloaded</html>` });
    await run(hubspot.send(message({ key: 'k-html' })));
    fake.injectFaults({ endpoint: 'send', status: 429, retryAfter: '7' }, { endpoint: 'send', status: 500 });
    await run(hubspot.send(message({ key: 'k-429' })));
    await run(hubspot.send(message({ key: 'k-500' })));
    fake.injectFaults({ endpoint: 'upsert', delayMs: 1_000 });
    await run(notifier({ requestTimeoutMs: 100 }).send(message({ key: 'k-slow' })));
    await run(notifier({ accessToken: `${fake.token}-x` }).send(message({ key: 'k-401' })));
    expect(() => notifier({ basePath: `not a url ${fake.token}` })).toThrow(/not a URL: not a url \[redacted\]/);

    expect(seen.length).toBeGreaterThanOrEqual(6 * 6);
    expect(seen.filter((s) => s.includes('[redacted]')).length).toBeGreaterThan(0);
    for (const text of [...seen, ...logs]) expect(text).not.toContain(fake.token);
  });

  it('requires a template id for every notice kind, naming the missing ones', () => {
    const { rescheduled: _r, cancelled: _c, ...partial } = TEMPLATES;
    expect(() => notifier({ templates: partial as Record<NoticeKind, number> })).toThrow(
      'HubSpot templates: no template id for rescheduled, cancelled',
    );
    expect(() => notifier({ templates: { ...TEMPLATES, starting: 0, completed: 1.5 } })).toThrow(
      'HubSpot templates: not a positive integer for starting, completed',
    );
    expect(() => notifier({ accessToken: '' })).toThrow('HubSpotNotifier needs an access token');
  });

  it('derives safe, stable, distinct sendIds', () => {
    expect(hubspotSendId('upgrade/cp-acme-eu/lts-5.8.2/scheduled/1')).toBe(
      hubspotSendId('upgrade/cp-acme-eu/lts-5.8.2/scheduled/1'),
    );
    expect(hubspotSendId('plain-key_1.2')).toBe('plain-key_1.2');
    expect(hubspotSendId('a/b')).not.toBe(hubspotSendId('a-b'));
    expect(hubspotSendId('a/b')).not.toBe(hubspotSendId('a b'));
    const long = hubspotSendId(`upgrade/${'x'.repeat(500)}`);
    expect(long.length).toBeLessThanOrEqual(97);
    expect(long).not.toBe(hubspotSendId(`upgrade/${'x'.repeat(499)}`));
    for (const id of [long, hubspotSendId('ünïcode/✓'), hubspotSendId('///')]) expect(id).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it('splits names into first and last name', () => {
    expect(splitName('  Ada   Lovelace King ')).toEqual({ firstname: 'Ada', lastname: 'Lovelace King' });
    expect(splitName('Ada')).toEqual({ firstname: 'Ada', lastname: '' });
  });

  it('becomes Temporal failures through toFailure: 429 → nextRetryDelay 7 s, 400 → non-retryable', async () => {
    fake.injectFaults({ endpoint: 'send', status: 429, retryAfter: '7' });
    const limited = toFailure(await failure(notifier().send(message())));
    expect(limited).toBeInstanceOf(ApplicationFailure);
    expect(limited).toMatchObject({ type: 'RetryLater', nonRetryable: false, nextRetryDelay: 7_000 });

    const rejected = toFailure(
      await failure(notifier({ templates: { ...TEMPLATES, scheduled: 999 } }).send(message({ key: 'k-400' }))),
    );
    expect(rejected).toBeInstanceOf(ApplicationFailure);
    expect(rejected).toMatchObject({ type: 'RequestRejected', nonRetryable: true });
    expect((rejected as ApplicationFailure).message).toMatch(/400 VALIDATION_ERROR: Email 999 does not exist/);

    fake.injectFaults({ endpoint: 'send', status: 500 });
    const transient = toFailure(await failure(notifier().send(message({ key: 'k-500' }))));
    expect(transient).not.toBeInstanceOf(ApplicationFailure); // a plain Error: retried with the policy's backoff
  });
});
