import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config/config';
import { clientConnectionOptions, webUiLink } from '../../client/temporalClient';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-tls-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function pem(name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `pem:${name}`);
  return p;
}
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());
type Tls = {
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
  serverRootCACertificate?: Uint8Array;
  serverNameOverride?: string;
};
const quiet = { warn: () => undefined };
const base = { TEMPORAL_ADDRESS: 'temporal.internal:7233' };

describe('Temporal client connection (same settings as the worker)', () => {
  it("connects with the client certificate named by Temporal's own TEMPORAL_TLS_CLIENT_CERT_PATH (was silently dropped)", () => {
    const config = loadConfig({
      TEMPORAL_TLS_CLIENT_CERT_PATH: pem('client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: pem('client.key'),
    });
    const tls = clientConnectionOptions(config).tls as Tls;
    expect(text(tls?.clientCertPair?.crt)).toBe('pem:client.pem');
    expect(text(tls?.clientCertPair?.key)).toBe('pem:client.key');
  });

  it('connects in plain text to a local server', () => {
    expect(clientConnectionOptions(loadConfig(base))).toEqual({ address: 'temporal.internal:7233' });
  });

  it('uses mTLS with a client certificate, and TLS for an API key, a custom CA or TEMPORAL_TLS=true', () => {
    const mtls = clientConnectionOptions(
      loadConfig({
        ...base,
        TEMPORAL_TLS_CLIENT_CERT_PATH: pem('c.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: pem('k.pem'),
        TEMPORAL_TLS_SERVER_NAME: 'ns.tmprl.cloud',
      }),
    );
    const tls = mtls.tls as Tls;
    expect([text(tls.clientCertPair?.crt), text(tls.clientCertPair?.key)]).toEqual(['pem:c.pem', 'pem:k.pem']);
    expect(tls.serverNameOverride).toBe('ns.tmprl.cloud');
    expect(tls.serverRootCACertificate).toBeUndefined();

    const apiKey = clientConnectionOptions(loadConfig({ ...base, TEMPORAL_API_KEY: 'key-1' }));
    expect(apiKey).toEqual({ address: 'temporal.internal:7233', apiKey: 'key-1', tls: true });

    const ca = clientConnectionOptions(loadConfig({ ...base, TEMPORAL_TLS_SERVER_CA_CERT_PATH: pem('ca.pem') }));
    expect(text((ca.tls as Tls).serverRootCACertificate)).toBe('pem:ca.pem');
    expect((ca.tls as Tls).clientCertPair).toBeUndefined();

    expect(typeof clientConnectionOptions(loadConfig({ ...base, TEMPORAL_TLS: 'true' })).tls).toBe('object');
    expect(clientConnectionOptions(loadConfig({ ...base, TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).tls).toBe(
      false,
    );
  });

  it('still connects with the deprecated TEMPORAL_TLS_CERT / _KEY / _CA', () => {
    const config = loadConfig(
      {
        ...base,
        TEMPORAL_TLS_CERT: pem('old.pem'),
        TEMPORAL_TLS_KEY: pem('old.key'),
        TEMPORAL_TLS_CA: pem('old-ca.pem'),
      },
      quiet,
    );
    const tls = clientConnectionOptions(config).tls as Tls;
    expect(text(tls.clientCertPair?.crt)).toBe('pem:old.pem');
    expect(text(tls.clientCertPair?.key)).toBe('pem:old.key');
    expect(text(tls.serverRootCACertificate)).toBe('pem:old-ca.pem');
  });

  it('uses the address an entry point puts in place of the configured one', () => {
    const config = loadConfig({ TEMPORAL_API_KEY: 'key-1' });
    expect(clientConnectionOptions({ ...config, TEMPORAL_ADDRESS: '127.0.0.1:1' })).toMatchObject({
      address: '127.0.0.1:1',
      apiKey: 'key-1',
    });
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
