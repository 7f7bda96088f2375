// Sends each alert to several alerters at once (e.g. log + PagerDuty + Slack), each admitting only severities at or
// above its minimum. A retry of the activity re-sends only to the targets that failed: the record of which targets
// took alert (its id, else `${action}:${dedupKey}`) lives in this process, bounded, like the other alerters' records.
import type { AlertOptions, AlerterPort } from '../activities/ports';
import { RequestRejectedError, RetryLaterError } from '../activities/ports';
import type { AlertSeverity, SreAlert } from '../domain/model';
import { alertKey, refuseIfTooLate } from './logAlerter';

const SEVERITY_RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, error: 2, critical: 3 };

/** An alerter may say which severities it is for by default (PagerDutyAlerter: `error`, since it wakes people). */
export type RoutableAlerter = AlerterPort & { readonly defaultMinSeverity?: AlertSeverity };

export interface FanoutTarget {
  alerter: RoutableAlerter;
  /**
   * The lowest severity sent to this target; resolves carry their trigger's severity, so they follow the same route.
   * Default: the alerter's `defaultMinSeverity`, else `info` (everything).
   */
  minSeverity?: AlertSeverity;
  /** How errors and the fanout's channel name this target. Default: the alerter's channel. */
  name?: string;
}

export interface FanoutAlerterOptions {
  /** How many alerts (by id, else `${action}:${dedupKey}`) to remember per-target outcomes of. Default 1000. */
  rememberAlerts?: number;
  /** Called with an alert no target's minimum severity admits, so it is at least seen (the worker logs it). */
  onUnrouted?: (alert: SreAlert) => void;
}

interface Route {
  alerter: AlerterPort;
  minSeverity: AlertSeverity;
  name: string;
}

interface Outcomes {
  delivered: Set<number>;
  /** Targets that refused for good: not asked again, but still reported until the record is forgotten. */
  rejected: Map<number, RequestRejectedError>;
}

export class FanoutAlerter implements AlerterPort {
  readonly channel: string;
  private readonly routes: Route[];
  private readonly remember: number;
  private readonly outcomes = new Map<string, Outcomes>();
  private readonly onUnrouted?: (alert: SreAlert) => void;

  constructor(targets: FanoutTarget[], opts: FanoutAlerterOptions = {}) {
    if (targets.length === 0) throw new Error('FanoutAlerter needs at least one target');
    const names = targets.map((t) => t.name ?? t.alerter.channel);
    this.routes = targets.map((t, i) => ({
      alerter: t.alerter,
      minSeverity: t.minSeverity ?? t.alerter.defaultMinSeverity ?? 'info',
      // Two targets on one channel (two Slack webhooks) are told apart in errors.
      name: names.indexOf(names[i]!) === i ? names[i]! : `${names[i]}#${i + 1}`,
    }));
    this.channel = this.routes.map((r) => r.name).join('+');
    this.remember = Math.max(1, opts.rememberAlerts ?? 1000);
    this.onUnrouted = opts.onUnrouted;
  }

  /** Each target gets `options` (its deadline and signal) as they are. */
  async alert(alert: SreAlert, options: AlertOptions = {}): Promise<void> {
    refuseIfTooLate(`${alert.action} ${alert.dedupKey}`, options);
    const key = alertKey(alert);
    const outcomes = this.outcomesFor(key);
    const admitted = this.routes
      .map((route, index) => ({ route, index }))
      .filter(({ route }) => SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[route.minSeverity]);
    if (admitted.length === 0) {
      this.onUnrouted?.(alert);
      return;
    }
    const pending = admitted.filter(({ index }) => !outcomes.delivered.has(index) && !outcomes.rejected.has(index));

    const results = await Promise.allSettled(pending.map(({ route }) => route.alerter.alert(alert, options)));
    const failures: { name: string; error: Error }[] = [];
    results.forEach((result, i) => {
      const { route, index } = pending[i]!;
      if (result.status === 'fulfilled') outcomes.delivered.add(index);
      else {
        const error = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
        if (error instanceof RequestRejectedError) outcomes.rejected.set(index, error);
        failures.push({ name: route.name, error });
      }
    });
    for (const [index, error] of outcomes.rejected) {
      if (!pending.some((p) => p.index === index)) failures.push({ name: this.routes[index]!.name, error });
    }
    if (failures.length === 0) return;

    const delivered = admitted.filter(({ index }) => outcomes.delivered.has(index)).map(({ route }) => route.name);
    const message =
      `${alert.action} ${alert.dedupKey} not delivered to ${failures.map((f) => f.name).join(', ')} ` +
      `(delivered to ${delivered.length ? delivered.join(', ') : 'none'}): ` +
      failures.map((f) => `${f.name}: ${f.error.message}`).join('; ');
    const delays = failures.flatMap((f) => (f.error instanceof RetryLaterError ? [f.error.retryAfterMs] : []));
    if (delays.length) throw new RetryLaterError(message, Math.max(...delays));
    if (failures.every((f) => f.error instanceof RequestRejectedError)) throw new RequestRejectedError(message);
    throw new Error(message);
  }

  private outcomesFor(key: string): Outcomes {
    let outcomes = this.outcomes.get(key);
    if (!outcomes) {
      outcomes = { delivered: new Set(), rejected: new Map() };
      this.outcomes.set(key, outcomes);
      if (this.outcomes.size > this.remember) {
        const oldest = this.outcomes.keys().next().value;
        if (oldest !== undefined) this.outcomes.delete(oldest);
      }
    }
    return outcomes;
  }
}
