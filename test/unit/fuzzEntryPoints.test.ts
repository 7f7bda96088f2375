// Fuzz tests of every entry point that takes input from outside (issue 12, "Bad input"): inventory files, release
// events (schema, signature check, the rollout start's input), the webhook over real HTTP, signal and update payloads
// as raw JSON, and the CLIs' arguments. Inputs are valid ones mutated at a random field (wrong types, out of range,
// huge strings, unicode, prototype keys, deep nesting, NaN/Infinity as strings, dates in bad formats), random text and
// random bytes. Properties: nothing crashes or throws anything but the entry point's own rejection; no message carries a
// stack trace; every rejection names the field and shows the value (or an excerpt); valid inputs are accepted.
// Fixed seed (FUZZ_SEED to change it); a failure prints the seed and the shrunk counterexample. The cases run per entry
// point are printed at the end. The workflows' own handling of raw signals is in test/workflow/fuzzSignals.test.ts.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { InventorySchema, TIERS, WEEKDAYS } from '../../domain/inventory';
import { ReleaseSchema, type Release } from '../../domain/release';
import { parseWith, ValidationError } from '../../domain/validation';
import { FileInventory, loadInventoryFile, parseInventoryText } from '../../integrations/fileInventory';
import { signReleaseEvent, verifyReleaseEvent } from '../../integrations/releaseEventAuth';
import { createWebhookServer } from '../../integrations/webhookServer';
import { decimal, UsageError, wholeNumber } from '../../cli/cliArgs';
import { parseReleaseArgs, parseSreArgs } from '../../cli/program';
import { parseUntil } from '../../cli/sre';
import { fleetDetails, fleetInput, fleetSummary } from '../../client/startFleet';
import {
  parseDefer,
  parseForget,
  parseFreeze,
  parseGrant,
  parseReleaseOffer,
  parseSlotAsk,
  parseSlotReturn,
  parseSupersede,
  parseUpgradeReport,
  parseWithdrawal,
  UPGRADE_STAGES,
} from '../../workflows/messages';
import { isIsoInstant, parseOperatorRequest, PayloadError, PayloadReader } from '../../workflows/operatorRequests';
import {
  CaseCounter,
  check,
  checkAsync,
  at,
  excerpt,
  FIELD,
  fieldName,
  hasStackTrace,
  mutate,
  mutatedPath,
  mutations,
  parseFieldName,
  nastyString,
  nastyValue,
  PROTO_KEYS,
  randomBytesText,
  type Mutation,
  type Path,
} from '../helpers/fuzz';

const counter = new CaseCounter();
afterAll(() => {
  console.log(counter.report('fuzz: cases run per entry point'));
});

// ---- valid inputs ----

const idArb = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);
const versionArb = fc
  .tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 30 }), fc.boolean())
  .map(([a, b, c, v]) => `${v ? 'v' : ''}${a}.${b}.${c}`);
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];
const hhmm = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
const windowArb = fc.record({
  timeZone: fc.constantFrom(...ZONES),
  start: hhmm,
  durationMinutes: fc.integer({ min: 30, max: 1440 }),
  pattern: fc.oneof(
    fc.subarray([...WEEKDAYS], { minLength: 1 }).map((days) => ({ weekly: { days } })),
    fc.constantFrom('first sunday', 'Last Saturday', 'day 15', 'day 31').map((monthly) => ({ monthly })),
  ),
});
const localDate = fc
  .integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) })
  .map((ms) => new Date(ms).toISOString().slice(0, 10));

interface InventoryInput {
  orgs: { id: string; name: string; admin: { email: string; name: string } }[];
  controlPlanes: Record<string, unknown>[];
}

const inventoryArb: fc.Arbitrary<InventoryInput> = fc
  .tuple(fc.uniqueArray(idArb, { minLength: 1, maxLength: 3 }), fc.uniqueArray(idArb, { minLength: 0, maxLength: 4 }))
  .chain(([orgIds, cpIds]) =>
    fc.record({
      orgs: fc.tuple(
        ...orgIds.map((id) =>
          fc.record({
            id: fc.constant(id),
            name: fc.string({ minLength: 1, maxLength: 20 }),
            admin: fc.record({
              email: fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/).map((l) => `${l}@example.com`),
              name: fc.string({ minLength: 1, maxLength: 20 }),
            }),
          }),
        ),
      ),
      controlPlanes: fc.tuple(
        ...cpIds.map((id) =>
          fc
            .record({
              orgId: fc.constantFrom(...orgIds),
              tier: fc.constantFrom(...TIERS),
              autoUpgrade: fc.boolean(),
              dashboard: versionArb,
              gateway: versionArb,
              dataPlanes: fc.uniqueArray(
                idArb.filter((d) => d !== 'dashboard' && d !== 'gateway'),
                { maxLength: 2 },
              ),
              dpVersion: versionArb,
              window: windowArb,
              blackouts: fc.array(fc.tuple(localDate, localDate), { maxLength: 2 }),
              labels: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
            })
            .map((r) => ({
              id,
              orgId: r.orgId,
              tier: r.tier,
              autoUpgrade: r.autoUpgrade,
              dashboard: { version: r.dashboard },
              gateway: { version: r.gateway },
              dataPlanes: r.dataPlanes.map((dp) => ({ id: dp, version: r.dpVersion })),
              window: {
                timeZone: r.window.timeZone,
                start: r.window.start,
                durationMinutes: r.window.durationMinutes,
                ...r.window.pattern,
              },
              blackouts: r.blackouts.map(([a, b]) => (a <= b ? { from: a, to: b } : { from: b, to: a })),
              labels: r.labels,
            })),
        ),
      ),
    }),
  );

