// The worker's whole configuration, from environment variables, validated once at start. A bad setting stops the
// worker with the variable's name and value; secrets are read from the environment or files, never from workflow
// inputs.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_POLICY, type UpgradePolicy } from '../domain/policy';
import { parseWith } from '../domain/validation';
import { TASK_QUEUE_DEFAULT } from '../workflows/messages';
import { parseMinutes } from './duration';

const duration = z
  .string()
  .refine((v) => parseMinutes(v) !== undefined, 'must be a duration such as 0, 90s, 15m, 2h or 7d')
  .transform((v) => parseMinutes(v)!);
const positiveInt = z.coerce.number().int().positive();
const filePath = z.string().min(1);
/** An IP address and a port (the SDK's Prometheus exporter binds a socket address, so no host names). */
const socketAddress = z.string().refine((v) => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  if (!m) return false;
  const [, ipv6, ipv4, port] = m;
  const ipOk = ipv6 !== undefined ? net.isIPv6(ipv6) : net.isIPv4(ipv4 ?? '');
  return ipOk && Number(port) >= 1 && Number(port) <= 65535;
}, 'must be an IP address and a port, such as 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464');

export const ConfigSchema = z.object({
  TEMPORAL_ADDRESS: z.string().default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default(TASK_QUEUE_DEFAULT),
  /** Temporal Cloud API key (implies TLS). */
  TEMPORAL_API_KEY: z.string().optional(),
  /** mTLS client certificate and key (PEM files), e.g. for Temporal Cloud or a TLS-enabled cluster. */
  TEMPORAL_TLS_CERT: filePath.optional(),
  TEMPORAL_TLS_KEY: filePath.optional(),
  TEMPORAL_TLS_CA: filePath.optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),

  NIGHTSHIFT_INVENTORY: filePath.default('examples/fleet.yaml'),
  NIGHTSHIFT_PLATFORM: z.enum(['simulated']).default('simulated'),
  /** URL of a simulated fleet running elsewhere; when unset the worker runs one in-process. */
  NIGHTSHIFT_SIM_URL: z.url().optional(),
  NIGHTSHIFT_SIM_STATE: filePath.default('.data/fleet-state.json'),
  NIGHTSHIFT_SIM_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  NIGHTSHIFT_SIM_ROLLOUT_MS: z.coerce.number().int().min(0).default(2000),
  NIGHTSHIFT_NOTIFIER: z.enum(['outbox']).default('outbox'),
  NIGHTSHIFT_OUTBOX: filePath.default('.data/outbox.jsonl'),
  NIGHTSHIFT_ALERTER: z.enum(['log']).default('log'),
  NIGHTSHIFT_ALERT_LOG: filePath.default('.data/alerts.jsonl'),

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
  /** Where the worker serves Prometheus metrics (`http://<address>/metrics`); unset: no metrics endpoint. */
  NIGHTSHIFT_METRICS_ADDRESS: socketAddress.optional(),

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
});

export type Config = z.output<typeof ConfigSchema> & { policy: UpgradePolicy };

/** Reads the configuration from an environment (process.env by default); throws ValidationError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant = Object.fromEntries(
    Object.entries(env).filter(
      ([k, v]) => (k.startsWith('TEMPORAL_') || k.startsWith('NIGHTSHIFT_')) && v !== undefined && v !== '',
    ),
  );
  const known = new Set(Object.keys(ConfigSchema.shape));
  const unknown = Object.keys(relevant).filter((k) => k.startsWith('NIGHTSHIFT_') && !known.has(k));
  if (unknown.length > 0) {
    throw new Error(`configuration: unknown setting(s) ${unknown.join(', ')} — see .env.example for the list`);
  }
  const parsed = parseWith(ConfigSchema.strip(), relevant, 'configuration (environment)');
  for (const [cert, key] of [['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY'] as const]) {
    if (Boolean(parsed[cert]) !== Boolean(parsed[key]))
      throw new Error(`configuration: set both ${cert} and ${key}, or neither`);
  }
  for (const name of ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA'] as const) {
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
    },
  };
  const v = policy.verify;
  if (v.soakMs >= v.timeoutMs)
    throw new Error(
      `configuration: NIGHTSHIFT_VERIFY_SOAK_MS = ${v.soakMs} must be shorter than NIGHTSHIFT_VERIFY_TIMEOUT_MS = ${v.timeoutMs} (the soak has to fit in the verification's time)`,
    );
  // The verify activity heartbeats once per probe and its heartbeat timeout is one minute.
  if (v.intervalMs > 30_000)
    throw new Error(`configuration: NIGHTSHIFT_VERIFY_INTERVAL_MS = ${v.intervalMs} must be at most 30000`);
  return { ...parsed, NIGHTSHIFT_INVENTORY: path.resolve(parsed.NIGHTSHIFT_INVENTORY), policy };
}
