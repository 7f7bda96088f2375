// The payload checks of the workflows' signals and updates (workflows/messages.ts, workflows/operatorRequests.ts):
// every payload our own code ever sent (the recorded histories) passes them unchanged, and a malformed one is refused
// with a message that names the field and the value. The workflows' use of them is in
// test/workflow/malformedSignals.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
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
} from '../../workflows/messages';
import {
  isIsoInstant,
  parseOperatorRequest,
  PayloadError,
  PayloadReader,
  show,
} from '../../workflows/operatorRequests';

type Parser = (raw: unknown, r: PayloadReader) => unknown;

const PARSERS: Record<string, Record<string, Parser>> = {
  controlPlane: {
    offer: parseReleaseOffer,
    withdraw: parseWithdrawal,
    grant: parseGrant,
    pause: parseOperatorRequest,
    resume: parseOperatorRequest,
    cancel: parseOperatorRequest,
    'retry-rollback': parseOperatorRequest,
    'abandon-rollback': parseOperatorRequest,
  },
  fleetRollout: {
    'ask-slot': parseSlotAsk,
    'return-slot': parseSlotReturn,
    report: parseUpgradeReport,
    forget: parseForget,
    reconcile: parseOperatorRequest,
    pause: parseOperatorRequest,
    resume: parseOperatorRequest,
    approve: parseOperatorRequest,
    freeze: parseFreeze,
    unfreeze: parseOperatorRequest,
    cancel: parseOperatorRequest,
    supersede: parseSupersede,
  },
};

interface RecordedSignal {
  file: string;
  name: string;
  payload: unknown;
}