const releaseArb: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/),
    kind: fc.constantFrom('lts', 'security'),
    dashboard: versionArb,
    gateway: versionArb,
    notesPath: fc.stringMatching(/^[a-z0-9/._-]{0,30}$/),
    affected: fc.constantFrom('>=5.3.0 <5.3.9', '>=5.8.0 <5.8.2 || >=5.3.0 <5.3.9', '5.x', '*'),
    publishedAt: fc.option(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }), {
      nil: undefined,
    }),
    ltsLines: fc.option(fc.array(fc.stringMatching(/^(0|[1-9]\d?)\.(0|[1-9]\d?)$/), { minLength: 1, maxLength: 3 }), {
      nil: undefined,
    }),
    rollout: fc.option(
      fc.record(
        { bakeMinutes: fc.integer({ min: 0, max: 20_160 }), maxConcurrent: fc.integer({ min: 1, max: 1000 }) },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    ),
  })
  .map((r) => ({
    id: r.id,
    kind: r.kind,
    targets: { dashboard: r.dashboard, gateway: r.gateway },
    notesUrl: `https://tyk.io/${r.notesPath}`,
    ...(r.kind === 'security' ? { affected: r.affected } : {}),
    ...(r.publishedAt ? { publishedAt: r.publishedAt.toISOString() } : {}),
    ...(r.ltsLines ? { ltsLines: r.ltsLines } : {}),
    ...(r.rollout ? { rollout: r.rollout } : {}),
  }));

const BASE_INVENTORY: InventoryInput = {
  orgs: [{ id: 'org-acme', name: 'Acme', admin: { email: 'ops@acme.example', name: 'Ada' } }],
  controlPlanes: [
    {
      id: 'cp-acme-eu',
      orgId: 'org-acme',
      name: 'Acme EU',
      tier: 'production',
      autoUpgrade: true,
      hybrid: false,
      plugins: false,
      dashboard: { version: '5.3.4' },
      gateway: { version: 'v5.3.4' },
      dataPlanes: [{ id: 'dp-eu', region: 'eu-west-1', version: '5.3.4' }],
      window: { timeZone: 'Europe/Berlin', start: '01:00', durationMinutes: 240, weekly: { days: ['sat', 'sun'] } },
      blackouts: [{ from: '2026-12-20', to: '2027-01-03', reason: 'holidays' }],
      labels: ['canary'],
      config: { enable_jsvm: false },
      simulate: { faults: { 'dp-eu': 'warn-after-upgrade' } },
    },
    {
      id: 'cp-acme-us',
      orgId: 'org-acme',
      tier: 'staging',
      autoUpgrade: false,
      dashboard: { version: '5.8.0' },
      gateway: { version: '5.8.0' },
      window: { timeZone: 'America/New_York', start: '22:30', durationMinutes: 90, monthly: 'last saturday' },
      kubernetes: {
        namespace: 'tyk',
        release: 'tyk-us',
        gateway: { configMap: { name: 'tyk-conf', key: 'tyk.conf' }, healthUrl: 'http://gw.tyk.svc:8080/hello' },
      },
    },
  ],
};

const BASE_RELEASE = {
  id: 'sec-5.3.9',
  kind: 'security',
  targets: { dashboard: '5.3.9', gateway: '5.3.9' },
  affected: '>=5.3.0 <5.3.9',
  notesUrl: 'https://tyk.io/docs/5.3.9',
  publishedAt: '2026-11-24T12:00:00Z',
  ltsLines: ['5.3', '5.8'],
  rollout: {
    canary: { labels: ['canary'], tiers: ['development'], controlPlaneIds: ['cp-1'] },
    bakeMinutes: 30,
    maxConcurrent: 5,
    failureBudget: { maxFailures: 2, maxRatio: 0.2, minSample: 10 },
  },
};

// ---- what a rejection must look like ----

/** `field = value: problem` or `field = missing: problem`, as domain/validation.ts writes an issue. */
const ISSUE = new RegExp(String.raw`^(\(root\)|\(file\)|${FIELD})(?: = .+?)?: .`, 's');
/** The field an issue names. */
const issueField = (issue: string) => ISSUE.exec(issue)?.[1] ?? '';

/** Two fields are related when one contains the other, or they are siblings (a check across fields of one object). */
function related(issueField: string, path: Path): boolean {
  const field = fieldName(path);
  const parent = fieldName(path.slice(0, -1));
  return (
    issueField === '(root)' ||
    issueField.startsWith(field) ||
    field.startsWith(issueField) ||
    (parent !== '' && issueField.startsWith(parent))
  );
}

/**
 * A ValidationError that names, for at least one of the mutated fields, that field (or its object, or a sibling it is
 * checked with) and, where the field itself is named, the value (JSON, maybe cut short).
 */
