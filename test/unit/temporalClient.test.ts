import { clientConnectionOptions, webUiLink } from '../../client/temporalClient';

const read = (file: string) => Buffer.from(`pem:${file}`);
const base = { TEMPORAL_ADDRESS: 'temporal.internal:7233' };

describe('Temporal client connection (same settings as the worker)', () => {
  it('connects in plain text to a local server', () => {
    expect(clientConnectionOptions(base, read)).toEqual({ address: 'temporal.internal:7233' });
  });

  it('uses mTLS with a client certificate, and TLS for an API key or a custom CA', () => {
    const mtls = clientConnectionOptions(
      { ...base, TEMPORAL_TLS_CERT: 'c.pem', TEMPORAL_TLS_KEY: 'k.pem', TEMPORAL_TLS_SERVER_NAME: 'ns.tmprl.cloud' },
      read,
    );
    expect(mtls.tls).toEqual({
      clientCertPair: { crt: read('c.pem'), key: read('k.pem') },
      serverRootCACertificate: undefined,
      serverNameOverride: 'ns.tmprl.cloud',
    });
    const apiKey = clientConnectionOptions({ ...base, TEMPORAL_API_KEY: 'key-1' }, read);
    expect(apiKey).toMatchObject({ apiKey: 'key-1', tls: { serverRootCACertificate: undefined } });
    const ca = clientConnectionOptions({ ...base, TEMPORAL_TLS_CA: 'ca.pem' }, read);
    expect(ca.tls).toEqual({ serverRootCACertificate: read('ca.pem'), serverNameOverride: undefined });
  });

  it('links the local Web UI only when Temporal runs on this machine', () => {
    expect(webUiLink('localhost:7233', 'default', 'fleet/lts-5.8.2')).toBe(
      'http://localhost:8233/namespaces/default/workflows/fleet%2Flts-5.8.2',
    );
    expect(webUiLink('127.0.0.1:7233', 'default', 'x')).toBe('http://localhost:8233/namespaces/default/workflows/x');
    expect(webUiLink('[::1]:7233', 'default', 'x')).toBeDefined();
    expect(webUiLink('eu-west-1.aws.api.temporal.io:7233', 'ns.acct', 'x')).toBeUndefined();
  });
});
