import { z } from 'zod';
import { isKnownTimeZone } from './timezone';
import { isVersion, normalizeVersion } from './versions';

export const TIERS = ['production', 'staging', 'development'] as const;
export type Tier = (typeof TIERS)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const id = (what: string) =>
  z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9-]{0,62}$/,
      `${what} must be lower-case letters, digits and dashes (max 63), e.g. cp-acme-eu`,
    );

export const VersionString = z
  .string()
  .refine(isVersion, 'not a semantic version such as 5.8.2 or v5.8.2')
  .transform((v) => normalizeVersion(v)!);

const LocalDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a local date YYYY-MM-DD')
  .refine(
    (d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d),
    'not a real calendar date',
  );

/** `first sunday`, `second tuesday`, `last saturday`, or `day 15`. */
export const MONTHLY_PATTERN =
  /^(?:(first|second|third|fourth|last) (monday|tuesday|wednesday|thursday|friday|saturday|sunday)|day ([1-9]|[12]\d|3[01]))$/;

export const WindowSpecSchema = z
  .object({
    timeZone: z.string().refine(isKnownTimeZone, 'not a known IANA time zone such as Europe/Berlin'),
    /** Local wall-clock start, 24h `HH:MM`. */
    start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time HH:MM (24h), e.g. 01:00'),
    /** Wall-clock length: a 01:00 window of 240 minutes closes at 05:00 local, even on a DST night. */
    durationMinutes: z
      .number()
      .int()
      .min(30, 'at least 30 minutes')
      .max(24 * 60, 'at most 1440 minutes (24h)'),
    weekly: z
      .object({ days: z.array(z.enum(WEEKDAYS)).min(1, 'name at least one day') })
      .strict()
      .optional(),
    monthly: z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .refine((s) => MONTHLY_PATTERN.test(s), 'must be like "first sunday", "last saturday" or "day 15"')
      .optional(),
  })
  .strict()
  .refine((w) => (w.weekly ? 1 : 0) + (w.monthly ? 1 : 0) === 1, {
    message: 'give exactly one of weekly or monthly',
    path: ['weekly'],
  });
export type WindowSpec = z.output<typeof WindowSpecSchema>;

export const BlackoutSchema = z
  .object({ from: LocalDate, to: LocalDate, reason: z.string().optional() })
  .strict()
  .refine((b) => b.from <= b.to, { message: 'from must not be after to', path: ['to'] });
/** Inclusive local dates, in the control plane's own time zone. */
export type Blackout = z.output<typeof BlackoutSchema>;

/** `degraded` warns on every version (a slow dependency, not the release); the others only after an upgrade. */
export const SIMULATED_FAULTS = [
  'fail-after-upgrade',
  'warn-after-upgrade',
  'upgrade-error',
  'unreachable',
  'degraded',
  'slow-rollout',
] as const;
export type SimulatedFault = (typeof SIMULATED_FAULTS)[number];

/** A Kubernetes object name (RFC 1123 label: what namespaces, Deployments and containers must be). */
const k8sName = (what: string) =>
  z
    .string()
    .regex(
      /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
      `${what} must be a Kubernetes name: lower-case letters, digits, '-'`,
    );

const KubeComponentSchema = z
  .object({
    /** Defaults to the Tyk Helm chart's name for the component, from `release`. */
    deployment: k8sName('deployment').optional(),
    container: k8sName('container').optional(),
    /** The component's Tyk health endpoint (`/hello`), as the worker can reach it. */
    healthUrl: z.url('not a URL such as http://gateway-svc.tyk.svc:8080/hello').optional(),
  })
  .strict();

/** Where a control plane runs on Kubernetes (platform `kubernetes`); data planes may sit in other namespaces. */
export const KubernetesPlacementSchema = z
  .object({
    namespace: k8sName('namespace'),
    /** The Helm release of the Tyk charts: names the Deployments (`gateway-<release>-tyk-gateway`, ...). */
    release: k8sName('release'),
    dashboard: KubeComponentSchema.default({}),
    gateway: KubeComponentSchema.extend({
      /** The ConfigMap holding the Gateway's configuration file: migrated with the upgrade, restored by rollback. */
      configMap: z
        .object({ name: k8sName('configMap.name'), key: z.string().min(1).default('tyk.conf') })
        .strict()
        .optional(),
    })
      .strict()
      .default({}),
    dataPlanes: z
      .record(
        z.string(),
        KubeComponentSchema.extend({
          namespace: k8sName('namespace').optional(),
          release: k8sName('release').optional(),
        }).strict(),
      )
      .default({}),
  })
  .strict();