function expectNamesField(err: ValidationError, ms: Mutation[], input: unknown): void {
  expect(err.issues.length).toBeGreaterThan(0);
  for (const issue of err.issues) {
    expect(issue).toMatch(ISSUE);
    expect(hasStackTrace(issue)).toBe(false);
  }
  const fields = err.issues.map(issueField);
  const hit = ms.some((m) => {
    const p = mutatedPath(m);
    return fields.some((f) => related(f, p)) || err.issues.some((i) => /duplicate|no org with this id|no such/.test(i));
  });
  if (!hit)
    throw new Error(`no issue names a mutated field (${ms.map((m) => fieldName(mutatedPath(m)))}): ${err.message}`);
  // Where an issue is about a field that was set, it shows the value the input has there (JSON, maybe cut short).
  if (input === undefined) return;
  for (const m of ms) {
    if (m.kind !== 'set') continue;
    const field = fieldName(m.path);
    const issue = err.issues.find((i) => i.startsWith(`${field} = `));
    const value = at(input, m.path);
    if (issue && value !== undefined) expect(issue).toContain(excerpt(value));
  }
}

function expectOnly<E extends Error = Error>(
  fn: () => unknown,
  ...allowed: (abstract new (...a: never[]) => Error)[]
): E | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!allowed.some((c) => err instanceof c)) throw err;
    const e = err as E;
    expect(e.message.length).toBeGreaterThan(0);
    if (hasStackTrace(e.message)) throw new Error(`stack trace in the message: ${e.message}`, { cause: err });
    return e;
  }
}

// ---- inventory files ----

