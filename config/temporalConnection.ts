// The Temporal connection, resolved the way every Temporal tool resolves it: @temporalio/envconfig reads a profile
// from a temporal.toml file (TEMPORAL_CONFIG_FILE, else the user's config dir) chosen by TEMPORAL_PROFILE, and
// Temporal's TEMPORAL_* variables override it. On top of the package: nightshift's old TLS names still work (with a
// warning), and what the package would silently drop (a missing TEMPORAL_CONFIG_FILE, a certificate without its key, a
// typo in the profile file) stops the start with one line instead. Secrets (API key, key contents) are never shown.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  loadClientConfig,
  loadClientConfigProfile,
  toClientOptions,
  type ClientConfigProfile,
  type ClientConfigTLS,
  type ConfigDataSource,
} from '@temporalio/envconfig';
import type { Metadata } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';

/** Temporal's variables that @temporalio/envconfig 1.24 applies to a connection (plus TEMPORAL_GRPC_META_*). */
export const TEMPORAL_CONNECTION_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
] as const;

/** gRPC headers, e.g. TEMPORAL_GRPC_META_X_TENANT=acme sends `x-tenant: acme` (values may be credentials). */
export const GRPC_META_PREFIX = 'TEMPORAL_GRPC_META_';

/** nightshift's names before it used Temporal's: still read, with a warning. */
export const DEPRECATED_TEMPORAL_ALIASES = {
  TEMPORAL_TLS_CERT: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
} as const;

/** Temporal names that envconfig 1.24 reads but a TypeScript connection does not use: refused rather than ignored. */
export const UNSUPPORTED_TEMPORAL_VARIABLES: Record<string, string> = {
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION:
    'not applied by the TypeScript SDK 1.24 (set TEMPORAL_TLS_SERVER_NAME to the name in the server certificate)',
  TEMPORAL_CODEC_ENDPOINT: 'not used by a TypeScript client (payload encryption is NIGHTSHIFT_ENCRYPTION_KEYS)',
  TEMPORAL_CODEC_AUTH: 'not used by a TypeScript client (payload encryption is NIGHTSHIFT_ENCRYPTION_KEYS)',
};

/** Where the connection's profile came from, and the TLS and gRPC headers it resolved to (files not yet read). */
export interface TemporalProfile {
  /** The profile used: TEMPORAL_PROFILE, or "default" when the file has one; undefined when no profile applied. */
  profile?: string;
  /** The temporal.toml read, if any. */
  file?: string;
  tls?: ClientConfigTLS;
  grpcMeta?: Record<string, string>;
}

/** What a connection needs: the resolved address, namespace and API key, and the profile's TLS and headers. */
export interface TemporalConnectionSettings {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  TEMPORAL_API_KEY?: string;
  temporal: TemporalProfile;
}

export interface ResolvedTemporal {
  address?: string;
  namespace?: string;
  apiKey?: string;
  temporal: TemporalProfile;
}

function fail(message: string): never {
  throw new Error(`configuration: ${message}`);
}

/**
 * Maps the deprecated names to Temporal's, one warning line each; an alias and its new name with different values is
 * an error naming both. Returns a copy; `usedName` tells which name a value came from, for messages.
 */
export function applyDeprecatedAliases(
  settings: Record<string, string>,
  warn: (line: string) => void,
): { settings: Record<string, string>; usedName: Record<string, string> } {
  const out = { ...settings };
  const usedName: Record<string, string> = {};
  for (const [alias, name] of Object.entries(DEPRECATED_TEMPORAL_ALIASES)) {
    const value = out[alias];
    if (value === undefined) continue;
    delete out[alias];
    if (out[name] !== undefined && out[name] !== value)
      fail(`${alias} (deprecated) and ${name} name different files; set only ${name}`);
    warn(`configuration: ${alias} is deprecated; use ${name}`);
    if (out[name] === undefined) usedName[name] = alias;
    out[name] = value;
  }
  return { settings: out, usedName };
}

