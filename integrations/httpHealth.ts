// Probes a component's Tyk health endpoint (/hello) over HTTP. What each Tyk build answers, with sources, is in
// docs/decisions/0009-tyk-health.md; in short:
//
// - A Gateway (the management Gateway, and each data plane's) answers in the IETF health-check format:
//   {"status":"pass|warn|fail","version":"v5.8.2","description":"Tyk GW","details":{"redis":{"status":"pass",...}}}.
//   Its checks (redis; dashboard with use_db_app_configs; rpc with policy_source rpc) are only ever pass or fail.
//   Most builds always answer 200: every check failing is `fail`, some failing `warn`. The 503 builds (5.8.3,
//   5.8.6–5.8.12, 5.9.0) answer `fail` with 503 as soon as a critical check (redis, dashboard, rpc outside emergency
//   mode) fails. nightshift judges the checks the first way on every build, so a Redis outage is `warn` everywhere;
//   what the body said is kept as `reportedStatus` when it differs.
// - Before its first check (one check_duration, 10 s by default, after it starts) a Gateway answers `pass` with no
//   `details`: that is `awaitingFirstCheck`, never evidence of health.
// - The Dashboard's /hello is a liveness check (200 while it runs, no checks, no IETF body): 2xx is `pass`.
//
// Anything no Tyk build answers is `unreachable` with the reason: it only restarts the soak, never rolls back at once.
import type { HealthPort } from '../activities/ports';
import type { ComponentRef, HealthReport } from '../domain/model';
import { normalizeVersion } from '../domain/versions';
import { describeFetchError, withTimeout } from './httpClient';

export interface HttpHealthProbeOptions {
  /** Timeout of one probe, body included. Default 5000. */
  timeoutMs?: number;
  /**
   * Components whose endpoint is a plain liveness check rather than Tyk's health body: a 2xx answer is `pass`.
   * Anything else is `unreachable`, not `fail`: the endpoint says nothing about why (an ingress still catching up
   * answers 502 too), so it only restarts the soak instead of rolling back at once. Default: the Dashboard, whose
   * /hello is liveness only on every Tyk build.
   */
  livenessOnly?: (c: ComponentRef) => boolean;
  /** The running version when the endpoint does not report one (the Dashboard; e.g. from the Deployment's image tag). */
  versionOf?: (c: ComponentRef) => Promise<string | undefined>;
}

type BodyStatus = 'pass' | 'warn' | 'fail';
const BODY_STATUSES: readonly string[] = ['pass', 'warn', 'fail'] satisfies BodyStatus[];

/** The only HTTP statuses a Tyk Gateway's /hello answers with: 200, and 503 on the 503 builds. */
const GATEWAY_HTTP_STATUSES = [200, 503];

export const isDashboardLiveness = (c: ComponentRef): boolean => c.kind === 'dashboard';

export class HttpHealthProbe implements HealthPort {
  private readonly timeoutMs: number;
  private readonly livenessOnly: (c: ComponentRef) => boolean;