describe('inventory files', () => {
  const asText = (value: unknown, format: 'json' | 'yaml') =>
    format === 'json' ? JSON.stringify(value) : YAML.stringify(value, { aliasDuplicateObjects: false });

  it('valid inventories (YAML and JSON) are accepted as written', () => {
    check(
      counter,
      'inventory file',
      fc.property(inventoryArb, fc.constantFrom('json' as const, 'yaml' as const), (inv, format) => {
        const parsed = parseInventoryText(asText(inv, format), `fleet.${format}`);
        expect(parsed.controlPlanes.map((c) => c.id)).toEqual(inv.controlPlanes.map((c) => c.id));
        expect(parsed.orgs.map((o) => o.id)).toEqual(inv.orgs.map((o) => o.id));
      }),
      100,
    );
  });

  it('a field set wrong, removed or added: accepted only if still valid, else every issue names field and value', () => {
    check(
      counter,
      'inventory file',
      fc.property(
        fc.array(mutations(BASE_INVENTORY), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('json' as const, 'json' as const, 'json' as const, 'yaml' as const),
        (ms, format) => {
          const input = mutate(BASE_INVENTORY, ms);
          let text: string;
          try {
            text = asText(input, format);
          } catch {
            return; // not representable in this format (YAML of a 2,000-deep nesting): nothing to read
          }
          const err = expectOnly<ValidationError>(() => parseInventoryText(text, `fleet.${format}`), ValidationError);
          if (!err) {
            expect(InventorySchema.safeParse(format === 'json' ? JSON.parse(text) : YAML.parse(text)).success).toBe(
              true,
            );
            return;
          }
          if (err.issues.some((i) => i.startsWith('(file)'))) return; // the serializer's output did not read back
          expectNamesField(err, ms, format === 'json' ? JSON.parse(text) : undefined);
        },
      ),
      600,
    );
  });

  const YAML_TRAPS = [
    'a: &x [*x]',
    'orgs: &o [*o]\ncontrolPlanes: []',
    'orgs: []\ncontrolPlanes: [&c {id: *c}]',
    '&r {orgs: [], controlPlanes: [], self: *r}',
    '%YAML 1.1\n---\norgs: !!set {a}\ncontrolPlanes: !!omap [a: 1]',
    '%YAML 1.1\n---\norgs: []\ncontrolPlanes: [{id: cp, blackouts: [{from: 2026-12-01, to: 2026-12-02}]}]',
    'orgs: []\ncontrolPlanes: [{window: {durationMinutes: .inf}}, {window: {durationMinutes: .nan}}]',
    'orgs: [{id: !!binary aGVsbG8=}]',
    '__proto__: {polluted: 1}\norgs: []\ncontrolPlanes: []',
    'orgs: []\ncontrolPlanes: []\n<<: {x: 1}',
    'a: [' + '['.repeat(3000),
    '[' + '['.repeat(5000) + ']'.repeat(5001),
    'orgs: !custom-tag []',
    '- a\n- b',
    '"just a string"',
    '',
    '---\n---\n',
    'orgs: []\ncontrolPlanes: []\norgs: []',
    'a: *undefined_alias',
    'x: &a [&b [*a, *b]]',
    '\ufeffkey: value',
  ];

  it('random text, random bytes and YAML traps: a ValidationError naming the file or a field, never a crash', () => {
    const text = fc.oneof(
      fc.constantFrom(...YAML_TRAPS),
      randomBytesText,
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.json(),
      fc.constantFrom(...YAML_TRAPS).chain((t) => fc.tuple(fc.constant(t), randomBytesText).map(([a, b]) => a + b)),
    );
    check(
      counter,
      'inventory file',
      fc.property(text, fc.constantFrom('fleet.yaml', 'fleet.yml', 'fleet.json', 'fleet.txt', 'fleet'), (t, file) => {
        const err = expectOnly<ValidationError>(() => parseInventoryText(t, file), ValidationError);
        if (!err) return;
        expect(err.message).toContain(file);
        for (const issue of err.issues) expect(issue).toMatch(/^(\(file\)|\(root\)|\S+)( = .+?)?: ./s);
      }),
      1200,
    );
  });

  it('the file adapter: a broken file on disk is a ValidationError on every call; bad cursors and limits name the value', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-inventory-'));
    try {
      await checkAsync(
        counter,
        'inventory file (FileInventory, on disk)',
        fc.asyncProperty(
          fc.oneof(fc.constantFrom(...YAML_TRAPS), randomBytesText),
          fc.oneof(nastyString, fc.nat().map(String)),
          fc.oneof(fc.integer(), fc.constantFrom(Number.NaN, Infinity, 0.5, -1, 1e9)),
          async (t, cursor, limit) => {
            const file = path.join(dir, `inv-${Math.random().toString(36).slice(2)}.yaml`);
            fs.writeFileSync(file, t);
            expectOnly<ValidationError>(() => loadInventoryFile(file), ValidationError);
            const inv = new FileInventory(file);
            await inv.listControlPlanes({ cursor, limit }).catch((err: unknown) => {
              if (!(err instanceof ValidationError || err instanceof RangeError)) throw err;
              if (err instanceof RangeError) expect(err.message).toMatch(/limit must be|not a cursor/);
              expect(hasStackTrace(err.message)).toBe(false);
            });
            fs.rmSync(file);
          },
        ),
        150,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- release events ----

describe('release events', () => {
  it('valid releases are accepted, and the rollout start takes them (fleetInput, summary, details)', () => {
    check(
      counter,
      'release event (schema, start input)',
      fc.property(releaseArb, (r) => {
        const release = parseWith(ReleaseSchema, r, 'release event');
        expect(release.id).toBe(r.id);
        const input = fleetInput(release);
        expect(input.release).not.toHaveProperty('rollout');
        expect(fleetSummary(input.release)).toContain(release.targets.gateway);
        expect(fleetDetails(input.release, input.rollout)).toContain(release.id);
      }),
      500,
    );
  });

  it('a field set wrong, removed or added: rejected naming field and value, or still valid', () => {
    check(
      counter,
      'release event (schema, start input)',
      fc.property(fc.array(mutations(BASE_RELEASE), { minLength: 1, maxLength: 3 }), (ms) => {
        const input = JSON.parse(JSON.stringify(mutate(BASE_RELEASE, ms)) ?? 'null') as unknown;
        const err = expectOnly<ValidationError>(() => {
          const release = parseWith(ReleaseSchema, input, 'release event');
          const started = fleetInput(release);
          fleetDetails(started.release, started.rollout);
        }, ValidationError);
        if (err) expectNamesField(err, ms, input);
      }),
      1000,
    );
  });

  it('a rollout override given at the start (the release CLI) is checked the same way', () => {
    check(
      counter,
      'release event (schema, start input)',
      fc.property(fc.array(mutations(BASE_RELEASE.rollout), { minLength: 1, maxLength: 2 }), (ms) => {
        const rollout = JSON.parse(JSON.stringify(mutate(BASE_RELEASE.rollout, ms)) ?? 'null') as object;
        const release = parseWith(ReleaseSchema, BASE_RELEASE, 'release');
        const err = expectOnly<ValidationError>(() => fleetInput(release, rollout), ValidationError);
        if (err) {
          expect(err.source).toBe('rollout');
          expectNamesField(err, ms, rollout);
        }
      }),
      500,
    );
  });

  const secret = 'fuzz-secret-0123456789abcdef';
  const now = new Date('2026-11-24T12:00:00Z');
  const nowS = Math.floor(now.getTime() / 1000);

  it('signed bodies of random bytes, random JSON or mutated releases: 400 or 422 naming what is wrong, or accepted', () => {
    const body = fc.oneof(
      randomBytesText,
      fc.json(),
      fc
        .array(mutations(BASE_RELEASE), { minLength: 1, maxLength: 2 })
        .map((ms) => JSON.stringify(mutate(BASE_RELEASE, ms)) ?? ''),
      releaseArb.map((r) => JSON.stringify(r)),
    );
    check(
      counter,
      'release event (signed body)',
      fc.property(body, (b) => {
        const headers = {
          'x-nightshift-timestamp': String(nowS),
          'x-nightshift-signature': signReleaseEvent(secret, nowS, b),
        };
        const v = verifyReleaseEvent(headers, b, { secrets: [secret], now });
        if (v.ok) {
          expect(ReleaseSchema.safeParse(JSON.parse(b)).success).toBe(true);
          return;
        }
        expect(hasStackTrace(v.error)).toBe(false);
        if (v.status === 400) expect(v.error).toMatch(/^body is not JSON: /);
        else {
          expect(v.status).toBe(422);
          expect(v.error).toMatch(/^release event is invalid:\n {2}- \S/);
        }
      }),
      1000,
    );
  });

  it('forged headers: a 400 or 401 that names the header or says what is wrong with the signature', () => {
    const body = JSON.stringify(BASE_RELEASE);
    const header = fc.option(
      fc.oneof(
        nastyString,
        fc.integer({ min: -1e12, max: 1e13 }).map(String),
        fc
          .string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 })
          .map((h) => `v1=${h}`),
      ),
      { nil: undefined },
    );
    check(
      counter,
      'release event (signature headers)',
      fc.property(header, header, fc.boolean(), (ts, sig, asArray) => {
        const headers: Record<string, string | string[] | undefined> = {
          'x-nightshift-timestamp': asArray && ts !== undefined ? [ts, ts] : ts,
          'x-nightshift-signature': sig,
        };
        const v = verifyReleaseEvent(headers, body, { secrets: [secret], now });
        expect(v.ok).toBe(false);
        if (v.ok) return;
        expect([400, 401]).toContain(v.status);
        expect(hasStackTrace(v.error)).toBe(false);
        expect(v.error).toMatch(
          /x-nightshift-(timestamp|signature)|^bad signature$|^stale: signed \d+ s ago|^not yet valid: signed \d+ s from now/,
        );
        if (v.error.startsWith('x-nightshift-timestamp = ')) expect(v.error).toContain(excerpt(ts));
      }),
      800,
    );
  });
});

// ---- the webhook, over real HTTP ----

describe('release-event webhook over HTTP', () => {
  const secret = 'fuzz-webhook-secret-0123456789';
  let server: http.Server;
  let port: number;
  const started: Release[] = [];
  const logs: string[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  beforeAll(async () => {
    server = createWebhookServer({
      secrets: [secret],
      log: (l) => logs.push(l),
      start: async (release) => {
        started.push(release);
        return { workflowId: `fleet/${release.id}`, runId: 'run-1', result: 'started' };
      },
      maxBodyBytes: 8192,
      headersTimeoutMs: 400,
      requestTimeoutMs: 800,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  interface Answer {
    status: number;
    text: string;
  }
  function send(opts: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: string;
  }): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, agent, ...opts }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  /** Sends raw bytes on a fresh connection; the answer (maybe none) until the server closes it. */
  function sendRaw(bytes: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.on('error', () => resolve(Buffer.concat(chunks)));
      socket.setTimeout(3000, () => socket.destroy());
    });
  }

  /** Every response in the bytes a connection received (status, JSON body by its Content-Length). */
  function responses(raw: Buffer): { status: number; body: string }[] {
    const out: { status: number; body: string }[] = [];
    let rest = raw;
    while (rest.length > 0) {
      const end = rest.indexOf('\r\n\r\n');
      const head = rest.subarray(0, end < 0 ? rest.length : end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      out.push({ status, body: end < 0 ? '' : rest.subarray(end + 4, end + 4 + length).toString('utf8') });
      if (end < 0) break;
      rest = rest.subarray(end + 4 + length);
    }
    return out;
  }

  const ALLOWED = [200, 202, 400, 401, 404, 405, 408, 409, 413, 422, 429, 431];

  function checkAnswer(a: Answer, method: string): Record<string, unknown> {
    expect(ALLOWED).toContain(a.status);
    if (method === 'HEAD') return {};
    const json = JSON.parse(a.text) as Record<string, unknown>;
    if (a.status >= 400) {
      expect(typeof json.error).toBe('string');
      expect(hasStackTrace(json.error as string)).toBe(false);
    }
    return json;
  }

  const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));
  const headerValue = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 80,
  });
  const PATHS = [
    '/release-events',
    '/healthz',
    '/',
    '/release-events?x=1',
    '/release-events/',
    '/RELEASE-EVENTS',
    '/release-events/../healthz',
    '/%00',
    '/%zz',
    '/release-events#frag',
    '//',
    '//[',
    '//a:b@c:99999/x',
    '/?__proto__[x]=1',
  ];

  it('fuzzed methods, paths, headers and bodies: a 2xx/4xx JSON answer, never a 500; starts only signed valid releases', async () => {
    const requestArb = fc.record({
      method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'FOO'),
      path: fc.oneof(fc.constantFrom(...PATHS), fc.webPath()),
      body: fc.oneof(
        fc
          .array(mutations(BASE_RELEASE), { minLength: 1, maxLength: 2 })
          .map((ms) => JSON.stringify(mutate(BASE_RELEASE, ms)) ?? ''),
        releaseArb.map((r) => JSON.stringify(r)),
        randomBytesText,
        fc.json(),
        fc.constant(''),
        fc.integer({ min: 8000, max: 20_000 }).map((n) => JSON.stringify({ ...BASE_RELEASE, pad: 'x'.repeat(n) })),
      ),
      signing: fc.constantFrom('good', 'good', 'good', 'none', 'wrong-secret', 'stale', 'garbage'),
      extra: fc.array(fc.tuple(fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 }), headerValue), {
        maxLength: 3,
      }),
      contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
    });
    await checkAsync(
      counter,
      'webhook (HTTP requests)',
      fc.asyncProperty(requestArb, fc.nat(), async (r, nonce) => {
        const ts = Math.floor(Date.now() / 1000) - (r.signing === 'stale' ? 3600 : 0);
        // A nonce in the body makes every signed request a new delivery (the replay guard refuses a repeat, 409).
        const body = r.body;
        const headers: Record<string, string> = {};
        for (const [k, v] of r.extra)
          if (!/^x-nightshift|^content-length$|^transfer-encoding$|^host$/.test(k)) headers[k] = v;
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.signing !== 'none') {
          headers['x-nightshift-timestamp'] = String(ts + (nonce % 3));
          headers['x-nightshift-signature'] =
            r.signing === 'garbage'
              ? `v1=${String(nonce)}`
              : signReleaseEvent(r.signing === 'wrong-secret' ? 'nope' : secret, ts + (nonce % 3), body);
        }
        const before = started.length;
        // A HEAD with a body is not HTTP: the server would take the body for a next request.
        const a = await send({ method: r.method, path: r.path, headers, body: r.method === 'HEAD' ? undefined : body });
        const json = checkAnswer(a, r.method);
        if (a.status === 202 || a.status === 200) {
          expect(started.length).toBe(before + (json.workflowId === undefined ? 0 : 1));
          if (json.workflowId !== undefined) expect(ReleaseSchema.safeParse(JSON.parse(body)).success).toBe(true);
        } else expect(started.length).toBe(before);
        if (a.status === 422) expect(json.error).toMatch(/^release event is invalid: \S+ = /);
      }),
      700,
    );
    const health = await send({ method: 'GET', path: '/healthz', headers: {} });
    expect(health.status).toBe(200);
  });

  it('raw bytes and broken request lines on the socket: a 4xx or a closed connection, never a 500', async () => {
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'get', 'P OST', '', '\u0000'),
          fc.oneof(fc.constantFrom(...PATHS, '*', 'http://[::1', '/\u00ff', '/ /', 'x'), fc.string({ maxLength: 30 })),
          fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/9.9', 'HTTP/1.1 extra', ''),
          fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 })), { maxLength: 4 }),
          fc.oneof(fc.constant(''), randomBytesText),
        )
        .map(([m, p, v, hs, b]) =>
          Buffer.from(
            `${m} ${p} ${v}\r\nHost: x\r\n${hs.map(([k, val]) => `${k}: ${val}\r\n`).join('')}\r\n${b}`,
            'latin1',
          ),
        ),
    );
    await checkAsync(
      counter,
      'webhook (raw bytes on the socket)',
      fc.asyncProperty(raw, async (bytes) => {
        for (const { status, body } of responses(await sendRaw(bytes))) {
          expect(ALLOWED).toContain(status);
          if (status < 400 || !body) continue;
          const json = JSON.parse(body) as { error?: string };
          expect(typeof json.error).toBe('string');
          expect(hasStackTrace(json.error!)).toBe(false);
        }
      }),
      200,
    );
    expect((await send({ method: 'GET', path: '/healthz', headers: {} })).status).toBe(200);
    expect(logs.some((l) => / 500 /.test(l))).toBe(false);
  });
});

