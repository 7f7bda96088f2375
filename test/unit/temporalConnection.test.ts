// The Temporal connection the way Temporal's tools resolve it (@temporalio/envconfig): a temporal.toml profile, TEMPORAL_*
// variables over it, nightshift's old TLS names as deprecated aliases, and nothing silently dropped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config/config';
import { describeTemporalConnection, temporalConnectionOptions } from '../../config/temporalConnection';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-temporal-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}
const cert = file('client.pem', 'CERT');
const key = file('client.key', 'KEY');
const ca = file('ca.pem', 'CA');
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());
type Tls = {
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
  serverRootCACertificate?: Uint8Array;
  serverNameOverride?: string;
};
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

const toml = file(
  'temporal.toml',
  `
[profile.default]
address = "localhost:7233"

[profile.cloud]
address = "eu-west-1.aws.api.temporal.io:7233"
namespace = "fleet.acct"
api_key = "profile-api-key-SECRET"

[profile.mtls]
address = "fleet.acct.tmprl.cloud:7233"
namespace = "fleet.acct"
[profile.mtls.tls]
client_cert_path = "${cert}"
client_key_path = "${key}"
server_name = "fleet.acct.tmprl.cloud"
`,
);

describe('Temporal connection: temporal.toml profiles', () => {
  it('selects the profile named by TEMPORAL_PROFILE in TEMPORAL_CONFIG_FILE', () => {
    const c = loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'mtls' });
    expect(c).toMatchObject({
      TEMPORAL_ADDRESS: 'fleet.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'fleet.acct',
      temporal: { profile: 'mtls', file: toml },
    });
    const tls = temporalConnectionOptions(c).tls as Tls;
    expect([text(tls.clientCertPair?.crt), text(tls.clientCertPair?.key)]).toEqual(['CERT', 'KEY']);
    expect(tls.serverNameOverride).toBe('fleet.acct.tmprl.cloud');
    expect(describeTemporalConnection(c)).toBe(
      `fleet.acct.tmprl.cloud:7233 namespace=fleet.acct mTLS, profile mtls (${toml})`,
    );
  });

  it('uses the "default" profile when TEMPORAL_PROFILE is unset, and the defaults without a file', () => {
    const c = loadConfig({ TEMPORAL_CONFIG_FILE: toml });
    expect(c).toMatchObject({ TEMPORAL_ADDRESS: 'localhost:7233', temporal: { profile: 'default' } });
    const none = loadConfig({});
    expect(none).toMatchObject({ TEMPORAL_ADDRESS: 'localhost:7233', TEMPORAL_NAMESPACE: 'default', temporal: {} });
  });

  it("finds the user's temporal.toml without TEMPORAL_CONFIG_FILE, as the temporal CLI does", () => {
    const xdg = path.join(dir, 'xdg');
    file('xdg/temporalio/temporal.toml', '[profile.default]\naddress = "10.0.0.7:7233"\nnamespace = "from-home"\n');
    expect(loadConfig({ XDG_CONFIG_HOME: xdg })).toMatchObject({
      TEMPORAL_ADDRESS: '10.0.0.7:7233',
      TEMPORAL_NAMESPACE: 'from-home',
    });
  });

  it('lets TEMPORAL_* variables override the profile', () => {
    const c = loadConfig({
      TEMPORAL_CONFIG_FILE: toml,
      TEMPORAL_PROFILE: 'mtls',
      TEMPORAL_NAMESPACE: 'other.acct',
      TEMPORAL_TLS_SERVER_NAME: 'override.example',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
    });
    expect(c.TEMPORAL_NAMESPACE).toBe('other.acct');
    expect(c.TEMPORAL_ADDRESS).toBe('fleet.acct.tmprl.cloud:7233');
    const tls = temporalConnectionOptions(c).tls as Tls;
    expect(tls.serverNameOverride).toBe('override.example');
    expect(text(tls.serverRootCACertificate)).toBe('CA');
    expect(text(tls.clientCertPair?.crt)).toBe('CERT'); // the profile's certificate is kept
  });

  it("turns TLS on for an API key (the profile's or the variable's)", () => {
    const c = loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud' });
    expect(temporalConnectionOptions(c)).toEqual({
      address: 'eu-west-1.aws.api.temporal.io:7233',
      apiKey: 'profile-api-key-SECRET',
      tls: true,
    });
    expect(describeTemporalConnection(c)).not.toContain('SECRET');
    const fromEnv = loadConfig({ TEMPORAL_API_KEY: 'env-key' });
    expect(temporalConnectionOptions(fromEnv)).toMatchObject({ apiKey: 'env-key', tls: true });
  });

  it('sends TEMPORAL_GRPC_META_* as gRPC headers', () => {
    const c = loadConfig({ TEMPORAL_GRPC_META_X_TENANT: 'acme' });
    expect(temporalConnectionOptions(c).metadata).toEqual({ 'x-tenant': 'acme' });
  });

  it('stops on what envconfig would silently drop: a missing file or profile, a typo in the file, half an mTLS pair', () => {
    expect(errorOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml') }))).toMatch(
      /^configuration: TEMPORAL_CONFIG_FILE = ".*nope\.toml": no such file$/,
    );
    expect(errorOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' }))).toBe(
      `configuration: TEMPORAL_PROFILE = "prod": no such profile in ${JSON.stringify(toml)}`,
    );
    const typo = file('typo.toml', `[profile.default.tls]\nclient_cert_pth = "${cert}"\nclient_key_path = "${key}"\n`);
    expect(errorOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: typo }))).toContain(
      'key(s) unrecognized in profile.default.tls: client_cert_pth',
    );
    expect(errorOf(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert }))).toContain(
      'a client certificate needs its key',
    );
    expect(
      errorOf(() =>
        loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'x.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: key }),
      ),
    ).toMatch(/TEMPORAL_TLS_CLIENT_CERT_PATH = ".*x\.pem": no such file/);
    const missing = file(
      'missing.toml',
      `[profile.default.tls]\nserver_ca_cert_path = "${path.join(dir, 'gone.pem')}"\n`,
    );
    expect(errorOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: missing }))).toMatch(
      /tls\.server_ca_cert_path of profile "default" in ".*missing\.toml" = ".*gone\.pem": no such file/,
    );
    expect(errorOf(() => loadConfig({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca }))).toContain(
      'TLS is disabled',
    );
    expect(errorOf(() => loadConfig({ TEMPORAL_TLS: 'yes' }))).toContain('TEMPORAL_TLS = "yes"');
  });

  it('never shows a secret from the profile file in an error', () => {
    const bad = file('bad.toml', '[profile.default]\napi_key = "tmprl-SECRET-KEY\naddress = 1\n');
    const message = errorOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: bad }));
    expect(message).toMatch(/bad\.toml" is not valid TOML \(line \d+, column \d+\)$/);
    expect(message).not.toContain('SECRET');
  });
});