/** envconfig's default profile file: $XDG_CONFIG_HOME or ~/.config (macOS: ~/Library/Application Support, Windows: %APPDATA%) /temporalio/temporal.toml. */
function defaultProfileFile(env: Record<string, string | undefined>): string | undefined {
  const platform = os.platform();
  let dir: string | undefined;
  if (platform === 'win32') dir = env.APPDATA || undefined;
  else if (platform === 'darwin') dir = env.HOME ? path.join(env.HOME, 'Library', 'Application Support') : undefined;
  else {
    const xdg = env.XDG_CONFIG_HOME;
    dir = xdg ? (path.isAbsolute(xdg) ? xdg : undefined) : env.HOME ? path.join(env.HOME, '.config') : undefined;
  }
  return dir ? path.join(dir, 'temporalio', 'temporal.toml') : undefined;
}

/** envconfig's errors, rewritten as one line naming the setting; never a file's contents (a TOML error quotes it). */
function profileError(err: unknown, file: string | undefined, profile: string | undefined): never {
  const e = err as Error & { line?: number; column?: number; code?: string };
  const where = file ? JSON.stringify(file) : 'the profile file';
  if (e?.name === 'TomlError' || e?.constructor?.name === 'TomlError')
    fail(`${where} is not valid TOML (line ${e.line}, column ${e.column})`);
  const message = String(e?.message ?? err);
  if (/^Profile '.*' not found/.test(message))
    fail(
      `TEMPORAL_PROFILE = ${JSON.stringify(profile)}: no such profile in ${file ? where : 'any temporal.toml (none found; set TEMPORAL_CONFIG_FILE)'}`,
    );
  const validation = /^Validation error: (.*)$/.exec(message);
  if (validation) fail(`${where}: ${validation[1]}`);
  if (/^Cannot specify both/.test(message)) fail(`${where} or TEMPORAL_TLS_*: ${message}`);
  if (e?.code) fail(`${where}: cannot read it (${e.code})`);
  fail(`Temporal connection settings: ${message.split('\n')[0]}`);
}

const TLS_FILES = [
  ['clientCert', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'client_cert_path'],
  ['clientKey', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'client_key_path'],
  ['serverCACert', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'server_ca_cert_path'],
] as const;

/**
 * Resolves the connection from nightshift's settings (TEMPORAL_* only are used; HOME, XDG_CONFIG_HOME and APPDATA
 * locate the default temporal.toml). `settings` must already have the deprecated aliases applied.
 */