// ---- signal and update payloads, as raw JSON ----

describe('signal and update payloads (raw JSON)', () => {
  const release = {
    id: 'lts-5.8.2',
    kind: 'lts',
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
    ltsLines: ['5.3', '5.8'],
    rollout: { bakeMinutes: 30 },
  };
  type Parser = (raw: unknown, r: PayloadReader) => unknown;
  const PAYLOADS: [string, Parser, unknown][] = [
    [
      'offer',
      parseReleaseOffer,
      {
        release,
        source: 'fleet',
        offeredAt: '2026-11-24T12:00:00.000Z',
        fleet: { workflowId: 'fleet/lts-5.8.2', wave: 'main' },
        statusOnly: false,
      },
    ],
    [
      'withdraw',
      parseWithdrawal,
      { releaseId: 'lts-5.8.2', supersededBy: 'lts-5.8.3', reason: 'superseded', by: 'fleet' },
    ],
    ['grant', parseGrant, { releaseId: 'lts-5.8.2', grantedAt: '2026-11-24T12:00:00Z' }],
    ['pause/resume/cancel/approve/…', parseOperatorRequest, { reason: 'incident 42', by: 'sre-jo' }],
    [
      'report',
      parseUpgradeReport,
      {
        controlPlaneId: 'cp-1',
        releaseId: 'lts-5.8.2',
        outcome: 'skipped',
        changed: false,
        reason: 'no',
        skipReason: 'hybrid',
        at: '2026-11-24T12:00:00Z',
      },
    ],
    ['ask-slot', parseSlotAsk, { controlPlaneId: 'cp-1', releaseId: 'lts-5.8.2', until: '2026-11-24T12:00:00+01:00' }],
    ['return-slot', parseSlotReturn, { controlPlaneId: 'cp-1', releaseId: 'lts-5.8.2' }],
    ['forget', parseForget, { controlPlaneId: 'cp-1', reason: 'gone', by: 'jo' }],
    ['supersede', parseSupersede, { releaseId: 'lts-5.8.3', targets: { dashboard: '5.8.3', gateway: '5.8.3' } }],
    ['freeze', parseFreeze, { until: '2999-01-01T00:00:00Z', reason: 'holidays', by: 'jo' }],
    ['defer (update)', parseDefer, { days: 3, reason: 'busy', by: 'customer' }],
    ['upgradeNow (update)', parseOperatorRequest, { reason: 'incident', by: 'sre-jo' }],
  ];

  /** A PayloadError: `field = value: expected` or `field is missing: expected`, the value as JSON (maybe cut). */
  function expectPayloadError(err: PayloadError, raw: unknown): void {
    expect(err.message).toMatch(new RegExp(String.raw`^(payload|${FIELD}) (= .+|is missing): .`, 's'));
    expect(hasStackTrace(err.message)).toBe(false);
    expect(err.message.length).toBeLessThan(600);
    if (err.value !== undefined) expect(err.message).toContain(excerpt(err.value));
    // The field named is really where that value is in the payload.
    expect(at(raw, err.field === 'payload' ? [] : parseFieldName(err.field))).toEqual(err.value);
  }

  for (const [name, parse, base] of PAYLOADS) {
    const strict = name.endsWith('(update)');
    it(`${name}: valid as sent, mutated or random JSON: accepted, or refused naming field and value`, () => {
      const raw = fc.oneof(
        { weight: 1, arbitrary: fc.constant(base) },
        {
          weight: 6,
          arbitrary: fc.array(mutations(base), { minLength: 1, maxLength: 3 }).map((ms) => mutate(base, ms)),
        },
        { weight: 2, arbitrary: fc.jsonValue() },
        { weight: 1, arbitrary: nastyValue },
      );
      check(
        counter,
        'signal/update payloads (parsers)',
        fc.property(raw, (value) => {
          // As the payload converter hands it over: JSON text, parsed (undefined stays "no payload").
          const json = value === undefined ? undefined : (JSON.parse(JSON.stringify(value) ?? 'null') as unknown);
          const r = new PayloadReader(strict);
          let parsed: unknown;
          try {
            parsed = parse(json, r);
          } catch (err) {
            if (!(err instanceof PayloadError)) throw err;
            expectPayloadError(err, json);
            return;
          }
          if (json === base) expect(r.extra).toEqual([]);
          for (const e of r.extra) expect(e).toMatch(new RegExp(String.raw`^${FIELD} = .`, 's'));
          // What the handlers rely on, once accepted.
          const p = parsed as Record<string, unknown>;
          if (parse === parseReleaseOffer) expect(isIsoInstant(p.offeredAt as string)).toBe(true);
          if (parse === parseDefer) expect(Number.isInteger(p.days)).toBe(true);
          if (parse === parseFreeze) expect(isIsoInstant(p.until as string)).toBe(true);
          if ('reason' in p && p.reason !== undefined) expect(typeof p.reason).toBe('string');
          if ('by' in p && p.by !== undefined) expect(typeof p.by).toBe('string');
        }),
        300,
      );
    });
  }
});

