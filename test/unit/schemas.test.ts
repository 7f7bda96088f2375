import { InventorySchema } from '../../domain/inventory';
import { ReleaseSchema } from '../../domain/release';
import { parseWith, ValidationError } from '../../domain/validation';

// Inputs are written as a customer or release manager would write them (YAML/JSON), so they are plain objects.
type Json = Record<string, unknown>;

const WINDOW = { timeZone: 'Europe/Berlin', start: '01:00', durationMinutes: 240, weekly: { days: ['sun'] } };

function controlPlane(overrides: Json = {}): Json {
  return {
    id: 'cp-acme-eu',
    orgId: 'acme',
    name: 'Acme EU',
    tier: 'production',
    autoUpgrade: true,
    dashboard: { version: 'v5.3.4' },
    gateway: { version: '5.3.4' },
    window: WINDOW,
    ...overrides,
  };
}

function inventory(cpOverrides: Json = {}, extra: Json = {}): Json {
  return {
    orgs: [{ id: 'acme', name: 'Acme Corp', admin: { email: 'jane.doe@acme.example', name: 'Jane Doe' } }],
    controlPlanes: [controlPlane(cpOverrides)],
    ...extra,
  };
}

function release(overrides: Json = {}): Json {
  return {
    id: 'lts-5.8.2',
    kind: 'lts',
    targets: { dashboard: '5.8.2', gateway: 'v5.8.2' },
    notesUrl: 'https://tyk.io/docs/developer-support/release-notes/gateway/#582-release-notes',
    ...overrides,
  };
}

