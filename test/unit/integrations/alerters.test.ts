import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../../activities/errors';
import { RequestRejectedError, RetryLaterError, type AlertOptions, type AlerterPort } from '../../../activities/ports';
import type { SreAlert } from '../../../domain/model';
import { FanoutAlerter } from '../../../integrations/fanoutAlerter';
import { LogAlerter } from '../../../integrations/logAlerter';
import {
  boundPagerDutyEvent,
  PagerDutyAlerter,
  pagerDutyDedupKey,
  retryAfterMs,
  type PagerDutyTriggerEvent,
} from '../../../integrations/pagerDutyAlerter';
import { formatSlackText, SlackAlerter } from '../../../integrations/slackAlerter';
import {
  startFakePagerDuty,
  startFakeSlack,
  type FakePagerDuty,
  type FakeSlack,
  type RecordedRequest,
} from '../../helpers/fakeAlertReceivers';
import { closedPort, sleep } from './fixtures';

const routingKey = randomBytes(16).toString('hex');
/** A well-formed key that the fake PagerDuty does not know. */
const unknownRoutingKey = randomBytes(16).toString('hex');
const temporalUi = { baseUrl: 'http://temporal-ui.test:8080/', namespace: 'nightshift' };
const workflowLink = 'http://temporal-ui.test:8080/namespaces/nightshift/workflows/upgrade%2Fcp-acme%2Flts-5.8.2';

const alert = (over: Partial<SreAlert> = {}): SreAlert => ({
  dedupKey: 'nightshift/cp-acme/lts-5.8.2',
  action: 'trigger',
  severity: 'critical',
  summary: 'Rollback of cp-acme failed: gateway still on 5.8.2',
  controlPlaneId: 'cp-acme',
  releaseId: 'lts-5.8.2',
  workflowId: 'upgrade/cp-acme/lts-5.8.2',
  details: { component: 'gateway', attempt: 3 },
  ...over,
});
const resolveOf = (a: SreAlert): SreAlert => ({ ...a, action: 'resolve', summary: 'cp-acme is healthy again' });

let pd: FakePagerDuty;
let slack: FakeSlack;
/** Every error a test caught; afterEach checks none of them shows a secret. */
let caughtErrors: unknown[] = [];

beforeEach(async () => {
  [pd, slack] = await Promise.all([startFakePagerDuty({ routingKeys: [routingKey] }), startFakeSlack()]);
  caughtErrors = [];
});

