import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigSchema, loadConfig, SECRET_SETTINGS } from '../../config/config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}
const TEMPLATES =
  'scheduled=101,rescheduled=102,starting=103,completed=104,rolled-back=105,cancelled=106,action-needed=107';

describe('worker configuration', () => {
  it('applies defaults and the policy overrides', () => {
    const c = loadConfig({ NIGHTSHIFT_NOTICE_LEAD_PRODUCTION: '3d', NIGHTSHIFT_VERIFY_PASSES: '5', PATH: '/usr/bin' });
    expect(c.TEMPORAL_ADDRESS).toBe('localhost:7233');
    expect(c.TEMPORAL_TASK_QUEUE).toBe('nightshift');
    expect(c.policy.noticeLeadMinutes).toEqual({ production: 3 * 24 * 60, staging: 2 * 24 * 60, development: 24 * 60 });
    expect(c.policy.verify.consecutivePasses).toBe(5);
  });

  it('gives fleet rollouts a task queue of their own, derived from the main one unless set', () => {
    expect(loadConfig({}).fleetTaskQueue).toBe('nightshift-fleet');
    expect(loadConfig({ TEMPORAL_TASK_QUEUE: 'prod' }).fleetTaskQueue).toBe('prod-fleet');
    expect(loadConfig({ TEMPORAL_TASK_QUEUE: 'prod', NIGHTSHIFT_FLEET_TASK_QUEUE: 'rollouts' }).fleetTaskQueue).toBe(
      'rollouts',
    );
  });

  it('names the variable and the value of a bad setting', () => {
    expect(() => loadConfig({ NIGHTSHIFT_NOTICE_LEAD_STAGING: 'two days' })).toThrow(
      /NIGHTSHIFT_NOTICE_LEAD_STAGING = "two days": must be a duration/,
    );
    expect(() => loadConfig({ NIGHTSHIFT_PLATFORM: 'nomad' })).toThrow(/NIGHTSHIFT_PLATFORM = "nomad"/);
    expect(() => loadConfig({ NIGHTSHIFT_VERIFY_PASSES: '0' })).toThrow(/NIGHTSHIFT_VERIFY_PASSES = "0"/);
  });

  it('rejects unknown NIGHTSHIFT_ and TEMPORAL_ settings (typos) and half-configured TLS', () => {
    expect(() => loadConfig({ NIGHTSHIFT_INVENTRY: 'x.yaml' })).toThrow(/unknown setting\(s\) NIGHTSHIFT_INVENTRY/);
    // Before config/temporalConnection.ts these two were dropped without a word and the client connected without TLS.
    expect(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PAHT: '/c.pem', NIGHTSHIFT_INVENTRY: 'x' })).toThrow(
      'unknown setting(s) TEMPORAL_TLS_CLIENT_CERT_PAHT, NIGHTSHIFT_INVENTRY',
    );
    expect(() => loadConfig({ TEMPORAL_CODEC_ENDPOINT: 'http://127.0.0.1:8888' })).toThrow(
      'TEMPORAL_CODEC_ENDPOINT: not used by a TypeScript client',
    );
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: '/nope.pem' }, { warn: () => undefined })).toThrow(
      /a client certificate needs its key: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/,
    );
  });

  it('takes Temporal settings from NIGHTSHIFT_CONFIG_FILE too, but never the TLS key as text', () => {
    const settings = file('temporal-settings.yaml', 'TEMPORAL_ADDRESS: temporal.internal:7233\nTEMPORAL_TLS: true\n');
    expect(loadConfig({ NIGHTSHIFT_CONFIG_FILE: settings })).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
    });
    const key = file('key-in-settings.yaml', 'TEMPORAL_TLS_CLIENT_KEY_DATA: "-----BEGIN PRIVATE KEY-----"\n');
    expect(() => loadConfig({ NIGHTSHIFT_CONFIG_FILE: key })).toThrow('TEMPORAL_TLS_CLIENT_KEY_DATA is a secret');
  });

  it('reads the webhook settings: port and host defaults, comma-separated secrets', () => {
    const d = loadConfig({});
    expect(d).toMatchObject({ NIGHTSHIFT_WEBHOOK_PORT: 8787, NIGHTSHIFT_WEBHOOK_HOST: '127.0.0.1' });
    expect(d.NIGHTSHIFT_WEBHOOK_SECRETS).toEqual([]);
    const c = loadConfig({
      NIGHTSHIFT_WEBHOOK_PORT: '9000',
      NIGHTSHIFT_WEBHOOK_HOST: '0.0.0.0',
      NIGHTSHIFT_WEBHOOK_SECRETS: ' new-secret-value-1 , old-secret-value-2,',
    });
    expect(c).toMatchObject({ NIGHTSHIFT_WEBHOOK_PORT: 9000, NIGHTSHIFT_WEBHOOK_HOST: '0.0.0.0' });
    expect(c.NIGHTSHIFT_WEBHOOK_SECRETS).toEqual(['new-secret-value-1', 'old-secret-value-2']);
    expect(() => loadConfig({ NIGHTSHIFT_WEBHOOK_PORT: '70000' })).toThrow(/NIGHTSHIFT_WEBHOOK_PORT = "70000"/);
  });

  it('reads the Prometheus metrics address: unset by default, an IP address and a port', () => {
    expect(loadConfig({}).NIGHTSHIFT_METRICS_ADDRESS).toBeUndefined();
    for (const ok of ['127.0.0.1:9464', '0.0.0.0:9464', '[::1]:9464'])
      expect(loadConfig({ NIGHTSHIFT_METRICS_ADDRESS: ok }).NIGHTSHIFT_METRICS_ADDRESS).toBe(ok);
    for (const bad of ['9464', 'localhost:9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:9464'])
      expect(() => loadConfig({ NIGHTSHIFT_METRICS_ADDRESS: bad })).toThrow(
        `NIGHTSHIFT_METRICS_ADDRESS = ${JSON.stringify(bad)}: must be an IP address and a port`,
      );
  });

  it('selects the production adapters and holds their settings', () => {
    const c = loadConfig({
      NIGHTSHIFT_PLATFORM: 'kubernetes',
      NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT: '20m',
      NIGHTSHIFT_NOTIFIER: 'hubspot',
      NIGHTSHIFT_HUBSPOT_TOKEN: 'pat-na1-secret-token',
      NIGHTSHIFT_HUBSPOT_TEMPLATES: TEMPLATES,
      NIGHTSHIFT_ALERTER: 'log, pagerduty,slack',
      NIGHTSHIFT_PAGERDUTY_ROUTING_KEY: 'R0UT1NGKEY',
      NIGHTSHIFT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
    });
    expect(c).toMatchObject({
      NIGHTSHIFT_PLATFORM: 'kubernetes',
      NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT: 20,
      NIGHTSHIFT_K8S_IMAGE_GATEWAY: 'docker.tyk.io/tyk-gateway/tyk-gateway',
      NIGHTSHIFT_ALERTER: ['log', 'pagerduty', 'slack'],
      NIGHTSHIFT_PAGERDUTY_MIN_SEVERITY: 'error',
      NIGHTSHIFT_HUBSPOT_TEMPLATES: { scheduled: 101, 'action-needed': 107 },
    });
  });

  it('says what a chosen adapter is missing, and never shows a secret', () => {
    expect(() => loadConfig({ NIGHTSHIFT_NOTIFIER: 'hubspot', NIGHTSHIFT_HUBSPOT_TEMPLATES: TEMPLATES })).toThrow(
      /NIGHTSHIFT_NOTIFIER=hubspot needs NIGHTSHIFT_HUBSPOT_TOKEN/,
    );
    expect(() =>
      loadConfig({
        NIGHTSHIFT_NOTIFIER: 'hubspot',
        NIGHTSHIFT_HUBSPOT_TOKEN: 't',
        NIGHTSHIFT_HUBSPOT_TEMPLATES: 'scheduled=1,completed=2',
      }),
    ).toThrow(
      /NIGHTSHIFT_HUBSPOT_TEMPLATES = "scheduled=1,completed=2": no template for rescheduled, starting, rolled-back/,
    );
    expect(() => loadConfig({ NIGHTSHIFT_HUBSPOT_TEMPLATES: 'scheduled=abc' })).toThrow(
      /"scheduled=abc" is not <notice kind>=<template id>/,
    );
    expect(() => loadConfig({ NIGHTSHIFT_ALERTER: 'log,pager' })).toThrow(
      /NIGHTSHIFT_ALERTER = "log,pager": must list some of log, pagerduty, slack/,
    );
    expect(() => loadConfig({ NIGHTSHIFT_ALERTER: 'pagerduty' })).toThrow(/set NIGHTSHIFT_PAGERDUTY_ROUTING_KEY/);
    let message = '';
    try {
      loadConfig({ NIGHTSHIFT_ALERTER: 'slack', NIGHTSHIFT_SLACK_WEBHOOK_URL: 'hooks-secret-part' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('NIGHTSHIFT_SLACK_WEBHOOK_URL is not an http(s) URL (value not shown');
    expect(message).not.toContain('hooks-secret-part');
  });

  it('reads secrets from <NAME>_FILE, and refuses both or an unreadable file', () => {
    const tokenFile = file('hubspot-token', 'pat-from-file\n');
    const c = loadConfig({
      NIGHTSHIFT_NOTIFIER: 'hubspot',
      NIGHTSHIFT_HUBSPOT_TOKEN_FILE: tokenFile,
      NIGHTSHIFT_HUBSPOT_TEMPLATES: TEMPLATES,
    });
    expect(c.NIGHTSHIFT_HUBSPOT_TOKEN).toBe('pat-from-file');
    expect(() => loadConfig({ NIGHTSHIFT_HUBSPOT_TOKEN: 'a', NIGHTSHIFT_HUBSPOT_TOKEN_FILE: tokenFile })).toThrow(
      'set NIGHTSHIFT_HUBSPOT_TOKEN or NIGHTSHIFT_HUBSPOT_TOKEN_FILE, not both',
    );
    expect(() => loadConfig({ TEMPORAL_API_KEY_FILE: path.join(dir, 'nope') })).toThrow(
      /TEMPORAL_API_KEY_FILE = ".*nope": cannot read it \(ENOENT\)/,
    );
  });

  it('reads a JSON or YAML settings file; the environment wins; secrets and unknown keys are refused', () => {
    const yaml = file(
      'nightshift.yaml',
      'NIGHTSHIFT_PLATFORM: kubernetes\nNIGHTSHIFT_K8S_POLL_MS: 500\nTEMPORAL_NAMESPACE: fleet\n',
    );
    const c = loadConfig({ NIGHTSHIFT_CONFIG_FILE: yaml, TEMPORAL_NAMESPACE: 'prod' });
    expect(c).toMatchObject({
      NIGHTSHIFT_PLATFORM: 'kubernetes',
      NIGHTSHIFT_K8S_POLL_MS: 500,
      TEMPORAL_NAMESPACE: 'prod',
    });
    const json = file('nightshift.json', JSON.stringify({ NIGHTSHIFT_K8S_POLL_MS: 0 }));
    expect(() => loadConfig({ NIGHTSHIFT_CONFIG_FILE: json })).toThrow(
      /configuration \(environment and .*nightshift\.json\) is invalid:\n {2}- NIGHTSHIFT_K8S_POLL_MS = "0"/,
    );
    const secret = file('secret.yaml', 'NIGHTSHIFT_PAGERDUTY_ROUTING_KEY: abc\n');
    expect(() => loadConfig({ NIGHTSHIFT_CONFIG_FILE: secret })).toThrow(
      'NIGHTSHIFT_PAGERDUTY_ROUTING_KEY is a secret; set it in the environment, or name a file holding it with NIGHTSHIFT_PAGERDUTY_ROUTING_KEY_FILE',
    );
    expect(() => loadConfig({ NIGHTSHIFT_CONFIG_FILE: file('typo.yaml', 'NIGHTSHIFT_PLATFROM: x\n') })).toThrow(
      'unknown setting NIGHTSHIFT_PLATFROM',
    );
    expect(() => loadConfig({ NIGHTSHIFT_CONFIG_FILE: file('list.yaml', '- a\n') })).toThrow(
      'must be a mapping of setting names to values',
    );
    expect(() => loadConfig({ NIGHTSHIFT_CONFIG_FILE: path.join(dir, 'missing.yaml') })).toThrow('no such file');
  });

  it('lets the test and setup switches through', () => {
    expect(() => loadConfig({ NIGHTSHIFT_UI_TEST: 'required', NIGHTSHIFT_REAL_KUBE: 'required' })).not.toThrow();
  });

  it('checks the soak, probe and rollout times fit the activities’ own timeouts', () => {
    expect(() => loadConfig({ NIGHTSHIFT_VERIFY_SOAK_MS: '300000' })).toThrow(
      'NIGHTSHIFT_VERIFY_SOAK_MS = 300000 must be shorter than NIGHTSHIFT_VERIFY_TIMEOUT_MS = 300000',
    );
    expect(loadConfig({ NIGHTSHIFT_VERIFY_SOAK_MS: '0' }).policy.verify.soakMs).toBe(0);
    expect(() => loadConfig({ NIGHTSHIFT_VERIFY_TIMEOUT_MS: '3600000' })).toThrow(
      'NIGHTSHIFT_VERIFY_TIMEOUT_MS = 3600000 must be at most 1080000',
    );
    expect(() => loadConfig({ NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT: '1h' })).toThrow(
      'NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT = 60 minutes must be at most 28m',
    );
    expect(() => loadConfig({ NIGHTSHIFT_HEALTH_TIMEOUT_MS: '60000' })).toThrow(
      'NIGHTSHIFT_HEALTH_TIMEOUT_MS = 60000 must be at most 20000',
    );
  });
});

describe('configuration documentation', () => {
  const names = [
    ...Object.keys(ConfigSchema.shape).filter((k) => !SECRET_SETTINGS.includes(k as (typeof SECRET_SETTINGS)[number])),
    ...SECRET_SETTINGS,
  ];
  it.each(['.env.example', 'docs/configuration.md'])('%s names every setting', (file) => {
    const text = fs.readFileSync(path.join(__dirname, '../..', file), 'utf8');
    expect(names.filter((n) => !text.includes(n))).toEqual([]);
  });
});