/** The ValidationError thrown for `input`; fails the test when the input parses. */
function errorOf(
  schema: typeof InventorySchema | typeof ReleaseSchema,
  input: unknown,
  source: string,
): ValidationError {
  try {
    parseWith(schema, input, source);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error(`expected ${source} to be rejected`);
}

const inventoryError = (input: unknown) => errorOf(InventorySchema, input, 'inventory.yaml');
const releaseError = (input: unknown) => errorOf(ReleaseSchema, input, 'release.json');

describe('InventorySchema through parseWith', () => {
  it('parses a valid inventory, applying defaults and normalizing versions', () => {
    const inv = parseWith(
      InventorySchema,
      inventory({ dataPlanes: undefined, gateway: { version: 'V5.3.4' } }, {}),
      'inventory.yaml',
    );
    expect(inv.orgs).toEqual([
      { id: 'acme', name: 'Acme Corp', admin: { email: 'jane.doe@acme.example', name: 'Jane Doe' } },
    ]);
    expect(inv.controlPlanes).toEqual([
      {
        id: 'cp-acme-eu',
        orgId: 'acme',
        name: 'Acme EU',
        tier: 'production',
        autoUpgrade: true,
        hybrid: false,
        plugins: false,
        dashboard: { version: '5.3.4' },
        gateway: { version: '5.3.4' },
        dataPlanes: [],
        window: WINDOW,
        blackouts: [],
        labels: [],
        config: {},
      },
    ]);
  });

  it('normalizes data plane versions and monthly patterns', () => {
    const window = { timeZone: 'Asia/Kolkata', start: '23:30', durationMinutes: 90, monthly: ' First Sunday ' };
    const inv = parseWith(
      InventorySchema,
      inventory({ window, dataPlanes: [{ id: 'dp-eu-west', region: 'eu-west-1', version: 'v5.8.1' }] }),
      'inventory.yaml',
    );
    const cp = inv.controlPlanes[0]!;
    expect(cp.window.monthly).toBe('first sunday');
    expect(cp.dataPlanes).toEqual([{ id: 'dp-eu-west', region: 'eu-west-1', version: '5.8.1' }]);
  });

  it('names the source, the field path and the bad time zone', () => {
    const err = inventoryError(inventory({ window: { ...WINDOW, timeZone: 'Europe/Berln' } }));
    expect(err.source).toBe('inventory.yaml');
    expect(err.issues).toEqual([
      'controlPlanes[0].window.timeZone = "Europe/Berln": not a known IANA time zone such as Europe/Berlin',
    ]);
    expect(err.message).toBe(
      'inventory.yaml is invalid:\n' +
        '  - controlPlanes[0].window.timeZone = "Europe/Berln": not a known IANA time zone such as Europe/Berlin',
    );
  });

  it('rejects a zone abbreviation instead of an IANA name', () => {
    expect(inventoryError(inventory({ window: { ...WINDOW, timeZone: 'CET' } })).issues).toEqual([
      'controlPlanes[0].window.timeZone = "CET": not a known IANA time zone such as Europe/Berlin',
    ]);
  });

  it('names a bad version, also inside a data plane', () => {
    const err = inventoryError(
      inventory({ gateway: { version: '5.8' }, dataPlanes: [{ id: 'dp-1', version: 'latest' }] }),
    );
    expect(err.issues).toEqual([
      'controlPlanes[0].gateway.version = "5.8": not a semantic version such as 5.8.2 or v5.8.2',
      'controlPlanes[0].dataPlanes[0].version = "latest": not a semantic version such as 5.8.2 or v5.8.2',
    ]);
  });

  it('names an unknown orgId, alongside refinement errors such as a bad version', () => {
    expect(inventoryError(inventory({ orgId: 'acme-typo' })).issues).toEqual([
      'controlPlanes[0].orgId = "acme-typo": no org with this id in orgs',
    ]);
    expect(inventoryError(inventory({ orgId: 'acme-typo', gateway: { version: '5.8' } })).issues).toEqual([
      'controlPlanes[0].gateway.version = "5.8": not a semantic version such as 5.8.2 or v5.8.2',
      'controlPlanes[0].orgId = "acme-typo": no org with this id in orgs',
    ]);
  });

  it('reports an unknown orgId only once type errors are fixed (zod skips the cross-check then)', () => {
    // Limitation, not a wrong answer: a type-level error (bad enum, missing field) aborts InventorySchema's
    // superRefine, so the orgId problem shows up on the next run.
    expect(inventoryError(inventory({ orgId: 'acme-typo', tier: 'prod' })).issues).toEqual([
      expect.stringMatching(/^controlPlanes\[0\]\.tier = "prod": /),
    ]);
  });

  it('rejects a window with both weekly and monthly, or neither', () => {
    expect(inventoryError(inventory({ window: { ...WINDOW, monthly: 'first sunday' } })).issues).toEqual([
      'controlPlanes[0].window.weekly = {"days":["sun"]}: give exactly one of weekly or monthly',
    ]);
    const { weekly: _weekly, ...noPattern } = WINDOW;
    expect(inventoryError(inventory({ window: noPattern })).issues).toEqual([
      'controlPlanes[0].window.weekly = missing: give exactly one of weekly or monthly',
    ]);
  });

  it('rejects a bad monthly pattern, showing the value as written', () => {
    const { weekly: _weekly, ...base } = WINDOW;
    for (const monthly of ['fifth sunday', 'day 32', 'every sunday']) {
      expect(inventoryError(inventory({ window: { ...base, monthly } })).issues).toEqual([
        `controlPlanes[0].window.monthly = "${monthly}": must be like "first sunday", "last saturday" or "day 15"`,
      ]);
    }
  });

  it('rejects a bad start time, a too-short window and an unknown weekday', () => {
    const err = inventoryError(
      inventory({ window: { ...WINDOW, start: '25:00', durationMinutes: 15, weekly: { days: ['sunday'] } } }),
    );
    expect(err.issues).toEqual([
      'controlPlanes[0].window.start = "25:00": must be a local time HH:MM (24h), e.g. 01:00',
      'controlPlanes[0].window.durationMinutes = 15: at least 30 minutes',
      expect.stringMatching(/^controlPlanes\[0\]\.window\.weekly\.days\[0\] = "sunday": /),
    ]);
  });

  it('rejects a blackout whose from is after its to, and impossible dates', () => {
    expect(inventoryError(inventory({ blackouts: [{ from: '2026-12-26', to: '2026-12-24' }] })).issues).toEqual([
      'controlPlanes[0].blackouts[0].to = "2026-12-24": from must not be after to',
    ]);
    expect(inventoryError(inventory({ blackouts: [{ from: '2026-02-30', to: '2026-03-01' }] })).issues).toEqual([
      'controlPlanes[0].blackouts[0].from = "2026-02-30": not a real calendar date',
    ]);
  });

  it('rejects reserved and duplicate data plane ids and duplicate control planes', () => {
    const err = inventoryError(
      inventory(
        {
          dataPlanes: [
            { id: 'gateway', version: '5.3.4' },
            { id: 'dp-1', version: '5.3.4' },
            { id: 'dp-1', version: '5.3.4' },
          ],
        },
        {},
      ),
    );
    expect(err.issues).toEqual([
      'controlPlanes[0].dataPlanes[0].id = "gateway": \'gateway\' is reserved',
      'controlPlanes[0].dataPlanes[2].id = "dp-1": duplicate data plane id',
    ]);
    const twice = inventory();
    twice.controlPlanes = [controlPlane(), controlPlane()];
    expect(inventoryError(twice).issues).toEqual(['controlPlanes[1].id = "cp-acme-eu": duplicate control plane id']);
  });

  it('rejects unknown fields instead of ignoring a typo', () => {
    const err = inventoryError(inventory({ autoUpgrades: true }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatch(/^controlPlanes\[0\] = .*autoUpgrades/);
  });
});

describe('ReleaseSchema through parseWith', () => {
  it('parses a valid LTS release and normalizes its targets', () => {
    expect(parseWith(ReleaseSchema, release(), 'release.json')).toEqual({
      id: 'lts-5.8.2',
      kind: 'lts',
      targets: { dashboard: '5.8.2', gateway: '5.8.2' },
      notesUrl: 'https://tyk.io/docs/developer-support/release-notes/gateway/#582-release-notes',
    });
  });

  it('parses a valid security release with its affected range', () => {
    const r = parseWith(
      ReleaseSchema,
      release({ id: 'sec-5.8.2', kind: 'security', affected: '>=5.3.0 <5.3.9 || >=5.8.0 <5.8.2' }),
      'release.json',
    );
    expect(r.kind).toBe('security');
    expect(r.affected).toBe('>=5.3.0 <5.3.9 || >=5.8.0 <5.8.2');
  });

  it('names a bad target version', () => {
    expect(releaseError(release({ targets: { dashboard: '5.8.2', gateway: '5.8.x' } })).issues).toEqual([
      'targets.gateway = "5.8.x": not a semantic version such as 5.8.2 or v5.8.2',
    ]);
  });

  it('requires an affected range on a security release, and only there', () => {
    expect(releaseError(release({ kind: 'security' })).issues).toEqual([
      'affected = missing: a security release must name the affected version range',
    ]);
    expect(releaseError(release({ kind: 'security', affected: '' })).issues).toEqual([
      'affected = "": a security release must name the affected version range',
    ]);
    expect(releaseError(release({ affected: '>=5.3.0' })).issues).toEqual([
      'affected = ">=5.3.0": only security releases have an affected range',
    ]);
  });

  it('names a range that is not semver', () => {
    expect(releaseError(release({ kind: 'security', affected: 'all 5.3 versions' })).issues).toEqual([
      'affected = "all 5.3 versions": not a semver range such as ">=5.3.0 <5.3.9"',
    ]);
  });

  it('names a bad notesUrl', () => {
    expect(releaseError(release({ notesUrl: 'tyk.io/docs/release-notes' })).issues).toEqual([
      'notesUrl = "tyk.io/docs/release-notes": not an https URL',
    ]);
  });

  // BUG (domain/release.ts): z.url() accepts any scheme, so a link that goes into every customer email may be
  // javascript:, mailto: or plain http:. Fix: z.url({ protocol: /^https$/, hostname: z.regexes.domain, ... }).
  // Marked `failing` so it turns red once fixed: then change it to `it`.
  it('rejects a notesUrl that is not https', () => {
    for (const notesUrl of ['javascript:alert(1)', 'http://tyk.io/docs', 'mailto:sre@tyk.io'])
      expect(releaseError(release({ notesUrl })).issues).toEqual([
        `notesUrl = ${JSON.stringify(notesUrl)}: not an https URL`,
      ]);
  });

  it('names bad LTS lines, kinds and timestamps', () => {
    expect(releaseError(release({ ltsLines: ['5.8.2'] })).issues).toEqual([
      'ltsLines[0] = "5.8.2": a release line such as 5.8',
    ]);
    expect(releaseError(release({ kind: 'patch' })).issues).toEqual([expect.stringMatching(/^kind = "patch": /)]);
    expect(releaseError(release({ publishedAt: '2026-11-20' })).issues).toEqual([
      'publishedAt = "2026-11-20": not an ISO-8601 instant',
    ]);
  });

  it('reports every problem at once', () => {
    const err = releaseError({ id: 'lts 5.8.2', kind: 'security', targets: { dashboard: 'x', gateway: '5.8.2' } });
    expect(err.issues).toEqual([
      'id = "lts 5.8.2": letters, digits, dot, dash, underscore (max 63), e.g. lts-5.8.2',
      'targets.dashboard = "x": not a semantic version such as 5.8.2 or v5.8.2',
      expect.stringMatching(/^notesUrl = missing: /),
    ]);
  });
});