function recordedSignals(): RecordedSignal[] {
  const dir = path.join(__dirname, '../replay/histories');
  const out: RecordedSignal[] = [];
  for (const type of fs.readdirSync(dir)) {
    for (const file of fs.readdirSync(path.join(dir, type)).filter((f) => f.endsWith('.json'))) {
      const history = JSON.parse(fs.readFileSync(path.join(dir, type, file), 'utf8')) as {
        events: {
          workflowExecutionSignaledEventAttributes?: { signalName: string; input?: { payloads?: unknown[] } };
        }[];
      };
      for (const e of history.events) {
        const a = e.workflowExecutionSignaledEventAttributes;
        if (!a) continue;
        const raw = a.input?.payloads?.[0] as { metadata: Record<string, string>; data?: string } | undefined;
        const payload = raw
          ? defaultPayloadConverter.fromPayload({
              metadata: Object.fromEntries(Object.entries(raw.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
              data: raw.data === undefined ? undefined : Buffer.from(raw.data, 'base64'),
            })
          : undefined;
        out.push({ file: `${type}/${file}`, name: a.signalName, payload });
      }
    }
  }
  return out;
}

describe('signal payloads our own code sends', () => {
  const recorded = recordedSignals();

  it('the recordings have signals to check', () => {
    expect(recorded.length).toBeGreaterThan(100);
  });

  it('every signal in the recorded histories passes its check, with no unknown field', () => {
    const refused: string[] = [];
    for (const { file, name, payload } of recorded) {
      const parse = PARSERS[file.split('/')[0]!]?.[name];
      if (!parse) {
        refused.push(`${file}: ${name}: no check for this signal`);
        continue;
      }
      const r = new PayloadReader();
      try {
        parse(payload, r);
        if (r.extra.length) refused.push(`${file}: ${name}: unknown ${r.extra.join(', ')}`);
      } catch (err) {
        refused.push(`${file}: ${name} ${JSON.stringify(payload)}: ${(err as Error).message}`);
      }
    }
    expect(refused).toEqual([]);
  });
});

describe('payload checks', () => {
  const r = () => new PayloadReader();
  const message = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(PayloadError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };
  const release = {
    id: 'lts-5.8.2',
    kind: 'lts',
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
  };
  const offer = {
    release,
    source: 'fleet',
    offeredAt: '2026-11-24T12:00:00.000Z',
    fleet: { workflowId: 'fleet/x', wave: 'main' },
  };

  it('name the field and the value, or say the field is missing', () => {
    expect(message(() => parseUpgradeReport(undefined, r()))).toMatch(/^payload is missing: expected an object/);
    expect(message(() => parseUpgradeReport(null, r()))).toMatch(/^payload = null: expected an object/);
    expect(message(() => parseUpgradeReport({}, r()))).toBe('controlPlaneId is missing: a non-empty string');
    expect(
      message(() =>
        parseUpgradeReport({ controlPlaneId: 'a', releaseId: 'b', outcome: 'exploded', changed: true }, r()),
      ),
    ).toBe(
      'outcome = "exploded": one of completed, skipped, cancelled, superseded, rolled-back, failed, failed-before-change',
    );
    expect(
      message(() => parseReleaseOffer({ ...offer, release: { ...release, targets: { dashboard: '5.8.2' } } }, r())),
    ).toBe('release.targets.gateway is missing: a semantic version such as 5.8.2');
    expect(message(() => parseReleaseOffer({ ...offer, release: { ...release, kind: 'security' } }, r()))).toBe(
      'release.affected is missing: a security release names the affected version range',
    );
    expect(message(() => parseReleaseOffer({ ...offer, fleet: { workflowId: 'fleet/x', wave: 'last' } }, r()))).toBe(
      'fleet.wave = "last": one of canary, main',
    );
    expect(message(() => parseFreeze({ until: '2026-02-30T00:00:00Z' }, r()))).toMatch(
      /^until = "2026-02-30T00:00:00Z": an ISO-8601 instant with a zone or offset/,
    );
    expect(message(() => parseOperatorRequest({ reason: 42 }, r()))).toBe(
      'reason = 42: a string (why), or leave it out',
    );
    expect(message(() => parseOperatorRequest(7, r()))).toMatch(/^payload = 7: expected \{"reason"/);
    expect(message(() => parseWithdrawal({ releaseId: 'lts 5' }, r()))).toMatch(/^releaseId = "lts 5": a release id/);
  });

  it('accept optional fields left out or null, and a bare reason string', () => {
    expect(parseOperatorRequest(undefined, r())).toEqual({});
    expect(parseOperatorRequest(null, r())).toEqual({});
    expect(parseOperatorRequest('incident', r())).toEqual({ reason: 'incident' });
    expect(parseOperatorRequest({ reason: null, by: 'jo' }, r())).toEqual({ by: 'jo' });
    expect(parseWithdrawal({ releaseId: 'lts-5.8.2', supersededBy: null }, r())).toEqual({ releaseId: 'lts-5.8.2' });
    expect(parseReleaseOffer(offer, r())).toEqual(offer);
  });

  it('signals: unknown fields are listed, not refused; updates (strict) refuse them', () => {
    const lenient = r();
    expect(parseOperatorRequest({ reason: 'x', ticket: 'INC-9' }, lenient)).toEqual({ reason: 'x' });
    expect(lenient.extra).toEqual(['ticket = "INC-9"']);
    expect(message(() => parseDefer({ days: 3, weeks: 1 }, new PayloadReader(true)))).toBe(
      'weeks = 1: not a field of this payload (its fields: days, reason, by)',
    );
    expect(message(() => parseDefer({ days: '3' }, new PayloadReader(true)))).toBe(
      'days = "3": a whole number of days',
    );
  });

  it('ISO instants: a zone or offset, and a date that exists', () => {
    for (const ok of [
      '2026-12-01T06:00:00Z',
      '2026-12-01T06:00Z',
      '2026-12-01T06:00:00.123Z',
      '2026-12-01T06:00:00+01:00',
      '2026-12-01T06:00:00-0530',
      '2028-02-29T00:00:00Z',
    ])
      expect([ok, isIsoInstant(ok)]).toEqual([ok, true]);
    for (const bad of [
      '2026-12-01 06:00',
      '2026-12-01T06:00:00',
      '2026-12-01',
      '2026-02-30T00:00:00Z',
      '2027-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-12-01T24:00:00Z',
      'tomorrow',
      '4h',
    ])
      expect([bad, isIsoInstant(bad)]).toEqual([bad, false]);
  });

  it('show values as JSON, cut short', () => {
    expect(show(undefined)).toBe('missing');
    expect(show('x')).toBe('"x"');
    expect(show({ a: [1] })).toBe('{"a":[1]}');
    expect(show('y'.repeat(500))).toHaveLength(121);
  });
});
