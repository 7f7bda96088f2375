import { loadConfig } from '../../workers/config';

describe('worker configuration', () => {
  it('applies defaults and the policy overrides', () => {
    const c = loadConfig({ NIGHTSHIFT_NOTICE_LEAD_PRODUCTION: '3d', NIGHTSHIFT_VERIFY_PASSES: '5', PATH: '/usr/bin' });
    expect(c.TEMPORAL_ADDRESS).toBe('localhost:7233');
    expect(c.TEMPORAL_TASK_QUEUE).toBe('nightshift');
    expect(c.policy.noticeLeadMinutes).toEqual({ production: 3 * 24 * 60, staging: 2 * 24 * 60, development: 24 * 60 });
    expect(c.policy.verify.consecutivePasses).toBe(5);
  });

  it('names the variable and the value of a bad setting', () => {
    expect(() => loadConfig({ NIGHTSHIFT_NOTICE_LEAD_STAGING: 'two days' })).toThrow(
      /NIGHTSHIFT_NOTICE_LEAD_STAGING = "two days": must be a duration/,
    );
    expect(() => loadConfig({ NIGHTSHIFT_PLATFORM: 'nomad' })).toThrow(/NIGHTSHIFT_PLATFORM = "nomad"/);
    expect(() => loadConfig({ NIGHTSHIFT_VERIFY_PASSES: '0' })).toThrow(/NIGHTSHIFT_VERIFY_PASSES = "0"/);
  });

  it('rejects unknown NIGHTSHIFT_ settings (typos) and half-configured TLS', () => {
    expect(() => loadConfig({ NIGHTSHIFT_INVENTRY: 'x.yaml' })).toThrow(/unknown setting\(s\) NIGHTSHIFT_INVENTRY/);
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: '/nope.pem' })).toThrow(
      /set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/,
    );
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
});
