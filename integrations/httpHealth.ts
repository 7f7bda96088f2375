// Probes a component's Tyk health endpoint (/hello) over HTTP. Tyk answers in the IETF health-check format
// ({"status":"pass|warn|fail","version":"v5.8.2","details":{"redis":{...}}}); current Gateways send 503 with `fail`
// while older ones always send 200, so the status comes from the body, never from the HTTP code alone.
import type { HealthPort } from '../activities/ports';
import type { ComponentRef, HealthReport, HealthStatus } from '../domain/model';
import { normalizeVersion } from '../domain/versions';
import { describeFetchError, withTimeout } from './httpClient';

export interface HttpHealthProbeOptions {
  /** Timeout of one probe, body included. Default 5000. */
  timeoutMs?: number;
  /**
   * Components whose endpoint is a plain liveness check rather than Tyk's health body (the Dashboard's /hello): a 2xx
   * answer is `pass`. Anything else is `unreachable`, not `fail`: the endpoint says nothing about why (an ingress
   * still catching up answers 502 too), so it only restarts the soak instead of rolling back at once.
   */
  livenessOnly?: (c: ComponentRef) => boolean;
  /** The running version when the endpoint does not report one (e.g. from the Deployment's image tag). */
  versionOf?: (c: ComponentRef) => Promise<string | undefined>;
}

const BODY_STATUSES: readonly HealthStatus[] = ['pass', 'warn', 'fail'];

export class HttpHealthProbe implements HealthPort {
  private readonly timeoutMs: number;

  constructor(
    private readonly urlFor: (c: ComponentRef) => string | Promise<string>,
    private readonly opts: HttpHealthProbeOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Never throws: a component that cannot be reached or understood is reported `unreachable` with the reason. */
  async probe(component: ComponentRef, signal?: AbortSignal): Promise<HealthReport> {
    const unreachable = (error: string, httpStatus?: number): HealthReport => ({
      component,
      status: 'unreachable',
      ...(httpStatus === undefined ? {} : { httpStatus }),
      error,
      at: new Date().toISOString(),
    });

    let url: string;
    try {
      url = await this.urlFor(component);
    } catch (err) {
      return unreachable(`no health URL: ${(err as Error).message}`);
    }

    const { timeout, combined } = withTimeout(this.timeoutMs, signal);
    let httpStatus: number;
    let text: string;
    try {
      const res = await fetch(url, { signal: combined, headers: { accept: 'application/json' } });
      httpStatus = res.status;
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) return unreachable(`GET ${url}: probe aborted`);
      if (timeout.aborted) return unreachable(`GET ${url}: no answer within ${this.timeoutMs} ms`);
      return unreachable(`GET ${url} ${describeFetchError(err)}`);
    }

    if (this.opts.livenessOnly?.(component)) {
      const version = await this.fallbackVersion(component);
      return {
        component,
        status: httpStatus >= 200 && httpStatus < 300 ? 'pass' : 'unreachable',
        ...(httpStatus >= 200 && httpStatus < 300 ? {} : { error: `GET ${url} answered ${httpStatus}` }),
        ...(version ? { version } : {}),
        httpStatus,
        at: new Date().toISOString(),
      };
    }
    const body = parseHealthBody(text);
    if (!body) {
      const excerpt = text.trim() ? `: ${JSON.stringify(text.trim().slice(0, 100))}` : ' (empty body)';
      return unreachable(`GET ${url} answered ${httpStatus} without a Tyk health body${excerpt}`, httpStatus);
    }
    const version = body.version === undefined ? await this.fallbackVersion(component) : normalizeVersion(body.version);
    return {
      component,
      status: body.status,
      ...(version ? { version } : {}),
      ...(body.details ? { details: body.details } : {}),
      httpStatus,
      at: new Date().toISOString(),
    };
  }

  /** Never throws: without a version the probe simply cannot count as a pass on the target. */
  private async fallbackVersion(component: ComponentRef): Promise<string | undefined> {
    try {
      return (await this.opts.versionOf?.(component)) ?? undefined;
    } catch {
      return undefined;
    }
  }
}

interface HealthBody {
  status: HealthStatus;
  version?: string;
  details?: Record<string, { status: string; output?: string }>;
}

/** The Tyk /hello body, or undefined when the text is not one (not JSON, or no pass/warn/fail status). */
export function parseHealthBody(text: string): HealthBody | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!json || typeof json !== 'object') return undefined;
  const raw = json as Record<string, unknown>;
  const status = typeof raw.status === 'string' ? raw.status.toLowerCase() : undefined;
  if (!status || !BODY_STATUSES.includes(status as HealthStatus)) return undefined;

  const body: HealthBody = { status: status as HealthStatus };
  if (typeof raw.version === 'string') body.version = raw.version;
  if (raw.details && typeof raw.details === 'object') {
    const details: Record<string, { status: string; output?: string }> = {};
    for (const [name, item] of Object.entries(raw.details as Record<string, unknown>)) {
      if (!item || typeof item !== 'object') continue;
      const check = item as Record<string, unknown>;
      details[name] = {
        status: typeof check.status === 'string' ? check.status : 'unknown',
        ...(typeof check.output === 'string' && check.output ? { output: check.output } : {}),
      };
    }
    body.details = details;
  }
  return body;
}
