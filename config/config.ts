// The worker's whole configuration, from environment variables, validated once at start. A bad setting stops the
// worker with the variable's name and value; secrets are read from the environment or files, never from workflow
// inputs.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import YAML from 'yaml';
import { NOTICE_KINDS, type NoticeKind } from '../domain/model';
import { DEFAULT_POLICY, type UpgradePolicy } from '../domain/policy';
import { parseWith } from '../domain/validation';
import { TASK_QUEUE_DEFAULT } from '../workflows/messages';
import { parseMinutes } from './duration';
import { parseEncryptionSettings } from '../integrations/encryptionCodec';
import {
  applyDeprecatedAliases,
  GRPC_META_PREFIX,
  resolveTemporalConnection,
  UNSUPPORTED_TEMPORAL_VARIABLES,
  type TemporalProfile,
} from './temporalConnection';

const duration = z
  .string()
  .refine((v) => parseMinutes(v) !== undefined, 'must be a duration such as 0, 90s, 15m, 2h or 7d')
  .transform((v) => parseMinutes(v)!);
const positiveInt = z.coerce.number().int().positive();
export const ALERTERS = ['log', 'pagerduty', 'slack'] as const;
export type Alerter = (typeof ALERTERS)[number];
const filePath = z.string().min(1);
/** An IP address and a port (the SDK's Prometheus exporter binds a socket address, so no host names). */
const socketAddress = z.string().refine((v) => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  if (!m) return false;
  const [, ipv6, ipv4, port] = m;
  const ipOk = ipv6 !== undefined ? net.isIPv6(ipv6) : net.isIPv4(ipv4 ?? '');
  return ipOk && Number(port) >= 1 && Number(port) <= 65535;
}, 'must be an IP address and a port, such as 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464');

/**
 * NIGHTSHIFT_WORKFLOW_CACHE_SIZE's default: room for a rollout of 200 at once (the default is 10) and 100 more. The cache
 * is LRU, so the control planes at work stay in it; a control plane parked on its window gains nothing from being cached
 * (it wakes days later and replays a short history), and each cached one costs about 0.18 MiB (docs/scale.md).
 */
export const DEFAULT_WORKFLOW_CACHE_SIZE = 300;

