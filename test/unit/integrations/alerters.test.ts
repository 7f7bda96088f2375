import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../../activities/errors';
import { RequestRejectedError, RetryLaterError, type AlerterPort } from '../../../activities/ports';
import type { SreAlert } from '../../../domain/model';
import { FanoutAlerter } from '../../../integrations/fanoutAlerter';
import { LogAlerter } from '../../../integrations/logAlerter';
import { PagerDutyAlerter, pagerDutyDedupKey, retryAfterMs } from '../../../integrations/pagerDutyAlerter';
import { formatSlackText, SlackAlerter } from '../../../integrations/slackAlerter';
import {
  startFakePagerDuty,
  startFakeSlack,
  type FakePagerDuty,
  type FakeSlack,
} from '../../helpers/fakeAlertReceivers';
import { closedPort } from './fixtures';

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