export type KubernetesPlacement = z.output<typeof KubernetesPlacementSchema>;

export const DataPlaneSchema = z
  .object({ id: id('data plane id'), region: z.string().optional(), version: VersionString })
  .strict();

export const ControlPlaneSchema = z
  .object({
    id: id('control plane id'),
    orgId: id('org id'),
    name: z.string().optional(),
    tier: z.enum(TIERS),
    autoUpgrade: z.boolean(),
    hybrid: z.boolean().default(false),
    plugins: z.boolean().default(false),
    dashboard: z.object({ version: VersionString }).strict(),
    gateway: z.object({ version: VersionString }).strict(),
    dataPlanes: z.array(DataPlaneSchema).default([]),
    window: WindowSpecSchema,
    blackouts: z.array(BlackoutSchema).default([]),
    labels: z.array(z.string()).default([]),
    /** Gateway configuration keys in use (tyk.conf), checked against the version matrix before an upgrade. */
    config: z.record(z.string(), z.unknown()).default({}),
    /** Platform `kubernetes`: namespace, Helm release and health endpoints of each component. */
    kubernetes: KubernetesPlacementSchema.optional(),
    /** Simulated platform only: faults to inject, keyed by component (`dashboard`, `gateway` or a data-plane id). */
    simulate: z
      .object({ faults: z.record(z.string(), z.enum(SIMULATED_FAULTS)).default({}) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((cp, ctx) => {
    const seen = new Set<string>();
    cp.dataPlanes.forEach((dp, i) => {
      if (dp.id === 'dashboard' || dp.id === 'gateway')
        ctx.addIssue({ code: 'custom', path: ['dataPlanes', i, 'id'], message: `'${dp.id}' is reserved` });
      if (seen.has(dp.id))
        ctx.addIssue({ code: 'custom', path: ['dataPlanes', i, 'id'], message: 'duplicate data plane id' });
      seen.add(dp.id);
    });
    for (const key of Object.keys(cp.kubernetes?.dataPlanes ?? {})) {
      if (!seen.has(key))
        ctx.addIssue({ code: 'custom', path: ['kubernetes', 'dataPlanes', key], message: 'no such data plane' });
    }
    for (const key of Object.keys(cp.simulate?.faults ?? {})) {
      if (key !== 'dashboard' && key !== 'gateway' && !seen.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['simulate', 'faults', key],
          message: 'no such component in this control plane',
        });
    }
  });
export type ControlPlane = z.output<typeof ControlPlaneSchema>;

export const OrgSchema = z
  .object({
    id: id('org id'),
    name: z.string().min(1),
    admin: z.object({ email: z.email('not an email address'), name: z.string().min(1) }).strict(),
  })
  .strict();
export type Org = z.output<typeof OrgSchema>;

export const InventorySchema = z
  .object({ orgs: z.array(OrgSchema), controlPlanes: z.array(ControlPlaneSchema) })
  .strict()
  .superRefine((inv, ctx) => {
    const orgIds = new Set<string>();
    inv.orgs.forEach((o, i) => {
      if (orgIds.has(o.id)) ctx.addIssue({ code: 'custom', path: ['orgs', i, 'id'], message: 'duplicate org id' });
      orgIds.add(o.id);
    });
    const cpIds = new Set<string>();
    inv.controlPlanes.forEach((cp, i) => {
      if (cpIds.has(cp.id))
        ctx.addIssue({ code: 'custom', path: ['controlPlanes', i, 'id'], message: 'duplicate control plane id' });
      cpIds.add(cp.id);
      if (!orgIds.has(cp.orgId))
        ctx.addIssue({ code: 'custom', path: ['controlPlanes', i, 'orgId'], message: 'no org with this id in orgs' });
    });
  });
export type Inventory = z.output<typeof InventorySchema>;
