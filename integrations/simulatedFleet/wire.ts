// What the simulated fleet's server (server.ts) and its platform adapter (adapter.ts) exchange over HTTP, and the
// audit log's lines. One listener serves every component by path:
//
//   GET  /cp/<cp>/<component>/hello    what Tyk answers there (server.ts, and docs/decisions/0009-tyk-health.md)
//   GET  /cp/<cp>/<component>          the component's state (version, config, rollout, last rollout, generation)
//   POST /cp/<cp>/<component>/deploy   {"version":"5.8.2","requestId":"...","config":{...}} starts a rollout taking
//                                      rolloutMs; `config` (optional) replaces the configuration when it succeeds
//   PUT  /cp/<cp>/<component>/fault    {"fault":"warn-after-upgrade"} or {"fault":null}: inject or clear a fault
//   GET  /state                        every component
//
// <component> is `dashboard`, `gateway` or a data plane's id.
import { z } from 'zod';
import type { ChangeRequester } from '../../activities/ports';
import type { SimulatedFault } from '../../domain/inventory';
import type { ComponentKind, ComponentRef } from '../../domain/model';

export type { SimulatedFault } from '../../domain/inventory';

export const KINDS = ['dashboard', 'gateway', 'data-plane'] as const satisfies readonly ComponentKind[];

export const ConfigSchema = z.record(z.string(), z.unknown());
export type Config = z.infer<typeof ConfigSchema>;

export const RolloutSchema = z.object({
  generation: z.number().int(),
  fromVersion: z.string(),
  toVersion: z.string(),
  /** The configuration the component runs once this rollout succeeds; absent: it keeps its configuration. */
  config: ConfigSchema.optional(),
  requestId: z.string().optional(),
  startedAt: z.string(),
  doneAt: z.string(),
});

export const FinishedRolloutSchema = RolloutSchema.extend({
  outcome: z.enum(['succeeded', 'failed', 'superseded']),
  finishedAt: z.string(),
  /** Kubernetes-style reason, e.g. ProgressDeadlineExceeded. */
  reason: z.string().optional(),
  message: z.string().optional(),
});

export const ComponentStateSchema = z.object({
  controlPlaneId: z.string(),
  componentId: z.string(),
  kind: z.enum(KINDS),
  /** The version in the inventory when the fleet first saw the component; faults trigger on any other version. */
  initialVersion: z.string(),
  version: z.string(),
  previousVersion: z.string().nullable(),
  /** The configuration it runs (tyk.conf keys); absent only in state files written before it was kept. */
  config: ConfigSchema.optional(),
  /** The rollout in progress, or null. */
  rollout: RolloutSchema.nullable(),
  /** The last rollout that finished, with its outcome, or null. */
  lastRollout: FinishedRolloutSchema.nullable(),
  /** Incremented by every deploy that starts a rollout. */
  deployGeneration: z.number().int(),
});

/** `requestedBy` in a deploy request: the workflow and activity attempt that asked. */
export const RequesterSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  activityType: z.string(),
  attempt: z.number().int(),
  scheduledAt: z.string(),
});

export type SimulatedRollout = z.infer<typeof RolloutSchema>;
export type SimulatedFinishedRollout = z.infer<typeof FinishedRolloutSchema>;
export type StoredComponentState = z.infer<typeof ComponentStateSchema> & { config: Config };

/** A component as the admin API reports it. */
export interface SimulatedComponentState extends StoredComponentState {
  fault: SimulatedFault | null;
}

export interface SimulatedFleetState {
  components: SimulatedComponentState[];
}

/** The answer to POST …/deploy. */
export interface DeployResponse {
  changed: boolean;
  /** Why nothing changed, or what started. */
  message: string;
  state: SimulatedComponentState;
}

/** One line of the audit log. */
export type SimulatedAuditEntry =
  | {
      event: 'deploy';
      at: string;
      controlPlaneId: string;
      componentId: string;
      kind: ComponentKind;
      /** The version running when the request came. */
      from: string;
      to: string;
      /** Whether the request came with a configuration other than the one running. */
      configChange: boolean;
      /** `started`: a rollout began (superseding one in progress when `supersedes` is set); `no-op`: nothing to do. */
      result: 'started' | 'no-op';
      generation?: number;
      supersedes?: number;
      requestId?: string;
      requestedBy?: ChangeRequester;
    }
  | {
      event: 'finished';
      /** When the rollout finished (its doneAt), not when the fleet noticed. */
      at: string;
      controlPlaneId: string;
      componentId: string;
      kind: ComponentKind;
      generation: number;
      outcome: 'succeeded' | 'failed';
      /** The version running afterwards. */
      version: string;
    };

/** The admin URL of a component on the fleet at `baseUrl` (GET state, POST …/deploy, PUT …/fault). */
export function componentUrl(baseUrl: string, controlPlaneId: string, componentId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/cp/${encodeURIComponent(controlPlaneId)}/${encodeURIComponent(componentId)}`;
}

/** Where the simulated fleet at `baseUrl` serves a component's Tyk-style `/hello`; usable from any process. */
export function simulatedHealthUrl(baseUrl: string, c: ComponentRef): string {
  return `${componentUrl(baseUrl, c.controlPlaneId, c.id)}/hello`;
}