export const ConfigSchema = z.object({
  // The Temporal connection, as Temporal names it (config/temporalConnection.ts, @temporalio/envconfig): a profile of a
  // temporal.toml file, overridden by these. The address, namespace and API key below end up resolved (profile or
  // variable); the connection's TLS is Config.temporal, not the raw TEMPORAL_TLS_* strings.
  TEMPORAL_ADDRESS: z.string().default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default(TASK_QUEUE_DEFAULT),
  /**
   * The fleet rollouts' own task queue (default `<TEMPORAL_TASK_QUEUE>-fleet`): a few long-running fleet workflows get a
   * worker and a workflow cache of their own, so thousands of control-plane workflows passing through the main cache
   * never evict them (an evicted fleet replays its whole history on its next task). Every nightshift worker polls both.
   */
  NIGHTSHIFT_FLEET_TASK_QUEUE: z.string().min(1).optional(),
  /** Temporal Cloud API key (implies TLS). */
  TEMPORAL_API_KEY: z.string().optional(),
  TEMPORAL_PROFILE: z.string().min(1).optional(),
  TEMPORAL_CONFIG_FILE: filePath.optional(),
  /** Forces TLS on or off (envconfig reads anything but 1/true as off, so only these four are accepted). */
  TEMPORAL_TLS: z.enum(['true', 'false', '1', '0']).optional(),
  /** mTLS client certificate and key (PEM files), e.g. for Temporal Cloud or a TLS-enabled cluster. */
  TEMPORAL_TLS_CLIENT_CERT_PATH: filePath.optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: filePath.optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: filePath.optional(),
  /** The same as PEM text instead of a file (the key's is a secret, below). */
  TEMPORAL_TLS_CLIENT_CERT_DATA: z.string().optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  /** Deprecated aliases of TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH. */
  TEMPORAL_TLS_CERT: filePath.optional(),
  TEMPORAL_TLS_KEY: filePath.optional(),
  TEMPORAL_TLS_CA: filePath.optional(),

  /** A JSON or YAML file with any of these settings (not secrets); the environment wins over it. */
  NIGHTSHIFT_CONFIG_FILE: filePath.optional(),
  NIGHTSHIFT_INVENTORY: filePath.default('examples/fleet.yaml'),
  NIGHTSHIFT_PLATFORM: z.enum(['simulated', 'kubernetes']).default('simulated'),
  /** Platform `kubernetes`: a kubeconfig file; unset: the in-cluster service account, else $KUBECONFIG or ~/.kube/config. */
  NIGHTSHIFT_K8S_KUBECONFIG: filePath.optional(),
  NIGHTSHIFT_K8S_CONTEXT: z.string().min(1).optional(),
  NIGHTSHIFT_K8S_IMAGE_DASHBOARD: z.string().min(1).default('tykio/tyk-dashboard'),
  NIGHTSHIFT_K8S_IMAGE_GATEWAY: z.string().min(1).default('docker.tyk.io/tyk-gateway/tyk-gateway'),
  NIGHTSHIFT_K8S_POLL_MS: positiveInt.default(2000),
  /** A safety net beyond the Deployment's own progressDeadlineSeconds. */
  NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT: duration.default(15),
  NIGHTSHIFT_HEALTH_TIMEOUT_MS: positiveInt.default(5000),
  /** URL of a simulated fleet running elsewhere; when unset the worker runs one in-process. */
  NIGHTSHIFT_SIM_URL: z.url().optional(),
  NIGHTSHIFT_SIM_STATE: filePath.default('.data/fleet-state.json'),
  NIGHTSHIFT_SIM_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  NIGHTSHIFT_SIM_ROLLOUT_MS: z.coerce.number().int().min(0).default(2000),
  NIGHTSHIFT_NOTIFIER: z.enum(['outbox', 'hubspot']).default('outbox'),
  NIGHTSHIFT_OUTBOX: filePath.default('.data/outbox.jsonl'),
  NIGHTSHIFT_HUBSPOT_BASE_URL: z.url().default('https://api.hubapi.com'),
  /** Sender address of the transactional emails (must be a verified sender in HubSpot); unset: the template's. */
  NIGHTSHIFT_HUBSPOT_FROM: z.email().optional(),
  /** One transactional email template per notice kind: `scheduled=101,rescheduled=102,...`. */
  NIGHTSHIFT_HUBSPOT_TEMPLATES: z
    .string()
    .transform((v, ctx) => {
      const templates: Partial<Record<NoticeKind, number>> = {};
      for (const part of v
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const m = /^([a-z-]+)=(\d+)$/.exec(part);
        if (!m || !(NOTICE_KINDS as readonly string[]).includes(m[1]!)) {
          ctx.addIssue({ code: 'custom', message: `"${part}" is not <notice kind>=<template id>` });
          return z.NEVER;
        }
        templates[m[1] as NoticeKind] = Number(m[2]);
      }
      const missing = NOTICE_KINDS.filter((k) => templates[k] === undefined);
      if (missing.length) {
        ctx.addIssue({ code: 'custom', message: `no template for ${missing.join(', ')} (one per notice kind)` });
        return z.NEVER;
      }
      return templates as Record<NoticeKind, number>;
    })
    .optional(),
  NIGHTSHIFT_HUBSPOT_TIMEOUT_MS: positiveInt.default(10_000),
  /** Where SRE alerts go: any of log, pagerduty, slack, comma-separated. */
  NIGHTSHIFT_ALERTER: z
    .string()
    .transform((v, ctx) => {
      const list = [
        ...new Set(
          v
            .split(',')
            .map((p) => p.trim())
            .filter(Boolean),
        ),
      ];
      const bad = list.filter((a) => !(ALERTERS as readonly string[]).includes(a));
      if (bad.length || list.length === 0) {
        ctx.addIssue({ code: 'custom', message: `must list some of ${ALERTERS.join(', ')}, comma-separated` });
        return z.NEVER;
      }
      return list as Alerter[];
    })
    .default(['log']),
  NIGHTSHIFT_ALERT_LOG: filePath.default('.data/alerts.jsonl'),
  NIGHTSHIFT_PAGERDUTY_URL: z.url().default('https://events.pagerduty.com'),
  /** The least severe alert that pages (critical, error, warning, info). */
  NIGHTSHIFT_PAGERDUTY_MIN_SEVERITY: z.enum(['critical', 'error', 'warning', 'info']).default('error'),
  NIGHTSHIFT_SLACK_MIN_SEVERITY: z.enum(['critical', 'error', 'warning', 'info']).default('info'),
  /** The Temporal Web UI, for links in alerts, e.g. https://cloud.temporal.io or http://localhost:8233. */
  NIGHTSHIFT_UI_URL: z.url().optional(),
  NIGHTSHIFT_ALERT_TIMEOUT_MS: positiveInt.default(10_000),

  // Secrets: from the environment or from a file named by <NAME>_FILE, never from NIGHTSHIFT_CONFIG_FILE. No rule
  // here may fail on their value, since a failing rule echoes the value.
  NIGHTSHIFT_HUBSPOT_TOKEN: z.string().optional(),
  /** A client key as PEM text (prefer TEMPORAL_TLS_CLIENT_KEY_PATH, a mounted Secret). */
  TEMPORAL_TLS_CLIENT_KEY_DATA: z.string().optional(),
  NIGHTSHIFT_PAGERDUTY_ROUTING_KEY: z.string().optional(),
  NIGHTSHIFT_SLACK_WEBHOOK_URL: z.string().optional(),

  NIGHTSHIFT_NOTICE_LEAD_PRODUCTION: duration.optional(),
  NIGHTSHIFT_NOTICE_LEAD_STAGING: duration.optional(),
  NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: duration.optional(),
  NIGHTSHIFT_SECURITY_LEAD_PRODUCTION: duration.optional(),
  NIGHTSHIFT_SECURITY_LEAD_STAGING: duration.optional(),
  NIGHTSHIFT_SECURITY_LEAD_DEVELOPMENT: duration.optional(),
  NIGHTSHIFT_VERIFY_PASSES: positiveInt.optional(),
  NIGHTSHIFT_VERIFY_INTERVAL_MS: positiveInt.optional(),
  NIGHTSHIFT_VERIFY_SOAK_MS: z.coerce.number().int().min(0).optional(),
  NIGHTSHIFT_VERIFY_TIMEOUT_MS: positiveInt.optional(),
  NIGHTSHIFT_TYK_CHECK_DURATION_MS: positiveInt.optional(),
  /** Where the worker serves Prometheus metrics (`http://<address>/metrics`); unset: no metrics endpoint. */
  NIGHTSHIFT_METRICS_ADDRESS: socketAddress.optional(),
  /** Where the worker answers /livez and /readyz (worker/health.ts); unset: no health endpoint. */
  NIGHTSHIFT_HEALTH_ADDRESS: socketAddress.optional(),
  /** On SIGTERM, how long running activities get to finish before they are cancelled (shutdownGraceTime; minutes). */
  NIGHTSHIFT_SHUTDOWN_GRACE: duration.default(1),
  /**
   * Control-plane workflows the main worker keeps in memory (Temporal's sticky cache). A workflow not cached replays
   * its history (one attempt's, ~100 events) on its next task; the SDK's default, sized from the heap (~2,300 here),
   * kept ~0.5 MiB per parked control plane that will not wake for days (docs/scale.md).
   */
  NIGHTSHIFT_WORKFLOW_CACHE_SIZE: z.coerce.number().int().min(2).default(DEFAULT_WORKFLOW_CACHE_SIZE),

  /** `npm run webhook`: where it listens, and the shared secrets senders sign with (comma-separated, for rotation). */
  NIGHTSHIFT_WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  NIGHTSHIFT_WEBHOOK_HOST: z.string().min(1).default('127.0.0.1'),
  // Never fails validation: a failing rule would echo the value, and the value is a secret.
  NIGHTSHIFT_WEBHOOK_SECRETS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .default([]),

  /** Payload encryption (integrations/encryptionCodec.ts): `id:base64key,...` (a secret) and the current key's id. */
  NIGHTSHIFT_ENCRYPTION_KEYS: z.string().optional(),
  NIGHTSHIFT_ENCRYPTION_KEY_ID: z.string().optional(),
  /** `npm run codec-server`: where it listens, the Web UI origin it serves, and its bearer token (a secret). */
  NIGHTSHIFT_CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  NIGHTSHIFT_CODEC_SERVER_PORT: z.coerce.number().int().min(0).max(65535).default(8888),
  NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN: z
    .string()
    .refine(
      (v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol) && new URL(v).origin === v.replace(/\/$/, ''),
      'must be the Web UI origin: http(s)://host[:port], no path',
    )
    .transform((v) => v.replace(/\/$/, ''))
    .default('http://localhost:8233'),
  // Never fails validation (a failing rule would echo the secret); npm run codec-server checks its length.
  NIGHTSHIFT_CODEC_SERVER_TOKEN: z.string().optional(),
});