describe('Temporal connection: deprecated names and unknown variables', () => {
  it('reads TEMPORAL_TLS_CERT / _KEY / _CA with one warning line each naming the new variable', () => {
    const warnings: string[] = [];
    const c = loadConfig(
      { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca },
      { warn: (line) => warnings.push(line) },
    );
    expect(warnings).toEqual([
      'configuration: TEMPORAL_TLS_CERT is deprecated; use TEMPORAL_TLS_CLIENT_CERT_PATH',
      'configuration: TEMPORAL_TLS_KEY is deprecated; use TEMPORAL_TLS_CLIENT_KEY_PATH',
      'configuration: TEMPORAL_TLS_CA is deprecated; use TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    ]);
    const tls = temporalConnectionOptions(c).tls as Tls;
    expect([text(tls.clientCertPair?.crt), text(tls.clientCertPair?.key), text(tls.serverRootCACertificate)]).toEqual([
      'CERT',
      'KEY',
      'CA',
    ]);
    // Messages name the variable the operator set.
    expect(
      errorOf(() => loadConfig({ TEMPORAL_TLS_CA: path.join(dir, 'old.pem') }, { warn: () => undefined })),
    ).toMatch(/TEMPORAL_TLS_CA = ".*old\.pem": no such file/);
  });

  it('refuses an alias and its new name set to different files, naming both', () => {
    const warnings: string[] = [];
    expect(
      errorOf(() =>
        loadConfig({ TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_CA_CERT_PATH: cert }, { warn: () => undefined }),
      ),
    ).toBe(
      'configuration: TEMPORAL_TLS_CA (deprecated) and TEMPORAL_TLS_SERVER_CA_CERT_PATH name different files; set only TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    );
    // The same file under both names is accepted (a half-done migration), with the warning.
    loadConfig({ TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca }, { warn: (l) => warnings.push(l) });
    expect(warnings).toEqual(['configuration: TEMPORAL_TLS_CA is deprecated; use TEMPORAL_TLS_SERVER_CA_CERT_PATH']);
  });

  it('reports an unknown TEMPORAL_* variable instead of connecting without it', () => {
    expect(errorOf(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PAHT: cert }))).toBe(
      'configuration: unknown setting(s) TEMPORAL_TLS_CLIENT_CERT_PAHT — see .env.example for the list',
    );
    expect(errorOf(() => loadConfig({ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }))).toContain(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: not applied by the TypeScript SDK 1.24',
    );
    // nightshift's own TEMPORAL_TASK_QUEUE, the secret-file form and the test tools' paths are known.
    expect(() =>
      loadConfig({
        TEMPORAL_TASK_QUEUE: 'q',
        TEMPORAL_API_KEY_FILE: key,
        TEMPORAL_CLI_PATH: '/x/temporal',
        TEMPORAL_TEST_SERVER_PATH: '/x/ts',
      }),
    ).not.toThrow();
  });
});