  constructor(
    private readonly urlFor: (c: ComponentRef) => string | Promise<string>,
    private readonly opts: HttpHealthProbeOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.livenessOnly = opts.livenessOnly ?? isDashboardLiveness;
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

    if (this.livenessOnly(component)) {
      const alive = httpStatus >= 200 && httpStatus < 300;
      const version = alive ? await this.fallbackVersion(component) : undefined;
      return {
        component,
        status: alive ? 'pass' : 'unreachable',
        ...(alive ? {} : { error: `GET ${url} answered ${httpStatus}` }),
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
    if ('malformed' in body)
      return unreachable(
        `GET ${url} answered ${httpStatus} with a body no Tyk build gives: ${body.malformed}`,
        httpStatus,
      );
    if (!GATEWAY_HTTP_STATUSES.includes(httpStatus))
      return unreachable(
        `GET ${url} answered ${httpStatus} with a Tyk health body; a Tyk Gateway's /hello answers only 200 or 503`,
        httpStatus,
      );
    const verdict = judgeGatewayHello(httpStatus, body);
    if ('malformed' in verdict)
      return unreachable(
        `GET ${url} answered ${httpStatus} with a body no Tyk build gives: ${verdict.malformed}`,
        httpStatus,
      );

    const version = body.version === undefined ? await this.fallbackVersion(component) : normalizeVersion(body.version);
    const hasChecks = Object.keys(body.details).length > 0;
    return {
      component,
      status: verdict.status,
      ...(version ? { version } : {}),
      ...(hasChecks ? { details: body.details } : { awaitingFirstCheck: true }),
      ...(verdict.status === body.status ? {} : { reportedStatus: body.status }),
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

export interface HealthBody {
  status: BodyStatus;
  version?: string;
  /** The checks, each pass or fail; empty when the body had none (a Gateway before its first check). */
  details: Record<string, { status: 'pass' | 'fail'; output?: string }>;
}

/**
 * The Tyk Gateway /hello body: undefined when the text is not one at all (not JSON, or no string `status`), `malformed`
 * when it looks like one but no Tyk build writes it (a status other than pass/warn/fail, a check that is not an
 * object or whose status is not pass or fail).
 */
export function parseHealthBody(text: string): HealthBody | { malformed: string } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const raw = json as Record<string, unknown>;
  if (typeof raw.status !== 'string') return undefined;
  // Tyk writes its constants, lower-case; `ok` and friends are other services' bodies, not Tyk Gateway health.
  if (!BODY_STATUSES.includes(raw.status)) {
    if (['PASS', 'WARN', 'FAIL'].includes(raw.status.toUpperCase()))
      return { malformed: `status ${JSON.stringify(raw.status)} is not pass, warn or fail` };
    return undefined;
  }

  const details: HealthBody['details'] = {};
  if (raw.details !== undefined && raw.details !== null) {
    if (typeof raw.details !== 'object' || Array.isArray(raw.details)) return { malformed: 'details is not an object' };
    for (const [name, item] of Object.entries(raw.details as Record<string, unknown>)) {
      if (!item || typeof item !== 'object' || Array.isArray(item))
        return { malformed: `check ${name} is not an object` };
      const check = item as Record<string, unknown>;
      if (typeof check.status !== 'string') return { malformed: `check ${name} has no status` };
      if (check.status !== 'pass' && check.status !== 'fail')
        return { malformed: `check ${name} is ${JSON.stringify(check.status)}: Tyk checks are only pass or fail` };
      details[name] = {
        status: check.status,
        ...(typeof check.output === 'string' && check.output ? { output: check.output } : {}),
      };
    }
  }
  return {
    status: raw.status as BodyStatus,
    ...(typeof raw.version === 'string' ? { version: raw.version } : {}),
    details,
  };
}

/**
 * nightshift's verdict on a Gateway's /hello, the same on every build: every check passing is `pass`, every check
 * failing `fail`, some failing `warn` (the rule of every build but the 503 ones, and Tyk's documented one). The body
 * must be one a build can give: on 200, its status is that rule's; on 503 (5.8.3, 5.8.6–5.8.12, 5.9.0 only), it is
 * `fail` with at least one failing check. No checks at all: a Gateway before its first check, which only says `pass`.
 */
export function judgeGatewayHello(
  httpStatus: number,
  body: HealthBody,
): { status: BodyStatus } | { malformed: string } {
  const checks = Object.values(body.details);
  const failing = checks.filter((c) => c.status === 'fail').length;
  if (checks.length === 0)
    return body.status === 'pass' && httpStatus === 200
      ? { status: 'pass' }
      : { malformed: `says ${body.status} without any check${httpStatus === 200 ? '' : ` and HTTP ${httpStatus}`}` };
  const verdict: BodyStatus = failing === 0 ? 'pass' : failing === checks.length ? 'fail' : 'warn';
  const consistent = httpStatus === 503 ? body.status === 'fail' && failing > 0 : body.status === verdict;
  if (consistent) return { status: verdict };
  const counted = `${failing} of ${checks.length} checks failing`;
  if (httpStatus === 503 && body.status !== 'fail') return { malformed: `says ${body.status} with HTTP 503` };
  return {
    malformed: `says ${body.status} with ${counted}${body.status === 'fail' && failing > 0 ? ` and HTTP ${httpStatus}` : ''}`,
  };
}
