import { z } from 'zod';
import { VersionString } from './inventory';
import { RolloutPolicySchema } from './rollout';
import { isValidRange } from './versions';

export const RELEASE_KINDS = ['lts', 'security'] as const;
export type ReleaseKind = (typeof RELEASE_KINDS)[number];

export const ReleaseSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, dot, dash, underscore (max 63), e.g. lts-5.8.2'),
    kind: z.enum(RELEASE_KINDS),
    targets: z.object({ dashboard: VersionString, gateway: VersionString }).strict(),
    /** Security releases: the semver range of affected versions, e.g. `>=5.3.0 <5.3.9 || >=5.8.0 <5.8.2`. */
    affected: z.string().refine(isValidRange, 'not a semver range such as ">=5.3.0 <5.3.9"').optional(),
    /** Goes into every customer email, so only https links. */
    notesUrl: z.url({ protocol: /^https$/, message: 'not an https URL' }),
    publishedAt: z.iso.datetime({ offset: true, message: 'not an ISO-8601 instant' }).optional(),
    /** LTS lines eligible for an LTS upgrade; defaults to Tyk's (5.0, 5.3, 5.8). */
    ltsLines: z
      .array(z.string().regex(/^(0|[1-9]\d*)\.(0|[1-9]\d*)$/, 'a release line such as 5.8'))
      .min(1, 'name at least one LTS line')
      .optional(),
    /** How this release rolls across the fleet (canary wave, bake time, concurrency, failure budget). */
    rollout: RolloutPolicySchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.kind === 'security' && !r.affected)
      ctx.addIssue({
        code: 'custom',
        path: ['affected'],
        message: 'a security release must name the affected version range',
      });
    if (r.kind === 'lts' && r.affected)
      ctx.addIssue({ code: 'custom', path: ['affected'], message: 'only security releases have an affected range' });
  });
export type Release = z.output<typeof ReleaseSchema>;