afterEach(async () => {
  await Promise.all([pd.close(), slack.close()]);
  const secrets = [routingKey, unknownRoutingKey, slack.secret, slack.url];
  for (const err of caughtErrors) {
    const e = err as Error;
    const shown = `${e.message}\n${e.stack}\n${inspect(err, { depth: 5 })}\n${JSON.stringify(err)}`;
    for (const secret of secrets) expect(shown).not.toContain(secret);
  }
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    caughtErrors.push(err);
    expect(err).toBeInstanceOf(Error);
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const pagerDuty = (extra: Partial<ConstructorParameters<typeof PagerDutyAlerter>[0]> = {}) =>
  new PagerDutyAlerter({ routingKey, baseUrl: pd.url, temporalUi, ...extra });
const slackAlerter = (extra: Partial<ConstructorParameters<typeof SlackAlerter>[0]> = {}) =>
  new SlackAlerter({ webhookUrl: slack.url, temporalUi, ...extra });

describe('PagerDutyAlerter', () => {
  it('triggers and resolves one incident per upgrade with the same dedup_key', async () => {
    const alerter = pagerDuty();
    expect(alerter.channel).toBe('pagerduty');
    const trigger = alert();
    await alerter.alert(trigger);
    expect(pd.incidents.get(trigger.dedupKey)).toBe('triggered');
    await alerter.alert(resolveOf(trigger));

    expect(pd.requests.map((r) => [r.method, r.path, r.headers['content-type']])).toEqual([
      ['POST', '/v2/enqueue', 'application/json'],
      ['POST', '/v2/enqueue', 'application/json'],
    ]);
    expect(pd.accepted).toEqual([
      {
        routing_key: routingKey,
        event_action: 'trigger',
        dedup_key: 'nightshift/cp-acme/lts-5.8.2',
        payload: {
          summary: 'Rollback of cp-acme failed: gateway still on 5.8.2',
          source: 'nightshift',
          severity: 'critical',
          component: 'cp-acme',
          group: 'lts-5.8.2',
          class: 'tyk-upgrade',
          custom_details: { component: 'gateway', attempt: 3, workflowId: 'upgrade/cp-acme/lts-5.8.2' },
        },
        links: [{ href: workflowLink, text: 'Workflow upgrade/cp-acme/lts-5.8.2' }],
      },
      // A resolve carries only what identifies the incident.
      { routing_key: routingKey, event_action: 'resolve', dedup_key: 'nightshift/cp-acme/lts-5.8.2' },
    ]);
    expect(pd.incidents.get(trigger.dedupKey)).toBe('resolved');
  });

  it('sends a repeated trigger again and lets PagerDuty de-duplicate it', async () => {
    const alerter = pagerDuty({ temporalUi: undefined, source: 'nightshift-eu', eventClass: 'upgrade' });
    await alerter.alert(alert({ severity: 'warning' }));
    await alerter.alert(alert({ severity: 'warning' }));
    expect(pd.accepted).toHaveLength(2);
    expect(new Set(pd.accepted.map((e) => e.dedup_key))).toEqual(new Set(['nightshift/cp-acme/lts-5.8.2']));
    expect(pd.accepted[0]).not.toHaveProperty('links');
    expect(pd.accepted[0]!.payload).toMatchObject({ source: 'nightshift-eu', class: 'upgrade', severity: 'warning' });
  });

  it('truncates the summary to 1024 characters and keeps long dedup keys stable within 255', async () => {
    const longKey = `nightshift/${'cp-with-a-very-long-name-'.repeat(12)}/lts-5.8.2`;
    const trigger = alert({ summary: `Health check failed: ${'x'.repeat(2000)}`, dedupKey: longKey });
    const alerter = pagerDuty();
    await alerter.alert(trigger);
    await alerter.alert(resolveOf(trigger));

    const [sentTrigger, sentResolve] = pd.accepted as { dedup_key: string; payload?: Record<string, unknown> }[];
    const summary = sentTrigger!.payload!.summary as string;
    expect(summary).toHaveLength(1024);
    expect(summary.startsWith('Health check failed: xxx')).toBe(true);
    expect(summary.endsWith('x…')).toBe(true);
    expect(sentTrigger!.dedup_key).toHaveLength(255);
    expect(sentResolve!.dedup_key).toBe(sentTrigger!.dedup_key);
    expect(sentTrigger!.dedup_key).toBe(pagerDutyDedupKey(longKey));
    expect(pagerDutyDedupKey(`${longKey}-other`)).not.toBe(sentTrigger!.dedup_key);
    expect(sentTrigger!.payload!.custom_details).toMatchObject({ dedupKey: longKey });
    expect(pd.incidents.get(sentTrigger!.dedup_key)).toBe('resolved');
  });

  it('turns a 400 into RequestRejectedError with PagerDuty message and errors', async () => {
    const wrongKey = new PagerDutyAlerter({ routingKey: 'too-short', baseUrl: pd.url });
    const err = await rejection(wrongKey.alert(alert()));
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toBe(
      'PagerDuty rejected the trigger for cp-acme (dedup nightshift/cp-acme/lts-5.8.2): 400 Event object is ' +
        "invalid: Length of 'routing_key' is incorrect (should be 32 characters)",
    );

    const unknownKey = new PagerDutyAlerter({ routingKey: unknownRoutingKey, baseUrl: pd.url });
    expect((await rejection(unknownKey.alert(alert()))).message).toContain('Invalid routing key');

    const failure = toFailure(err) as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.nonRetryable).toBe(true);
    expect(pd.accepted).toEqual([]);
  });

  it('quotes a 4xx body that is not PagerDuty JSON, redacting the routing key if echoed', async () => {
    pd.failNext({ status: 400, body: `bad key ${routingKey}` });
    const err = await rejection(pagerDuty().alert(alert()));
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toContain('400 "bad key [routing key]"');
  });

  it("turns a 429 into RetryLaterError with Retry-After's delay, or 30 s without one", async () => {
    const alerter = pagerDuty();
    pd.failNext({ status: 429, retryAfter: '7' });
    const err = await rejection(alerter.alert(alert()));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBe(7000);
    expect((toFailure(err) as ApplicationFailure).nextRetryDelay).toBe(7000);

    pd.failNext({ status: 429 });
    expect(((await rejection(alerter.alert(alert()))) as RetryLaterError).retryAfterMs).toBe(30_000);

    await alerter.alert(alert());
    expect(pd.accepted).toHaveLength(1);
  });

  it('parses Retry-After as seconds or an HTTP date, within 1 s and 5 min', () => {
    const now = Date.parse('2026-05-01T10:00:00Z');
    expect(retryAfterMs('12', 30_000, now)).toBe(12_000);
    expect(retryAfterMs('Fri, 01 May 2026 10:00:20 GMT', 30_000, now)).toBe(20_000);
    expect(retryAfterMs('0', 30_000, now)).toBe(1000);
    expect(retryAfterMs('86400', 30_000, now)).toBe(300_000);
    expect(retryAfterMs('soon', 30_000, now)).toBe(30_000);
    expect(retryAfterMs(null, 30_000, now)).toBe(30_000);
  });

  it('leaves a 500 and a refused connection retryable', async () => {
    const alerter = pagerDuty();
    pd.failNext({ status: 500, body: 'upstream exploded' });
    const err = await rejection(alerter.alert(alert()));
    expect(err).not.toBeInstanceOf(RequestRejectedError);
    expect(err).not.toBeInstanceOf(RetryLaterError);
    expect(err.message).toContain('PagerDuty answered 500 to the trigger for cp-acme');
    expect(err.message).toContain('"upstream exploded"');
    expect(toFailure(err)).toBe(err);

    await alerter.alert(alert());
    expect(pd.accepted).toHaveLength(1);

    const closed = `http://127.0.0.1:${await closedPort()}`;
    const refused = await rejection(new PagerDutyAlerter({ routingKey, baseUrl: closed }).alert(alert()));
    expect(refused.constructor).toBe(Error);
    expect(refused.message).toContain(`POST ${closed}/v2/enqueue failed: ECONNREFUSED`);
  });

  it('gives up on a receiver that never answers after the timeout, retryably', async () => {
    pd.failNext({ hang: true });
    const started = Date.now();
    const err = await rejection(pagerDuty({ timeoutMs: 200 }).alert(alert()));
    expect(err.constructor).toBe(Error);
    expect(err.message).toBe(
      'PagerDuty trigger for cp-acme (dedup nightshift/cp-acme/lts-5.8.2): ' +
        `no answer from ${pd.url}/v2/enqueue within 200 ms`,
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('keeps the routing key out of inspect, JSON and construction errors', () => {
    const alerter = pagerDuty();
    expect(inspect(alerter, { depth: 5 })).not.toContain(routingKey);
    expect(JSON.stringify(alerter)).not.toContain(routingKey);
    expect(() => new PagerDutyAlerter({ routingKey: '  ' })).toThrow('PagerDuty routing key is empty');
  });
});

describe('SlackAlerter', () => {
  it('posts severity, control plane, release, summary and the workflow link, then a resolved message', async () => {
    const alerter = slackAlerter();
    expect(alerter.channel).toBe('slack');
    await alerter.alert(alert());
    await alerter.alert(resolveOf(alert()));
    expect(slack.requests.map((r) => [r.method, r.headers['content-type']])).toEqual([
      ['POST', 'application/json'],
      ['POST', 'application/json'],
    ]);
    expect(slack.posted.map((m) => m.text)).toEqual([
      [
        'CRITICAL | control plane cp-acme | release lts-5.8.2',
        'Rollback of cp-acme failed: gateway still on 5.8.2',
        `Workflow: <${workflowLink}|upgrade/cp-acme/lts-5.8.2> (Temporal UI)`,
      ].join('\n'),
      [
        'RESOLVED (was CRITICAL) | control plane cp-acme | release lts-5.8.2',
        'cp-acme is healthy again',
        `Workflow: <${workflowLink}|upgrade/cp-acme/lts-5.8.2> (Temporal UI)`,
      ].join('\n'),
    ]);
  });

  it('names the workflow without a Temporal UI and escapes mrkdwn control characters', () => {
    const text = formatSlackText(alert({ severity: 'warning', summary: 'p99 > 2s & <rising>' }));
    expect(text).toBe(
      [
        'WARNING | control plane cp-acme | release lts-5.8.2',
        'p99 &gt; 2s &amp; &lt;rising&gt;',
        'Workflow: upgrade/cp-acme/lts-5.8.2',
      ].join('\n'),
    );
    expect(text).not.toMatch(/:[a-z_]+:/);
  });

  it('posts a trigger once per process, even when retried or sent concurrently', async () => {
    const alerter = slackAlerter();
    await Promise.all([alerter.alert(alert()), alerter.alert(alert())]);
    await alerter.alert(alert());
    expect(slack.posted).toHaveLength(1);

    slack.failNext({ status: 500, body: 'rollup_error' });
    const other = alert({ dedupKey: 'nightshift/cp-beta/lts-5.8.2', controlPlaneId: 'cp-beta' });
    const err = await rejection(alerter.alert(other));
    expect(err.constructor).toBe(Error);
    expect(err.message).toContain('answered 500');
    expect(err.message).toContain('rollup_error');
    await alerter.alert(other);
    await alerter.alert(other);
    await alerter.alert(resolveOf(other));
    expect(slack.posted.map((m) => m.text!.split('\n')[0])).toEqual([
      'CRITICAL | control plane cp-acme | release lts-5.8.2',
      'CRITICAL | control plane cp-beta | release lts-5.8.2',
      'RESOLVED (was CRITICAL) | control plane cp-beta | release lts-5.8.2',
    ]);
  });

  it('forgets the oldest delivered keys beyond its bound (so another retry posts again)', async () => {
    const alerter = slackAlerter({ rememberDelivered: 2 });
    for (const key of ['a', 'b', 'c', 'a']) await alerter.alert(alert({ dedupKey: key }));
    expect(slack.posted).toHaveLength(4);
    await alerter.alert(alert({ dedupKey: 'a' }));
    await alerter.alert(alert({ dedupKey: 'c' }));
    expect(slack.posted).toHaveLength(4);
  });

  it.each([
    [400, 'invalid_payload'],
    [403, 'action_prohibited'],
    [404, 'no_team'],
    [410, 'channel_is_archived'],
  ] as const)('turns %i %s into RequestRejectedError naming the error', async (status, error) => {
    slack.failNext({ status, body: error });
    const err = await rejection(slackAlerter().alert(alert()));
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toBe(
      `the Slack webhook at ${new URL(slack.url).host} rejected the trigger for cp-acme ` +
        `(dedup nightshift/cp-acme/lts-5.8.2): ${status} ${error}`,
    );
    expect(slack.posted).toEqual([]);
  });

  it('is rejected with no_service by a webhook URL that does not exist, without printing the URL', async () => {
    const revoked = new SlackAlerter({ webhookUrl: `${new URL(slack.url).origin}/services/T1/B1/revoked-secret` });
    const err = await rejection(revoked.alert(alert()));
    expect(err).toBeInstanceOf(RequestRejectedError);
    expect(err.message).toMatch(/: 404 no_service$/);
    expect(err.message).not.toContain('revoked-secret');
  });

  it('does not follow a redirect, which would send the message elsewhere', async () => {
    const elsewhere = await startFakeSlack();
    try {
      slack.failNext({ status: 307, location: elsewhere.url });
      const err = await rejection(slackAlerter().alert(alert()));
      expect(err).toBeInstanceOf(RequestRejectedError);
      expect(err.message).toMatch(/answered 307 to the trigger for cp-acme .*: a redirect, not followed$/);
      expect(elsewhere.requests).toEqual([]);

      pd.failNext({ status: 308, location: `${elsewhere.url}/v2/enqueue` });
      expect(await rejection(pagerDuty().alert(alert()))).toBeInstanceOf(RequestRejectedError);
      expect(elsewhere.requests).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  });

  it('turns a 429 into RetryLaterError with its Retry-After', async () => {
    slack.failNext({ status: 429, retryAfter: '3' });
    const alerter = slackAlerter();
    const err = await rejection(alerter.alert(alert()));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBe(3000);
    await alerter.alert(alert());
    expect(slack.posted).toHaveLength(1);
  });

  it('gives up on a webhook that never answers after the timeout, retryably, naming only the host', async () => {
    slack.failNext({ hang: true });
    const err = await rejection(slackAlerter({ timeoutMs: 200 }).alert(alert()));
    expect(err.constructor).toBe(Error);
    expect(err.message).toBe(
      'Slack trigger for cp-acme (dedup nightshift/cp-acme/lts-5.8.2): no answer from the webhook at ' +
        `${new URL(slack.url).host} within 200 ms`,
    );
  });

  it('keeps the webhook URL out of refused connections, inspect and construction errors', async () => {
    const port = await closedPort();
    const secretUrl = `http://127.0.0.1:${port}/services/T1/B1/${slack.secret}`;
    const refused = await rejection(new SlackAlerter({ webhookUrl: secretUrl }).alert(alert()));
    expect(refused.message).toContain(`POST to the webhook at 127.0.0.1:${port} failed: ECONNREFUSED`);

    expect(inspect(slackAlerter(), { depth: 5 })).not.toContain(slack.secret);
    const invalid = (() => {
      try {
        new SlackAlerter({ webhookUrl: `hooks.slack.com/services/${slack.secret}` });
      } catch (err) {
        caughtErrors.push(err);
        return err as Error;
      }
      throw new Error('expected the constructor to throw');
    })();
    expect(invalid.message).toBe('Slack webhook URL is not a valid URL');
  });
});

describe('FanoutAlerter', () => {
  function fanout(lines: string[] = [], extra: { pagerMin?: SreAlert['severity'] } = {}) {
    return new FanoutAlerter([
      { alerter: new LogAlerter({ log: (line) => lines.push(line) }) },
      { alerter: pagerDuty(), ...(extra.pagerMin ? { minSeverity: extra.pagerMin } : {}) },
      { alerter: slackAlerter() },
    ]);
  }

  it('sends to every target and is named after them', async () => {
    const lines: string[] = [];
    const alerter = fanout(lines);
    expect(alerter.channel).toBe('log+pagerduty+slack');
    await alerter.alert(alert());
    await alerter.alert(resolveOf(alert()));
    expect(lines).toHaveLength(2);
    expect(pd.accepted.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(slack.posted).toHaveLength(2);
  });

  it('sends to the targets concurrently', async () => {
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stub = (channel: string): AlerterPort => ({
      channel,
      alert: async () => {
        started.push(channel);
        await gate;
      },
    });
    const sending = new FanoutAlerter([{ alerter: stub('a') }, { alerter: stub('b') }]).alert(alert());
    expect(started).toEqual(['a', 'b']);
    release();
    await sending;
  });

  it('re-sends only to the target that failed when the activity retries', async () => {
    const lines: string[] = [];
    const alerter = fanout(lines);
    slack.failNext({ status: 503, body: 'service unavailable' });
    const err = await rejection(alerter.alert(alert()));
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(
      /^trigger nightshift\/cp-acme\/lts-5\.8\.2 not delivered to slack \(delivered to log, pagerduty\): slack: the Slack webhook at .* answered 503/,
    );

    await alerter.alert(alert());
    expect(lines).toHaveLength(1);
    expect(pd.requests).toHaveLength(1);
    expect(slack.requests).toHaveLength(2);
    expect(slack.posted).toHaveLength(1);

    await alerter.alert(alert());
    expect(pd.requests).toHaveLength(1);
    expect(slack.requests).toHaveLength(2);
  });

  it('pages only for error and above by default, and routes the resolve the same way', async () => {
    const lines: string[] = [];
    const alerter = fanout(lines);
    const warning = alert({ severity: 'warning', dedupKey: 'nightshift/cp-acme/lts-5.8.2/bake' });
    await alerter.alert(warning);
    await alerter.alert(resolveOf(warning));
    const error = alert({ severity: 'error' });
    await alerter.alert(error);
    await alerter.alert(resolveOf(error));

    expect(lines).toHaveLength(4);
    expect(slack.posted).toHaveLength(4);
    expect(pd.accepted.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', 'nightshift/cp-acme/lts-5.8.2'],
      ['resolve', 'nightshift/cp-acme/lts-5.8.2'],
    ]);
  });

  it('takes a minSeverity per target', async () => {
    const alerter = fanout([], { pagerMin: 'critical' });
    await alerter.alert(alert({ severity: 'error' }));
    expect(pd.requests).toHaveLength(0);
    await alerter.alert(alert({ severity: 'critical', dedupKey: 'other' }));
    expect(pd.accepted).toHaveLength(1);

    const everything = new FanoutAlerter([{ alerter: pagerDuty(), minSeverity: 'info' }]);
    await everything.alert(alert({ severity: 'info', dedupKey: 'info-key' }));
    expect(pd.accepted).toHaveLength(2);
  });

  it('hands an alert no target admits to onUnrouted instead of dropping it silently', async () => {
    const unrouted: string[] = [];
    const pagerOnly = new FanoutAlerter([{ alerter: pagerDuty() }], { onUnrouted: (a) => unrouted.push(a.severity) });
    await pagerOnly.alert(alert({ severity: 'warning', dedupKey: 'warn-key' }));
    expect(pd.requests).toHaveLength(0);
    expect(unrouted).toEqual(['warning']);
  });

  it('throws RetryLaterError with the longest delay when any target asks to come back later', async () => {
    const alerter = fanout();
    pd.failNext({ status: 429, retryAfter: '5' });
    slack.failNext({ status: 429, retryAfter: '20' });
    const err = await rejection(alerter.alert(alert()));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBe(20_000);
    expect(err.message).toContain('pagerduty: ');
    expect(err.message).toContain('slack: ');

    pd.failNext({ status: 500 });
    slack.failNext({ status: 429, retryAfter: '2' });
    const mixed = await rejection(alerter.alert(alert()));
    expect(mixed).toBeInstanceOf(RetryLaterError);
    expect((mixed as RetryLaterError).retryAfterMs).toBe(2000);

    await alerter.alert(alert());
    expect(pd.accepted).toHaveLength(1);
    expect(slack.posted).toHaveLength(1);
  });

  it('is rejected for good only when every failure is a rejection, without asking rejecters again', async () => {
    const alerter = new FanoutAlerter([
      { alerter: new PagerDutyAlerter({ routingKey: unknownRoutingKey, baseUrl: pd.url }) },
      { alerter: slackAlerter() },
    ]);
    slack.failNext({ status: 500 });
    const first = await rejection(alerter.alert(alert()));
    expect(first.constructor).toBe(Error);
    expect(first.message).toContain('pagerduty: PagerDuty rejected');
    expect(first.message).toContain('Invalid routing key');

    const second = await rejection(alerter.alert(alert()));
    expect(second).toBeInstanceOf(RequestRejectedError);
    expect(second.message).toMatch(/^trigger .* not delivered to pagerduty \(delivered to slack\): pagerduty: /);
    expect(pd.requests).toHaveLength(1);
    expect(slack.posted).toHaveLength(1);

    slack.failNext({ status: 410, body: 'channel_is_archived' });
    const both = await rejection(alerter.alert(alert({ dedupKey: 'k2' })));
    expect(both).toBeInstanceOf(RequestRejectedError);
    expect(both.message).toContain('channel_is_archived');
  });

  it('tells two targets on one channel apart', () => {
    const alerter = new FanoutAlerter([{ alerter: slackAlerter() }, { alerter: slackAlerter(), name: 'slack-sre' }]);
    expect(alerter.channel).toBe('slack+slack-sre');
    expect(new FanoutAlerter([{ alerter: slackAlerter() }, { alerter: slackAlerter() }]).channel).toBe('slack+slack#2');
    expect(() => new FanoutAlerter([])).toThrow('at least one target');
  });
});

/** PagerDuty's documented event size limit, 512 KB, read as 512,000 bytes (the stricter reading). */
const EVENT_LIMIT_BYTES = 512_000;
const bodyBytes = (request: RecordedRequest) => Buffer.byteLength(request.body, 'utf8');

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const sleepUntil = (at: number) => sleep(Math.max(0, at - Date.now()));

describe('the fake PagerDuty (its incident model)', () => {
  it('adds a trigger to the open incident, closes it on resolve, and opens a new one (a new page) on a later trigger', async () => {
    const alerter = pagerDuty();
    const trigger = alert();
    const key = trigger.dedupKey;
    await alerter.alert(trigger);
    await alerter.alert(trigger);
    expect(pd.pages(key)).toBe(1);
    await alerter.alert(resolveOf(trigger));
    await alerter.alert(resolveOf(trigger));
    expect(pd.incidents.get(key)).toBe('resolved');
    expect(pd.pages(key)).toBe(1);

    // A late trigger with the same dedup_key does not reopen the resolved incident: it opens a new one.
    await alerter.alert(trigger);
    expect(pd.incidents.get(key)).toBe('triggered');
    expect(pd.pages(key)).toBe(2);
    expect(pd.pages()).toBe(2);
    expect(pd.opened.map((i) => [i.number, i.dedupKey, i.status, i.events.map((e) => e.event_action)])).toEqual([
      [1, key, 'resolved', ['trigger', 'trigger', 'resolve']],
      [2, key, 'triggered', ['trigger']],
    ]);
    // Every event was answered 202; the second resolve found no open incident and was dropped.
    expect(pd.accepted).toHaveLength(5);
    expect(pd.dropped.map((e) => e.event_action)).toEqual(['resolve']);
  });

  it("rejects an event over 512 KB with PagerDuty's 400 error body", async () => {
    const event = {
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: 'too-big',
      payload: { summary: 'big', source: 'test', severity: 'error', custom_details: { blob: 'x'.repeat(512_000) } },
    };
    const res = await fetch(`${pd.url}/v2/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      status: 'invalid event',
      message: 'Event object is invalid',
      errors: [expect.stringContaining('512 KB')],
    });
    expect(pd.accepted).toEqual([]);
    expect(pd.pages()).toBe(0);
  });
});

describe('alert deadlines (notAfter) and cancellation', () => {
  it('refuses an alert whose notAfter has passed: nothing is sent, and a plain (retryable) Error says so', async () => {
    const lines: string[] = [];
    const log = new LogAlerter({ log: (line) => lines.push(line) });
    const alerters: AlerterPort[] = [
      pagerDuty(),
      slackAlerter(),
      log,
      new FanoutAlerter([{ alerter: pagerDuty() }, { alerter: slackAlerter() }]),
    ];
    for (const alerter of alerters) {
      const err = await rejection(alerter.alert(alert(), { notAfter: Date.now() - 1 }));
      expect(err.constructor).toBe(Error);
      expect(err.message).toMatch(/deadline .* has passed/);
      expect(toFailure(err)).toBe(err);
    }
    expect(pd.requests).toEqual([]);
    expect(slack.requests).toEqual([]);
    expect(lines).toEqual([]);

    // The activity's retry brings a fresh deadline: then the same alert goes out.
    for (const alerter of alerters) await alerter.alert(alert(), { notAfter: Date.now() + 60_000 });
    expect(pd.accepted).toHaveLength(2);
    expect(slack.posted).toHaveLength(2);
    expect(lines).toHaveLength(1);
  });

  it('sends nothing when the signal has already aborted, and aborts a request in flight when it aborts', async () => {
    const cancelled = new AbortController();
    cancelled.abort();
    for (const alerter of [pagerDuty(), slackAlerter()]) {
      const err = await rejection(alerter.alert(alert(), { signal: cancelled.signal }));
      expect(err.constructor).toBe(Error);
      expect(err.message).toMatch(/cancelled/);
    }
    expect(pd.requests).toEqual([]);
    expect(slack.requests).toEqual([]);

    pd.failNext({ hang: true });
    const controller = new AbortController();
    const sending = pagerDuty().alert(alert(), { signal: controller.signal });
    await waitFor(() => pd.requests.length === 1);
    controller.abort();
    const err = await rejection(sending);
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(/cancelled/);
    await waitFor(() => pd.abandoned.length === 1);
    expect(pd.accepted).toEqual([]);
  });

  it.each(['pagerduty', 'slack'] as const)(
    '%s: gives up on a slow answer at notAfter (not at its own timeout), leaving no request open',
    async (channel) => {
      const receiver = channel === 'pagerduty' ? pd : slack;
      const alerter = channel === 'pagerduty' ? pagerDuty({ timeoutMs: 10_000 }) : slackAlerter({ timeoutMs: 10_000 });
      // The receiver holds its answer for 1.5 s; the alert's deadline is 300 ms away.
      receiver.failNext({ holdMs: 1500 });
      const started = Date.now();
      const notAfter = started + 300;
      const err = await rejection(alerter.alert(alert(), { notAfter }));
      const gaveUp = Date.now();
      expect(err.constructor).toBe(Error);
      expect(err.message).toMatch(/deadline/);
      expect(gaveUp).toBeGreaterThanOrEqual(notAfter - 5);
      expect(gaveUp - notAfter).toBeLessThan(1000);

      // What can be said from here: the client hung up at its deadline, before the receiver answered, so nothing of
      // this attempt is still in flight. (Whether the real PagerDuty would still act on an event whose body it had
      // read is not observable; this fake commits an event only when it answers, and a client that hung up gets none.)
      await waitFor(() => receiver.abandoned.length === 1);
      expect(receiver.abandoned[0]!.hungUpAt - notAfter).toBeLessThan(1000);
      await sleepUntil(started + 1500 + 200);
      if (channel === 'pagerduty') {
        expect(pd.accepted).toEqual([]);
        expect(pd.pages()).toBe(0);
      } else {
        expect(slack.posted).toEqual([]);
      }
    },
  );

  it('still gives up at its own timeout when the deadline is later, and says which one it was', async () => {
    pd.failNext({ hang: true });
    const err = await rejection(pagerDuty({ timeoutMs: 200 }).alert(alert(), { notAfter: Date.now() + 60_000 }));
    expect(err.message).toMatch(/within 200 ms$/);
  });

  describe('a trigger whose first attempt is slow and whose resolve comes before that attempt ends', () => {
    async function story(firstAttemptOptions: AlertOptions): Promise<{ firstAttempt: unknown }> {
      const alerter = pagerDuty({ timeoutMs: 5000 });
      const trigger = alert();
      pd.failNext({ holdMs: 1200 });
      const started = Date.now();
      const firstAttempt = alerter.alert(trigger, firstAttemptOptions).then(
        () => 'delivered',
        (err: unknown) => {
          caughtErrors.push(err);
          return err;
        },
      );
      await waitFor(() => pd.requests.length === 1);
      // Temporal times the first attempt out and retries it: the retry is answered at once and pages. The upgrade
      // then recovers and the workflow resolves the incident.
      await alerter.alert(trigger, { notAfter: Date.now() + 5000 });
      await alerter.alert(resolveOf(trigger), { notAfter: Date.now() + 5000 });
      expect(pd.incidents.get(trigger.dedupKey)).toBe('resolved');
      const outcome = await firstAttempt;
      await sleepUntil(started + 1200 + 200);
      return { firstAttempt: outcome };
    }

    it('(the fake shows the bug) without a deadline, the first attempt lands after the resolve and pages again', async () => {
      const { firstAttempt } = await story({});
      expect(firstAttempt).toBe('delivered');
      expect(pd.pages(alert().dedupKey)).toBe(2);
      expect(pd.incidents.get(alert().dedupKey)).toBe('triggered');
    });

    it('with its attempt deadline as notAfter, the first attempt gives up and nobody is paged twice', async () => {
      const { firstAttempt } = await story({ notAfter: Date.now() + 300 });
      expect(firstAttempt).toBeInstanceOf(Error);
      expect((firstAttempt as Error).message).toMatch(/deadline/);
      expect(pd.pages(alert().dedupKey)).toBe(1);
      expect(pd.incidents.get(alert().dedupKey)).toBe('resolved');
      expect(pd.abandoned).toHaveLength(1);
    });
  });

  it('FanoutAlerter passes notAfter and signal to every target', async () => {
    const seen: [string, AlertOptions | undefined][] = [];
    const stub = (channel: string): AlerterPort => ({
      channel,
      alert: async (_alert, options) => {
        seen.push([channel, options]);
      },
    });
    const options: AlertOptions = { notAfter: Date.now() + 60_000, signal: new AbortController().signal };
    await new FanoutAlerter([{ alerter: stub('a') }, { alerter: stub('b') }]).alert(alert(), options);
    expect(seen.map(([channel]) => channel)).toEqual(['a', 'b']);
    for (const [, got] of seen) {
      expect(got?.notAfter).toBe(options.notAfter);
      expect(got?.signal).toBe(options.signal);
    }
  });
});

describe('PagerDuty event size (512 KB)', () => {
  it('bounds a trigger with huge custom_details, deterministically, keeping small fields and marking the truncation', async () => {
    const details = {
      component: 'gateway',
      attempt: 3,
      log: 'probe failed: 503\n'.repeat(60_000),
      probes: Array.from({ length: 20_000 }, (_, i) => ({ i, status: 'fail', body: 'é'.repeat(10) })),
      note: 'keep me',
    };
    const huge = alert({ details });
    const alerter = pagerDuty();
    await alerter.alert(huge);
    await alerter.alert(huge);

    expect(pd.accepted).toHaveLength(2);
    const [first, second] = pd.requests;
    expect(bodyBytes(first!)).toBeLessThanOrEqual(EVENT_LIMIT_BYTES);
    // The space is used, not emptied.
    expect(bodyBytes(first!)).toBeGreaterThan(EVENT_LIMIT_BYTES * 0.8);
    expect(second!.body).toBe(first!.body);

    const sent = (pd.accepted[0]!.payload as { custom_details: Record<string, unknown> }).custom_details;
    const original = { ...details, workflowId: huge.workflowId };
    expect(sent).toMatchObject({
      component: 'gateway',
      attempt: 3,
      note: 'keep me',
      workflowId: huge.workflowId,
      truncated: true,
      originalBytes: Buffer.byteLength(JSON.stringify(original), 'utf8'),
      truncatedKeys: ['log', 'probes'],
    });
    const log = sent.log as string;
    expect(log.endsWith('…')).toBe(true);
    expect(details.log.startsWith(log.slice(0, -1))).toBe(true);
    const probes = sent.probes as string;
    expect(probes.endsWith('…')).toBe(true);
    expect(JSON.stringify(details.probes).startsWith(probes.slice(0, -1))).toBe(true);
    // The summary, the incident's identity and the link are untouched.
    expect(pd.accepted[0]).toMatchObject({ dedup_key: huge.dedupKey, links: [{ href: workflowLink }] });
  });

  it.each([
    ['60,000 small fields', Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`field-${i}`, i]))],
    ['escape-heavy text', { text: '\u0001"\\\n'.repeat(150_000) }],
    ['astral characters', { text: '😀'.repeat(300_000) }],
    ['a huge key', { ['k'.repeat(600_000)]: 1, small: 'kept' }],
    ['a deep object', { a: { b: { c: 'x'.repeat(700_000) } } }],
  ])('keeps an event with %s within 512 KB, and PagerDuty accepts it', async (_name, details) => {
    await pagerDuty().alert(alert({ details }));
    expect(pd.accepted).toHaveLength(1);
    expect(bodyBytes(pd.requests[0]!)).toBeLessThanOrEqual(EVENT_LIMIT_BYTES);
    const sent = (pd.accepted[0]!.payload as { custom_details: Record<string, unknown> }).custom_details;
    expect(sent.truncated).toBe(true);
    expect(sent.workflowId).toBe(alert().workflowId);
    expect(JSON.stringify(sent)).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/);
  });

  it('leaves an event that fits as it is, and falls back to the note alone when the rest of the event is huge', () => {
    const event = (workflowId: string): PagerDutyTriggerEvent => ({
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: 'k',
      payload: {
        summary: 's',
        source: 'nightshift',
        severity: 'error',
        component: 'cp',
        group: 'r',
        class: 'c',
        custom_details: { log: 'x'.repeat(5000), workflowId },
      },
      links: [{ href: `http://ui/${workflowId}`, text: workflowId }],
    });
    const fits = event('wf');
    expect(boundPagerDutyEvent(fits)).toBe(fits);

    const cut = boundPagerDutyEvent(event('wf'), 2000);
    expect(Buffer.byteLength(JSON.stringify(cut))).toBeLessThanOrEqual(2000);
    expect(cut.links).toEqual(fits.links);
    expect(cut.payload.custom_details).toMatchObject({ workflowId: 'wf', truncated: true, truncatedKeys: ['log'] });
    expect((cut.payload.custom_details.log as string).endsWith('…')).toBe(true);

    const huge = boundPagerDutyEvent(event('w'.repeat(600_000)));
    expect(Buffer.byteLength(JSON.stringify(huge))).toBeLessThanOrEqual(EVENT_LIMIT_BYTES);
    expect(huge).not.toHaveProperty('links');
    expect(huge.payload.custom_details).toEqual({
      workflowId: `${'w'.repeat(1023)}…`,
      truncated: true,
      originalBytes: 605_026,
      truncatedKeys: ['log'],
    });
  });

  it('keeps an event within 512 KB even when the control plane and release ids are huge', async () => {
    await pagerDuty().alert(alert({ controlPlaneId: `cp-${'x'.repeat(600_000)}`, releaseId: 'r'.repeat(600_000) }));
    expect(pd.accepted).toHaveLength(1);
    expect(bodyBytes(pd.requests[0]!)).toBeLessThanOrEqual(EVENT_LIMIT_BYTES);
  });
});