export type Config = z.output<typeof ConfigSchema> & {
  policy: UpgradePolicy;
  /** NIGHTSHIFT_FLEET_TASK_QUEUE, or `<TEMPORAL_TASK_QUEUE>-fleet`: where fleet rollouts are started and polled. */
  fleetTaskQueue: string;
  /** The Temporal profile and TLS the connection uses (config/temporalConnection.ts). */
  temporal: TemporalProfile;
};

/** Settings that hold secrets: each may also come from a file named by `<NAME>_FILE` (e.g. a mounted Secret). */
export const SECRET_SETTINGS = [
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'NIGHTSHIFT_WEBHOOK_SECRETS',
  'NIGHTSHIFT_HUBSPOT_TOKEN',
  'NIGHTSHIFT_PAGERDUTY_ROUTING_KEY',
  'NIGHTSHIFT_SLACK_WEBHOOK_URL',
  'NIGHTSHIFT_ENCRYPTION_KEYS',
  'NIGHTSHIFT_CODEC_SERVER_TOKEN',
] as const;

/** Read by the test suite, `npm run setup` and the demo, not by the worker: allowed in the environment. */
const TOOL_SETTINGS = [
  'NIGHTSHIFT_UI_TEST',
  'NIGHTSHIFT_REAL_KUBE',
  'NIGHTSHIFT_KUBE_CACHE',
  'NIGHTSHIFT_DEMO_EXIT_WHEN_SETTLED',
  'TEMPORAL_CLI_PATH',
  'TEMPORAL_TEST_SERVER_PATH',
];