export function resolveTemporalConnection(
  settings: Record<string, string>,
  opts: { home?: Record<string, string | undefined>; usedName?: Record<string, string> } = {},
): ResolvedTemporal {
  const envconfigEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings)) if (k.startsWith('TEMPORAL_')) envconfigEnv[k] = v;
  for (const k of ['HOME', 'XDG_CONFIG_HOME', 'APPDATA']) {
    const v = opts.home?.[k];
    if (v) envconfigEnv[k] = v;
  }
  // envconfig treats a missing TEMPORAL_CONFIG_FILE as "no file": a typo in its path would drop the whole profile.
  const named = envconfigEnv.TEMPORAL_CONFIG_FILE;
  if (named !== undefined && !fs.existsSync(named))
    fail(`TEMPORAL_CONFIG_FILE = ${JSON.stringify(named)}: no such file`);
  const fallback = defaultProfileFile(envconfigEnv);
  const file = named ?? (fallback && fs.existsSync(fallback) ? fallback : undefined);
  const profileName = envconfigEnv.TEMPORAL_PROFILE;

  let p: ClientConfigProfile;
  try {
    // Strict: an unknown key in the file (a misspelt client_cert_path) is an error, as an unknown variable is.
    p = loadClientConfigProfile({ overrideEnvVars: envconfigEnv, configFileStrict: true });
  } catch (err) {
    profileError(err, file, profileName);
  }

  // Which profile applied (envconfig falls back to "default" only if the file has one).
  const applied =
    profileName ??
    (file && 'default' in loadClientConfig({ overrideEnvVars: envconfigEnv }).profiles ? 'default' : undefined);
  const source = (env: string, key: string) =>
    settings[env] !== undefined
      ? (opts.usedName?.[env] ?? env)
      : `tls.${key} of profile ${JSON.stringify(applied ?? 'default')} in ${JSON.stringify(file)}`;

  const tls = p.tls;
  if (tls) {
    if (Boolean(tls.clientCert) !== Boolean(tls.clientKey))
      fail(
        'a client certificate needs its key: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or tls.client_cert_path and tls.client_key_path in the profile) together, or neither',
      );
    if (tls.disabled && (tls.clientCert || tls.serverCACert || tls.serverName))
      fail(
        'TLS is disabled (TEMPORAL_TLS=false or tls.disabled in the profile) but a client certificate, CA or server name is set',
      );
    for (const [field, env, key] of TLS_FILES) {
      const src: ConfigDataSource | undefined = tls[field];
      if (src && 'path' in src && !fs.existsSync(src.path))
        fail(`${source(env, key)} = ${JSON.stringify(src.path)}: no such file`);
    }
  }
  return {
    address: p.address,
    namespace: p.namespace,
    apiKey: p.apiKey,
    temporal: {
      ...(applied !== undefined && { profile: applied }),
      ...(file !== undefined && { file }),
      ...(tls !== undefined && { tls }),
      ...(p.grpcMeta !== undefined && Object.keys(p.grpcMeta).length > 0 && { grpcMeta: p.grpcMeta }),
    },
  };
}

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Metadata;
}

/**
 * The options for Connection.connect (client) and NativeConnection.connect (worker), through envconfig's own
 * toClientOptions: TLS when the profile or variables configure it or an API key is set (mTLS with a client
 * certificate), plain otherwise. Reads the certificate and key files now.
 */
export function temporalConnectionOptions(s: TemporalConnectionSettings): TemporalConnectionOptions {
  let options;
  try {
    ({ connectionOptions: options } = toClientOptions({
      address: s.TEMPORAL_ADDRESS,
      namespace: s.TEMPORAL_NAMESPACE,
      ...(s.TEMPORAL_API_KEY !== undefined && { apiKey: s.TEMPORAL_API_KEY }),
      ...(s.temporal.tls && { tls: s.temporal.tls }),
      ...(s.temporal.grpcMeta && { grpcMeta: s.temporal.grpcMeta }),
    }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    fail(`cannot read a Temporal TLS file${e.path ? ` ${JSON.stringify(e.path)}` : ''} (${e.code ?? 'error'})`);
  }
  return {
    address: s.TEMPORAL_ADDRESS,
    ...(options.tls !== undefined && options.tls !== null && { tls: options.tls }),
    ...(options.apiKey !== undefined && { apiKey: options.apiKey as string }),
    ...(options.metadata !== undefined && { metadata: options.metadata }),
  };
}

/** One line for logs: address, namespace, profile and TLS mode; no secrets. */
export function describeTemporalConnection(s: TemporalConnectionSettings): string {
  const tls = s.temporal.tls;
  const mode =
    tls?.disabled === true
      ? 'plain'
      : tls?.clientCert
        ? 'mTLS'
        : tls || s.TEMPORAL_API_KEY !== undefined
          ? s.TEMPORAL_API_KEY !== undefined
            ? 'TLS + API key'
            : 'TLS'
          : 'plain';
  const from = s.temporal.profile ? `, profile ${s.temporal.profile} (${s.temporal.file})` : '';
  return `${s.TEMPORAL_ADDRESS} namespace=${s.TEMPORAL_NAMESPACE} ${mode}${from}`;
}
