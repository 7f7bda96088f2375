import { Client } from '@hubspot/api-client';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../../activities/errors';
import { RequestRejectedError, RetryLaterError, type EmailMessage } from '../../../activities/ports';
import { NOTICE_KINDS, type NoticeKind } from '../../../domain/model';
import {
  EmailSendStatusViewSendResultEnum,
  EmailSendStatusViewStatusEnum,
} from '@hubspot/api-client/lib/codegen/marketing/transactional/models/EmailSendStatusView';
import {
  HubSpotNotifier,
  hubspotSendId,
  retryAfterMs,
  splitName,
  throttledSendId,
  type HubSpotNotifierOptions,
} from '../../../integrations/hubspotNotifier';
import {
  SEND_PATH,
  STATUS_PATH,
  UPSERT_PATH,
  startFakeHubSpot,
  statusPath,
  type FakeHubSpot,
} from '../../helpers/fakeHubspot';

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
    pollInitialMs: 5,
    pollMaxMs: 20,
    pollTimeoutMs: 2_000,
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
    const delivery = await hubspot.send(message());
    const { statusId } = fake.requests[1]!.response!.body as { statusId: string };
    expect(delivery).toEqual({
      duplicate: false,
      deliveryId: statusId,
      result: 'SENT',
      completedAt: expect.any(String),
    });

    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST ${UPSERT_PATH}`,
      `POST ${SEND_PATH}`,
      `GET ${statusPath(statusId)}`,
    ]);
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
      `[hubspot] scheduled → ada@acme.test: SENT (template 101, sendId ${sendId}, statusId ${statusId})`,
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
    expect(await notifier().send(message())).toMatchObject({ duplicate: false, result: 'SENT' });
    expect(await notifier().send(message({ subject: 'a retry' }))).toMatchObject({
      duplicate: true,
      result: 'IDEMPOTENT_IGNORE',
    });
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
    expect(await hubspot.send(message())).toMatchObject({ duplicate: true, result: 'IDEMPOTENT_IGNORE' });
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
    let last = '';
    const throttled = await failure(
      notifier().send(message({ key: 'k3' }), { progress: ({ deliveryId }) => (last = deliveryId) }),
    );
    expect(throttled).toBeInstanceOf(RetryLaterError);
    expect((throttled as RetryLaterError).retryAfterMs).toBe(60_000);
    // The activity's retry resumes from the heartbeated statusId (a throttled sendId is not sent again).
    expect(await notifier().send(message({ key: 'k3' }), { resumeDeliveryId: last })).toMatchObject({
      duplicate: false,
      result: 'SENT',
    });

    fake.injectFaults({ endpoint: 'send', sendResult: 'SOMETHING_NEW' });
    expect(await failure(notifier().send(message({ key: 'k4' })))).toBeInstanceOf(RequestRejectedError);

    fake.injectFaults({ endpoint: 'send', polls: ['PROCESSING'], sendResult: 'SENT' }); // still processing at first
    expect(await notifier().send(message({ key: 'k5' }))).toMatchObject({ duplicate: false, result: 'SENT' });

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
    fake.injectFaults({ endpoint: 'status', status: 400, body: { status: 'error', message: `Bearer ${fake.token}` } });
    await run(hubspot.send(message({ key: 'k-status' })));
    fake.injectFaults({ endpoint: 'send', status: 429, contentType: null, body: `token=${fake.token}` });
    await run(hubspot.send(message({ key: 'k-no-type' })));
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

// Issue 11: HubSpot decides a send asynchronously, and some 4xx answers mean "later", not "never".
describe('HubSpotNotifier: asynchronous sends and temporary refusals', () => {
  type Detail = { deliveryId: string; status: string };
  const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
  const BASE_SEND_ID = hubspotSendId(message().key);
  const sends = () => fake.requests.filter((r) => r.path === SEND_PATH);
  const upserts = () => fake.requests.filter((r) => r.path === UPSERT_PATH);
  const polls = () => fake.requests.filter((r) => r.method === 'GET' && r.path.startsWith(STATUS_PATH));
  const sendAnswer = (i = 0) => sends()[i]!.response!.body as { statusId: string; status: string; sendResult?: string };
  const sentSendIds = () => sends().map((r) => (r.body as { message: { sendId: string } }).message.sendId);
  const recorder = () => {
    const seen: Detail[] = [];
    return { seen, progress: (d: Detail) => void seen.push(d) };
  };

  it('polls a PENDING send with backoff until HubSpot says SENT, reporting progress with the statusId', async () => {
    fake.injectFaults({ endpoint: 'send', polls: ['PENDING', 'PROCESSING', 'PROCESSING'], sendResult: 'SENT' });
    const { seen, progress } = recorder();
    const delivery = await notifier({ pollInitialMs: 40, pollMaxMs: 100 }).send(message(), { progress });

    const answer = sendAnswer();
    expect(answer.status).toBe('PENDING');
    expect(answer.sendResult).toBeUndefined();
    expect(polls().map((r) => r.path)).toEqual(Array(4).fill(statusPath(answer.statusId)));
    for (const r of polls()) expect(r.headers.authorization).toBe(`Bearer ${fake.token}`);
    const last = polls().at(-1)!.response!.body as { status: string; sendResult: string; completedAt: string };
    expect(last).toMatchObject({ status: 'COMPLETE', sendResult: 'SENT' });
    expect(delivery).toEqual({
      duplicate: false,
      deliveryId: answer.statusId,
      result: 'SENT',
      completedAt: last.completedAt,
    });
    expect(delivery.completedAt).toMatch(ISO);
    expect(seen).toEqual([
      { deliveryId: answer.statusId, status: 'PENDING' }, // the send's own answer
      { deliveryId: answer.statusId, status: 'PENDING' },
      { deliveryId: answer.statusId, status: 'PROCESSING' },
      { deliveryId: answer.statusId, status: 'PROCESSING' },
      { deliveryId: answer.statusId, status: 'SENT' },
    ]);
    // Backoff: 40 ms, doubling, capped at 100 ms.
    const times = [sends()[0]!.at, ...polls().map((r) => r.at)];
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    [40, 80, 100, 100].forEach((want, i) => expect(gaps[i]).toBeGreaterThanOrEqual(want - 5));
    expect(fake.sentEmails).toHaveLength(1);
  });

  it('waits as long as the server takes to decide (by polls or by time)', async () => {
    for (const settings of [{ pollsBeforeResult: 2 }, { resultAfterMs: 150 }]) {
      const slow = await startFakeHubSpot({ emailIds: Object.values(TEMPLATES), ...settings });
      try {
        const started = Date.now();
        const delivery = await notifier({ accessToken: slow.token, basePath: slow.baseUrl }).send(message());
        expect(delivery).toMatchObject({ duplicate: false, result: 'SENT' });
        const answers = slow.requests
          .filter((r) => r.method === 'GET')
          .map((r) => (r.response!.body as { status: string }).status);
        if ('pollsBeforeResult' in settings) expect(answers).toEqual(['PENDING', 'PROCESSING', 'COMPLETE']);
        else {
          expect(Date.now() - started).toBeGreaterThanOrEqual(150);
          expect(answers.at(-1)).toBe('COMPLETE');
          expect(answers.slice(0, -1).every((a) => a === 'PENDING')).toBe(true);
        }
      } finally {
        await slow.close();
      }
    }
  });

  it('keeps polling while HubSpot says QUEUED (the email will send as the queue is processed)', async () => {
    fake.injectFaults({
      endpoint: 'send',
      polls: [
        { status: 'PROCESSING', sendResult: 'QUEUED' },
        { status: 'COMPLETE', sendResult: 'QUEUED' },
      ],
      sendResult: 'SENT',
    });
    const delivery = await notifier().send(message());
    expect(delivery).toMatchObject({ duplicate: false, result: 'SENT' });
    expect(polls()).toHaveLength(3);
  });

  it('is a RequestRejectedError naming the reason when HubSpot refuses the send after polling', async () => {
    const cases: [string, RegExp][] = [
      ['INVALID_TO_ADDRESS', /^HubSpot will not email ada@acme\.test: the address is not valid \(INVALID_TO_ADDRESS;/],
      ['PREVIOUSLY_BOUNCED', /mail to the address bounced before \(PREVIOUSLY_BOUNCED;/],
      ['GRAYMAIL_SUPPRESSED', /suppressed as unengaged \(graymail\) \(GRAYMAIL_SUPPRESSED;/],
      ['MISSING_TEMPLATE_PROPERTIES', /the template uses properties .* Fix transactional email 101 in HubSpot/],
      ['PORTAL_SUSPENDED', /the account is suspended \(PORTAL_SUSPENDED\)/],
    ];
    for (const [result, wording] of cases) {
      fake.injectFaults({ endpoint: 'send', polls: ['PENDING'], sendResult: result });
      const before = polls().length;
      const err = await failure(notifier().send(message({ key: `k-${result}` })));
      expect(err).toBeInstanceOf(RequestRejectedError);
      expect(err.message).toMatch(wording);
      expect(err.message).toContain(`statusId ${sendAnswer(sends().length - 1).statusId}`);
      expect(polls().length - before).toBe(2);
    }
    fake.injectFaults({ endpoint: 'send', polls: ['PENDING'], sendStatus: 'CANCELED', sendResult: null });
    const cancelled = await failure(notifier().send(message({ key: 'k-cancelled' })));
    expect(cancelled).toBeInstanceOf(RequestRejectedError);
    expect(cancelled.message).toMatch(/^HubSpot cancelled the scheduled notice to ada@acme\.test/);
    expect(fake.sentEmails).toHaveLength(0);
  });

  it("maps every status and sendResult of the SDK's enums", async () => {
    expect(Object.values(EmailSendStatusViewStatusEnum).sort()).toEqual(
      ['CANCELED', 'COMPLETE', 'PENDING', 'PROCESSING'].sort(),
    );
    for (const result of Object.values(EmailSendStatusViewSendResultEnum)) {
      fake.injectFaults({ endpoint: 'send', polls: ['PENDING', 'PROCESSING'], sendResult: result });
      const outcome = await notifier({ pollTimeoutMs: 300 })
        .send(message({ key: `k-${result}` }))
        .catch((err: Error) => err);
      const last = polls().at(-1)!.response!.body as { sendResult?: string };
      if (result === 'QUEUED') {
        // Not final: the fake leaves it QUEUED, so the adapter keeps polling until pollTimeoutMs.
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toMatch(/still QUEUED/);
        continue;
      }
      expect(last.sendResult).toBe(result);
      if (result === 'SENT') expect(outcome).toMatchObject({ duplicate: false, result });
      else if (result === 'IDEMPOTENT_IGNORE') expect(outcome).toMatchObject({ duplicate: true, result });
      else if (result === 'THROTTLED') expect(outcome).toBeInstanceOf(RetryLaterError);
      else {
        expect(outcome).toBeInstanceOf(RequestRejectedError);
        expect((outcome as Error).message).toContain(result);
        expect((outcome as Error).message).not.toMatch(/unrecognised sendResult/);
      }
    }
  });

  it("resumes from an earlier attempt's statusId without sending (or upserting) again", async () => {
    fake.injectFaults({ endpoint: 'send', polls: ['PENDING', 'PENDING', 'PROCESSING'], sendResult: 'SENT' });
    const abort = new AbortController();
    const first = recorder();
    const attempt1 = await failure(
      notifier().send(message(), {
        signal: abort.signal,
        progress: (d) => {
          first.progress(d);
          if (first.seen.length === 2) abort.abort(new Error('activity cancelled'));
        },
      }),
    );
    expect(attempt1.message).toBe('activity cancelled');
    const statusId = first.seen.at(-1)!.deliveryId;
    expect(statusId).toBe(sendAnswer().statusId);

    const second = recorder();
    const delivery = await notifier().send(message(), { resumeDeliveryId: statusId, progress: second.progress });
    expect(delivery).toEqual({
      duplicate: true,
      deliveryId: statusId,
      result: 'SENT',
      completedAt: expect.any(String),
    });
    expect(sends()).toHaveLength(1);
    expect(upserts()).toHaveLength(1);
    expect(fake.sentEmails).toHaveLength(1);
    expect(second.seen.every((d) => d.deliveryId === statusId)).toBe(true);
  });

  it('falls back to sending with the same sendId when HubSpot does not know the statusId (404)', async () => {
    const delivery = await notifier().send(message(), { resumeDeliveryId: 'no-such-status' });
    const [lookup] = fake.requests;
    expect(lookup).toMatchObject({ method: 'GET', path: statusPath('no-such-status') });
    expect(lookup!.response).toMatchObject({
      status: 404,
      body: { status: 'error', category: 'OBJECT_NOT_FOUND', correlationId: expect.any(String) },
    });
    expect(delivery).toMatchObject({ duplicate: false, deliveryId: sendAnswer().statusId, result: 'SENT' });
    expect(sentSendIds()).toEqual([BASE_SEND_ID]);
  });

  it('stops promptly when aborted while waiting to poll, or while a poll is in flight', async () => {
    fake.injectFaults({ endpoint: 'send', polls: Array(100).fill('PENDING'), sendResult: 'SENT' });
    const waiting = new AbortController();
    const reason = new Error('activity cancelled');
    let started = 0;
    const err = await failure(
      notifier({ pollInitialMs: 5_000, pollMaxMs: 5_000 }).send(message(), {
        signal: waiting.signal,
        progress: () => {
          started = Date.now();
          setTimeout(() => waiting.abort(reason), 50);
        },
      }),
    );
    expect(err).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(polls()).toHaveLength(0);

    fake.injectFaults({ endpoint: 'status', delayMs: 5_000 });
    const inFlight = new AbortController();
    const t0 = Date.now();
    setTimeout(() => inFlight.abort(reason), 200);
    const err2 = await failure(notifier().send(message({ key: 'k-2' }), { signal: inFlight.signal }));
    expect(err2).toBe(reason);
    expect(Date.now() - t0).toBeLessThan(1_500);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(polls().at(-1)!.aborted).toBe(true);

    const count = fake.requests.length;
    const already = new AbortController();
    already.abort(reason);
    expect(await failure(notifier().send(message({ key: 'k-3' }), { signal: already.signal }))).toBe(reason);
    expect(fake.requests).toHaveLength(count);
  });

  it('treats 423 Locked as retry-later after at least 2 s', async () => {
    fake.injectFaults({ endpoint: 'upsert', status: 423 });
    const locked = await failure(notifier().send(message()));
    expect(locked).toBeInstanceOf(RetryLaterError);
    expect((locked as RetryLaterError).retryAfterMs).toBe(2_000);
    expect(locked.message).toMatch(/^HubSpot contact upsert .*: 423/);

    fake.injectFaults({ endpoint: 'send', status: 423, retryAfter: '5' });
    expect(((await failure(notifier().send(message()))) as RetryLaterError).retryAfterMs).toBe(5_000);
    fake.injectFaults({ endpoint: 'send', status: 423, retryAfter: '1' });
    expect(((await failure(notifier().send(message()))) as RetryLaterError).retryAfterMs).toBe(2_000);
  });

  it('treats 477 Migration in Progress as retry-later after its Retry-After, at most a day', async () => {
    fake.injectFaults({ endpoint: 'send', status: 477, retryAfter: '3600' });
    const migrating = await failure(notifier().send(message()));
    expect(migrating).toBeInstanceOf(RetryLaterError);
    expect((migrating as RetryLaterError).retryAfterMs).toBe(3_600_000);
    expect(migrating.message).toMatch(/: 477/);

    fake.injectFaults({ endpoint: 'send', status: 477, retryAfter: String(3 * 24 * 3600) });
    expect(((await failure(notifier().send(message()))) as RetryLaterError).retryAfterMs).toBe(86_400_000);
    fake.injectFaults({ endpoint: 'upsert', status: 477, retryAfter: null });
    expect(((await failure(notifier().send(message()))) as RetryLaterError).retryAfterMs).toBe(3_600_000);
  });

  it('waits an hour after a 429 of the DAILY policy, not the 10 s window', async () => {
    fake.injectFaults({ endpoint: 'send', status: 429, policyName: 'DAILY' });
    const daily = await failure(notifier().send(message()));
    const response = sends()[0]!.response!;
    expect(response.headers['x-hubspot-ratelimit-interval-milliseconds']).toBe('10000');
    expect(response.headers['x-hubspot-ratelimit-daily-remaining']).toBe('0');
    expect(response.headers['retry-after']).toBeUndefined();
    expect(daily).toBeInstanceOf(RetryLaterError);
    expect((daily as RetryLaterError).retryAfterMs).toBe(3_600_000);
    expect(daily.message).toMatch(/429 DAILY: You have reached your daily limit\./);

    fake.injectFaults({ endpoint: 'send', status: 429, policyName: 'DAILY' });
    const configured = await failure(notifier({ dailyLimitRetryMs: 20 * 60_000 }).send(message()));
    expect((configured as RetryLaterError).retryAfterMs).toBe(20 * 60_000);
  });

  it("waits a 429's X-HubSpot-RateLimit-Interval-Milliseconds window when it has no Retry-After", async () => {
    fake.injectFaults({
      endpoint: 'send',
      status: 429,
      retryAfter: null,
      headers: { 'X-HubSpot-RateLimit-Interval-Milliseconds': '4000' },
    });
    const secondly = await failure(notifier().send(message()));
    expect(secondly).toBeInstanceOf(RetryLaterError);
    expect((secondly as RetryLaterError).retryAfterMs).toBe(4_000);
    expect(secondly.message).toMatch(/429 TEN_SECONDLY_ROLLING/);

    fake.injectFaults({ endpoint: 'send', status: 429, retryAfter: '7' });
    expect(((await failure(notifier().send(message()))) as RetryLaterError).retryAfterMs).toBe(7_000);
  });

  it('classifies an answer without a content type by its HTTP status', async () => {
    fake.injectFaults({ endpoint: 'send', status: 503, contentType: null, body: 'Service Unavailable' });
    const unavailable = await failure(notifier().send(message()));
    expect(sends()[0]!.response!.headers['content-type']).toBeUndefined();
    expect(unavailable.constructor).toBe(Error);
    expect(unavailable.message).toMatch(/^HubSpot email send .* failed: 503: Service Unavailable$/);

    fake.injectFaults({ endpoint: 'send', status: 429, contentType: null, retryAfter: '3' });
    const limited = await failure(notifier().send(message()));
    expect(limited).toBeInstanceOf(RetryLaterError);
    expect((limited as RetryLaterError).retryAfterMs).toBe(3_000);
    expect(limited.message).toMatch(/429 TEN_SECONDLY_ROLLING/); // the JSON body is still read

    fake.injectFaults({ endpoint: 'upsert', status: 400, contentType: null });
    const rejected = await failure(notifier().send(message()));
    expect(rejected).toBeInstanceOf(RequestRejectedError);
    expect(rejected.message).toMatch(/^HubSpot rejected contact upsert .*: 400 VALIDATION_ERROR: Invalid input/);

    fake.injectFaults({ endpoint: 'status', status: 503, contentType: null, body: '' });
    const polling = await failure(notifier().send(message()));
    expect(polling.constructor).toBe(Error);
    expect(polling.message).toMatch(/send status \(GET \/marketing\/v3\/email\/send-statuses\/[\w-]+\) failed: 503$/);
  });

  it('classifies a failed status poll like any request, having reported the statusId first', async () => {
    const hubspot = notifier();
    jest.spyOn(console, 'error').mockImplementation(() => {}); // the SDK logs its retries
    try {
      // A Client built later asks for SDK retries: apiRequest would apply them at each call.
      new Client({ accessToken: 'other', basePath: fake.baseUrl, numberOfApiCallRetries: 3 });
      fake.injectFaults({ endpoint: 'status', status: 502 });
      const { seen, progress } = recorder();
      const err = await failure(hubspot.send(message(), { progress }));
      expect(err.constructor).toBe(Error);
      expect(err.message).toBe(
        `HubSpot send status (GET ${statusPath(sendAnswer().statusId)}) failed: 502: internal error` +
          ` (correlationId ${(polls()[0]!.response!.body as { correlationId: string }).correlationId})`,
      );
      expect(seen).toEqual([{ deliveryId: sendAnswer().statusId, status: 'PENDING' }]);
      expect(polls()).toHaveLength(1);
    } finally {
      jest.restoreAllMocks();
    }

    fake.injectFaults({ endpoint: 'status', status: 429, retryAfter: '4' });
    const limited = await failure(notifier().send(message(), { resumeDeliveryId: sendAnswer().statusId }));
    expect((limited as RetryLaterError).retryAfterMs).toBe(4_000);

    fake.injectFaults({ endpoint: 'status', status: 401 });
    expect(await failure(notifier().send(message(), { resumeDeliveryId: sendAnswer().statusId }))).toBeInstanceOf(
      RequestRejectedError,
    );
  });

  it('gives up waiting after pollTimeoutMs with a retryable error naming the statusId', async () => {
    fake.injectFaults({ endpoint: 'send', sendResult: null }); // HubSpot never decides
    const err = await failure(notifier({ pollTimeoutMs: 150 }).send(message()));
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(
      new RegExp(`^HubSpot send ${sendAnswer().statusId} is still PENDING after \\d+ ms; the retry resumes it`),
    );
  });

  it('does not poll a send HubSpot answered with its final result at once', async () => {
    fake.injectFaults({ endpoint: 'send', immediate: true, sendResult: 'SENT' });
    const delivery = await notifier().send(message());
    expect(delivery).toMatchObject({ duplicate: false, result: 'SENT', deliveryId: sendAnswer().statusId });
    expect(polls()).toHaveLength(0);
  });

  it('retries a THROTTLED send later with a new sendId derived from the throttled statusId', async () => {
    fake.injectFaults({ endpoint: 'send', polls: ['PENDING'], sendResult: 'THROTTLED' });
    const first = recorder();
    const throttled = await failure(notifier().send(message(), { progress: first.progress }));
    expect(throttled).toBeInstanceOf(RetryLaterError);
    expect((throttled as RetryLaterError).retryAfterMs).toBe(60_000);
    const throttledStatusId = first.seen.at(-1)!.deliveryId;
    expect(first.seen.at(-1)).toEqual({ deliveryId: throttledStatusId, status: 'THROTTLED' });

    // The activity's retry: it resumes from the heartbeated statusId, sees THROTTLED, sends under a new sendId.
    const retried = await notifier().send(message(), { resumeDeliveryId: throttledStatusId });
    const newSendId = throttledSendId(BASE_SEND_ID, throttledStatusId);
    expect(newSendId).not.toBe(BASE_SEND_ID);
    expect(sentSendIds()).toEqual([BASE_SEND_ID, newSendId]);
    expect(retried).toMatchObject({ duplicate: false, result: 'SENT', deliveryId: sendAnswer(1).statusId });
    expect(fake.sentEmails.map((e) => e.sendId)).toEqual([newSendId]);

    // A retry that lost that attempt's heartbeat resumes from the throttled statusId again: same new sendId, no
    // second email.
    const again = await notifier().send(message(), { resumeDeliveryId: throttledStatusId });
    expect(sentSendIds()).toEqual([BASE_SEND_ID, newSendId, newSendId]);
    expect(again).toMatchObject({ duplicate: true, result: 'IDEMPOTENT_IGNORE' });
    expect(fake.sentEmails).toHaveLength(1);

    // Why not reuse the throttled sendId: the fake (like HubSpot, as far as its docs let us tell) has spent it.
    const reused = await failure(notifier().send(message()));
    expect(reused).toBeInstanceOf(RequestRejectedError);
    expect(reused.message).toMatch(/IDEMPOTENT_FAIL/);
  });

  it('derives throttled-retry sendIds that are stable, distinct and safe', () => {
    const long = hubspotSendId(`upgrade/${'x'.repeat(500)}`);
    for (const base of [BASE_SEND_ID, long, 'plain-key_1.2']) {
      const a = throttledSendId(base, 'status-a');
      expect(a).toBe(throttledSendId(base, 'status-a'));
      expect(a).not.toBe(throttledSendId(base, 'status-b'));
      expect(a).not.toBe(base);
      expect(a).toMatch(/^[A-Za-z0-9._-]+$/);
      expect(a.length).toBeLessThanOrEqual(97);
    }
    expect(throttledSendId(long, 's')).not.toBe(throttledSendId(`${long}y`, 's'));
  });
});