// ---- CLI arguments ----

describe('CLI arguments', () => {
  const now = new Date('2026-11-24T12:00:00Z');
  const SRE_COMMANDS = [
    'status',
    'pause',
    'resume',
    'cancel',
    'approve',
    'freeze',
    'unfreeze',
    'defer',
    'upgrade-now',
    'retry-rollback',
    'abandon-rollback',
    'forget',
    'reconcile',
    'list',
    'schedule',
    'help',
  ];
  const SRE_FLAGS = [
    '--fleet',
    '--release',
    '--reason',
    '--by',
    '--until',
    '--days',
    '--stage',
    '--every',
    '--delete',
    '--json',
    '--org',
    '-o',
    '--output',
    '--help',
    '-h',
    '--',
    '--nope',
    '-x',
  ];

  /** A UsageError or ValidationError that names a flag, the command, or shows (an excerpt of) a value given. */
  function expectUsage(err: Error, argv: string[]): void {
    expect(err.message).not.toMatch(/^\s*$/);
    const m = err.message;
    const names =
      /--[a-z-]+|<control-plane>|<release-id>|no release|unknown command|unexpected argument|too many arguments|missing required argument/.test(
        m,
      ) ||
      argv.some(
        (a) =>
          a.length > 0 &&
          (m.includes(a.slice(0, 16)) ||
            m.includes(JSON.stringify(a).slice(1, 16)) ||
            m.includes(JSON.stringify(a).slice(1, -1).slice(0, 15))),
      ) ||
      // Node's parser names an option by its first letters: Unknown option '-I' (from -Infinity).
      [...m.matchAll(/'(-[^']+)'/g)].some(([, q]) =>
        argv.some((a) => a.startsWith(q!) || (a.startsWith('-') && a.includes(q!.slice(1)))),
      );
    if (!names) throw new Error(`names neither a flag nor a value: ${m} (argv ${JSON.stringify(argv)})`);
  }

  it('sre: random argv (commands, prototype keys, flags, nasty values): a command or a UsageError naming the flag', () => {
    const token = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...SRE_COMMANDS, ...PROTO_KEYS) },
      { weight: 3, arbitrary: fc.constantFrom(...SRE_FLAGS) },
      { weight: 3, arbitrary: nastyString },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...SRE_FLAGS), nastyString).map(([f, v]) => `${f}=${v}`) },
    );
    check(
      counter,
      'CLI: npm run sre',
      fc.property(fc.array(token, { maxLength: 8 }), (argv) => {
        const err = expectOnly(() => parseSreArgs(argv, { now, user: 'ada' }), UsageError, ValidationError);
        if (err) expectUsage(err, argv);
      }),
      2000,
    );
  });

  it('sre: valid command lines are accepted', () => {
    const cp = idArb;
    const rel = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
    const text = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => s.trim() !== '' && !s.startsWith('-'));
    const line = fc.oneof(
      fc.tuple(fc.constantFrom('pause', 'resume', 'cancel'), cp, text).map(([c, id, r]) => [c, id, '--reason', r]),
      fc
        .tuple(fc.constantFrom('pause', 'cancel', 'approve', 'unfreeze', 'reconcile'), rel, text)
        .map(([c, id, b]) => [c, '--fleet', id, '--by', b]),
      fc
        .tuple(rel, fc.integer({ min: 1, max: 500 }), fc.constantFrom('m', 'h', 'd'), text)
        .map(([id, n, u, r]) => ['freeze', '--fleet', id, '--until', `${n}${u}`, '--reason', r]),
      fc.tuple(cp, fc.integer({ min: 1, max: 30 })).map(([id, d]) => ['defer', id, '--days', String(d)]),
      fc.tuple(cp, text).map(([id, r]) => ['upgrade-now', id, '--reason', r]),
      fc.tuple(cp, rel).map(([id, f]) => ['forget', id, '--fleet', f]),
      fc
        .tuple(fc.constantFrom(...UPGRADE_STAGES), fc.constantFrom([], ['--json'], ['-o', 'json'], ['--output=json']))
        .map(([s, o]) => ['list', '--stage', s, ...o]),
      fc.tuple(idArb, idArb).map(([org, id]) => ['list', '--org', org, '--release', id]),
      fc
        .tuple(fc.integer({ min: 1, max: 48 }), fc.constantFrom('m', 'h', 'd'))
        .map(([n, u]) => ['schedule', '--every', `${n}${u}`]),
      cp.map((id) => ['status', id, '--json']),
    );
    check(
      counter,
      'CLI: npm run sre',
      fc.property(line, (argv) => {
        const r = parseSreArgs(argv, { now, user: 'ada' });
        expect('help' in r ? 'help' : r.command.name).toBe(argv[0]);
        const json =
          argv.includes('--json') ||
          argv.includes('--output=json') ||
          argv.some((a, i) => a === '-o' && argv[i + 1] === 'json');
        if (!('help' in r)) expect(r.output).toBe(json ? 'json' : 'text');
      }),
      500,
    );
  });

  it('--until, --days, numbers: ISO instants and durations only, the flag and value named otherwise', () => {
    check(
      counter,
      'CLI: value parsers (--until, numbers)',
      fc.property(
        fc.oneof(
          nastyString,
          fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
          fc.stringMatching(/^\d{1,20}(\.\d{1,5})?[smhd]$/),
        ),
        (t) => {
          const err = expectOnly(() => parseUntil(t, now), UsageError);
          if (err) expect(err.message.startsWith(`--until = ${JSON.stringify(t)}: `)).toBe(true);
          else expect(Date.parse(parseUntil(t, now))).toBeGreaterThan(now.getTime());
          for (const fn of [() => wholeNumber('--days', t), () => decimal('--bake', t)]) {
            const e = expectOnly(fn, UsageError);
            if (e) expect(e.message).toMatch(/^--(days|bake) = ".*": not a/s);
          }
        },
      ),
      1000,
    );
  });

  const RELEASE_FLAGS = [
    '--release',
    '--id',
    '--kind',
    '--dashboard',
    '--gateway',
    '--notes-url',
    '--affected',
    '--rollout',
    '--canary-label',
    '--canary-tier',
    '--canary',
    '--bake',
    '--max-concurrent',
    '--max-failures',
    '--max-failure-ratio',
    '--dry-run',
    '-o',
    '--help',
    '--',
    '--nope',
  ];

  it('release: random argv and files (random bytes, YAML traps, mutated releases): a command, or an error naming flag or field', () => {
    const fileText = fc.oneof(
      randomBytesText,
      fc.json(),
      fc.constantFrom('a: &x [*x]', '&r {id: *r}', '%YAML 1.1\n---\nid: !!binary aGk=', 'null', '"x"', '[]'),
      fc
        .array(mutations(BASE_RELEASE), { minLength: 1, maxLength: 2 })
        .map((ms) => JSON.stringify(mutate(BASE_RELEASE, ms)) ?? ''),
      fc
        .array(mutations(BASE_RELEASE.rollout), { minLength: 1, maxLength: 2 })
        .map((ms) => JSON.stringify(mutate(BASE_RELEASE.rollout, ms)) ?? ''),
    );
    const token = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...RELEASE_FLAGS) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'r.json',
          'r.yaml',
          'missing.json',
          'rollout.yml',
          'lts',
          'security',
          '5.8.2',
          'https://tyk.io/n',
          '>=5.3.0 <5.3.9',
          'canary',
          'production',
          '3',
          '0.5',
        ),
      },
      { weight: 3, arbitrary: nastyString },
    );
    check(
      counter,
      'CLI: npm run release',
      fc.property(fc.array(token, { maxLength: 10 }), fileText, fileText, (argv, releaseText, rolloutText) => {
        const read = (file: string) => {
          if (file === 'r.json' || file === 'r.yaml') return releaseText;
          if (file === 'rollout.yml') return rolloutText;
          throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), { code: 'ENOENT' });
        };
        const err = expectOnly(() => parseReleaseArgs(argv, read), UsageError, ValidationError);
        if (err) expectUsage(err, argv);
      }),
      1200,
    );
  });

  it('release: valid flags are accepted as given', () => {
    check(
      counter,
      'CLI: npm run release',
      fc.property(releaseArb, fc.option(fc.integer({ min: 0, max: 20_160 }), { nil: undefined }), (r, bake) => {
        const t = r.targets as { dashboard: string; gateway: string };
        const argv = [
          '--id',
          r.id as string,
          '--kind',
          r.kind as string,
          '--dashboard',
          t.dashboard,
          '--gateway',
          t.gateway,
          '--notes-url',
          r.notesUrl as string,
          ...(r.affected ? ['--affected', r.affected as string] : []),
          ...(bake !== undefined ? ['--bake', String(bake)] : []),
        ];
        const cmd = parseReleaseArgs(argv, () => '');
        if ('help' in cmd) throw new Error('help shown');
        expect(cmd.release.id).toBe(r.id);
        if (bake !== undefined) expect(cmd.resolved.bakeMinutes).toBe(bake);
      }),
      300,
    );
  });
});