function fail(message: string): never {
  throw new Error(`configuration: ${message}`);
}

/** The settings in NIGHTSHIFT_CONFIG_FILE, as strings like the environment's. */
function readConfigFile(file: string, known: Set<string>): Record<string, string> {
  if (!fs.existsSync(file)) fail(`NIGHTSHIFT_CONFIG_FILE = ${JSON.stringify(file)}: no such file`);
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    fail(
      `NIGHTSHIFT_CONFIG_FILE = ${JSON.stringify(file)}: not JSON or YAML (${(err as Error).message.split('\n')[0]})`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    fail(`NIGHTSHIFT_CONFIG_FILE = ${JSON.stringify(file)}: must be a mapping of setting names to values`);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if ((SECRET_SETTINGS as readonly string[]).includes(key))
      fail(`${file}: ${key} is a secret; set it in the environment, or name a file holding it with ${key}_FILE`);
    if (!known.has(key) || key === 'NIGHTSHIFT_CONFIG_FILE') fail(`${file}: unknown setting ${key} — see .env.example`);
    if (value === null || value === undefined) continue;
    if (typeof value === 'object') fail(`${file}: ${key} must be a string, number or boolean`);
    out[key] = String(value);
  }
  return out;
}

/** Moves `<SECRET>_FILE` contents into `<SECRET>`; both set is a mistake worth stopping for. */
function readSecretFiles(settings: Record<string, string>): void {
  for (const name of SECRET_SETTINGS) {
    const file = settings[`${name}_FILE`];
    if (file === undefined) continue;
    delete settings[`${name}_FILE`];
    if (settings[name] !== undefined) fail(`set ${name} or ${name}_FILE, not both`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      fail(
        `${name}_FILE = ${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    settings[name] = text.trim();
  }
}

/** What the chosen adapters need; a secret is named, never shown. */
function checkAdapters(c: z.output<typeof ConfigSchema>): void {
  if (c.NIGHTSHIFT_NOTIFIER === 'hubspot') {
    if (!c.NIGHTSHIFT_HUBSPOT_TOKEN)
      fail(
        'NIGHTSHIFT_NOTIFIER=hubspot needs NIGHTSHIFT_HUBSPOT_TOKEN (a private app token with the transactional-email and crm.objects.contacts.write scopes), or NIGHTSHIFT_HUBSPOT_TOKEN_FILE',
      );
    if (!c.NIGHTSHIFT_HUBSPOT_TEMPLATES)
      fail(
        `NIGHTSHIFT_NOTIFIER=hubspot needs NIGHTSHIFT_HUBSPOT_TEMPLATES: ${NOTICE_KINDS.map((k) => `${k}=<template id>`).join(',')}`,
      );
  }
  if (c.NIGHTSHIFT_ALERTER.includes('pagerduty') && !c.NIGHTSHIFT_PAGERDUTY_ROUTING_KEY)
    fail(
      'NIGHTSHIFT_ALERTER includes pagerduty: set NIGHTSHIFT_PAGERDUTY_ROUTING_KEY (an Events API v2 integration key), or NIGHTSHIFT_PAGERDUTY_ROUTING_KEY_FILE',
    );
  if (c.NIGHTSHIFT_ALERTER.includes('slack')) {
    const url = c.NIGHTSHIFT_SLACK_WEBHOOK_URL;
    if (!url)
      fail(
        'NIGHTSHIFT_ALERTER includes slack: set NIGHTSHIFT_SLACK_WEBHOOK_URL (an incoming webhook URL), or NIGHTSHIFT_SLACK_WEBHOOK_URL_FILE',
      );
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      fail('NIGHTSHIFT_SLACK_WEBHOOK_URL is not an http(s) URL (value not shown: it is a secret)');
  }
}

/**
 * Reads the configuration from an environment (process.env by default); throws ValidationError naming the variable.
 * `warn` gets one line per deprecated setting in use (default: stderr).
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  opts: { warn?: (line: string) => void } = {},
): Config {
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const fromEnv = Object.fromEntries(
    Object.entries(env).filter(
      ([k, v]) =>
        (k.startsWith('TEMPORAL_') || k.startsWith('NIGHTSHIFT_')) &&
        !TOOL_SETTINGS.includes(k) &&
        v !== undefined &&
        v !== '',
    ),
  ) as Record<string, string>;
  const known = new Set([...Object.keys(ConfigSchema.shape), ...SECRET_SETTINGS.map((s) => `${s}_FILE`)]);
  // Unknown TEMPORAL_* names are errors, not warnings: a misspelt TLS variable would otherwise connect without the
  // client certificate or CA it names, and a start that stops naming the variable is cheaper than a silent downgrade.
  const unknown = Object.keys(fromEnv).filter((k) => !known.has(k) && !k.startsWith(GRPC_META_PREFIX));
  if (unknown.length > 0) {
    const why = unknown.filter((k) => UNSUPPORTED_TEMPORAL_VARIABLES[k]);
    fail(
      `unknown setting(s) ${unknown.join(', ')} — see .env.example for the list${why.map((k) => `; ${k}: ${UNSUPPORTED_TEMPORAL_VARIABLES[k]}`).join('')}`,
    );
  }
  const configFile = fromEnv.NIGHTSHIFT_CONFIG_FILE;
  const relevant = { ...(configFile ? readConfigFile(configFile, known) : {}), ...fromEnv };
  readSecretFiles(relevant);
  const source = configFile ? `configuration (environment and ${configFile})` : 'configuration (environment)';
  const parsed = parseWith(ConfigSchema.strip(), relevant, source);
  const aliased = applyDeprecatedAliases(relevant, warn);
  const resolved = resolveTemporalConnection(aliased.settings, { home: env, usedName: aliased.usedName });
  parsed.TEMPORAL_ADDRESS = resolved.address ?? parsed.TEMPORAL_ADDRESS;
  parsed.TEMPORAL_NAMESPACE = resolved.namespace ?? parsed.TEMPORAL_NAMESPACE;
  parsed.TEMPORAL_API_KEY = resolved.apiKey ?? parsed.TEMPORAL_API_KEY;
  checkAdapters(parsed);
  parseEncryptionSettings(parsed); // throws naming the variable and key id, never key material
  for (const name of ['NIGHTSHIFT_K8S_KUBECONFIG'] as const) {
    const file = parsed[name];
    if (file && !fs.existsSync(file)) throw new Error(`configuration: ${name} = ${JSON.stringify(file)}: no such file`);
  }
  const d = DEFAULT_POLICY;
  const policy: UpgradePolicy = {
    ...d,
    noticeLeadMinutes: {
      production: parsed.NIGHTSHIFT_NOTICE_LEAD_PRODUCTION ?? d.noticeLeadMinutes.production,
      staging: parsed.NIGHTSHIFT_NOTICE_LEAD_STAGING ?? d.noticeLeadMinutes.staging,
      development: parsed.NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT ?? d.noticeLeadMinutes.development,
    },
    securityNoticeLeadMinutes: {
      production: parsed.NIGHTSHIFT_SECURITY_LEAD_PRODUCTION ?? d.securityNoticeLeadMinutes.production,
      staging: parsed.NIGHTSHIFT_SECURITY_LEAD_STAGING ?? d.securityNoticeLeadMinutes.staging,
      development: parsed.NIGHTSHIFT_SECURITY_LEAD_DEVELOPMENT ?? d.securityNoticeLeadMinutes.development,
    },
    verify: {
      consecutivePasses: parsed.NIGHTSHIFT_VERIFY_PASSES ?? d.verify.consecutivePasses,
      intervalMs: parsed.NIGHTSHIFT_VERIFY_INTERVAL_MS ?? d.verify.intervalMs,
      soakMs: parsed.NIGHTSHIFT_VERIFY_SOAK_MS ?? d.verify.soakMs,
      timeoutMs: parsed.NIGHTSHIFT_VERIFY_TIMEOUT_MS ?? d.verify.timeoutMs,
      checkDurationMs: parsed.NIGHTSHIFT_TYK_CHECK_DURATION_MS ?? d.verify.checkDurationMs,
    },
  };
  const v = policy.verify;
  if ((v.checkDurationMs ?? 0) >= v.timeoutMs)
    throw new Error(
      `configuration: NIGHTSHIFT_TYK_CHECK_DURATION_MS = ${v.checkDurationMs} must be shorter than NIGHTSHIFT_VERIFY_TIMEOUT_MS = ${v.timeoutMs} (a Gateway's soak lasts at least one Tyk check_duration)`,
    );
  if (v.soakMs >= v.timeoutMs)
    throw new Error(
      `configuration: NIGHTSHIFT_VERIFY_SOAK_MS = ${v.soakMs} must be shorter than NIGHTSHIFT_VERIFY_TIMEOUT_MS = ${v.timeoutMs} (the soak has to fit in the verification's time)`,
    );
  // Limits set by the activities' own timeouts (workflows/upgrade.ts): a setting beyond them would end
  // in a Temporal timeout and a retry instead of the clear failure the setting asks for.
  // The verify activity heartbeats once per probe (heartbeat timeout 1 minute); it may run 20 minutes.
  if (v.intervalMs > 30_000)
    throw new Error(`configuration: NIGHTSHIFT_VERIFY_INTERVAL_MS = ${v.intervalMs} must be at most 30000`);
  if (parsed.NIGHTSHIFT_HEALTH_TIMEOUT_MS > 20_000)
    fail(
      `NIGHTSHIFT_HEALTH_TIMEOUT_MS = ${parsed.NIGHTSHIFT_HEALTH_TIMEOUT_MS} must be at most 20000 (a probe must fit between heartbeats)`,
    );
  if (v.timeoutMs > 18 * 60_000)
    fail(
      `NIGHTSHIFT_VERIFY_TIMEOUT_MS = ${v.timeoutMs} must be at most 1080000 (18 minutes; the verify activity may run 20)`,
    );
  if (parsed.NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT > 28)
    fail(
      `NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT = ${parsed.NIGHTSHIFT_K8S_ROLLOUT_TIMEOUT} minutes must be at most 28m (the rollout activity may run 30)`,
    );
  return {
    ...parsed,
    NIGHTSHIFT_INVENTORY: path.resolve(parsed.NIGHTSHIFT_INVENTORY),
    policy,
    fleetTaskQueue: parsed.NIGHTSHIFT_FLEET_TASK_QUEUE ?? fleetTaskQueueOf(parsed.TEMPORAL_TASK_QUEUE),
    temporal: resolved.temporal,
  };
}

/** The default fleet task queue for a main task queue. */
export function fleetTaskQueueOf(taskQueue: string): string {
  return `${taskQueue}-fleet`;
}
