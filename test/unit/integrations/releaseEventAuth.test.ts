import crypto from 'node:crypto';
import { ReplayGuard, signReleaseEvent, verifyReleaseEvent } from '../../../integrations/releaseEventAuth';

const secret = 'test-secret';
const now = new Date('2026-11-24T12:00:00Z');
const ts = Math.floor(now.getTime() / 1000);
const body = JSON.stringify({
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes',
});
const signed = (b = body, t = ts, s = secret) => ({
  'x-nightshift-signature': signReleaseEvent(s, t, b),
  'x-nightshift-timestamp': String(t),
});

describe('signed release events', () => {
  it('accepts a correctly signed, fresh, valid event', () => {
    const v = verifyReleaseEvent(signed(), body, { secrets: [secret], now });
    expect(v).toEqual({
      ok: true,
      release: expect.objectContaining({ id: 'lts-5.8.2', kind: 'lts' }),
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
      signedAt: ts,
    });
  });

  it('accepts the second secret during a rotation', () => {
    expect(verifyReleaseEvent(signed(body, ts, 'new'), body, { secrets: ['old', 'new'], now }).ok).toBe(true);
  });

  it('rejects unsigned, badly signed, tampered and stale events with 4xx and a reason', () => {
    expect(verifyReleaseEvent({}, body, { secrets: [secret], now })).toMatchObject({ ok: false, status: 401 });
    expect(verifyReleaseEvent(signed(body, ts, 'wrong'), body, { secrets: [secret], now })).toEqual({
      ok: false,
      status: 401,
      error: 'bad signature',
    });
    expect(verifyReleaseEvent(signed(), body.replace('5.8.2', '5.9.0'), { secrets: [secret], now })).toMatchObject({
      status: 401,
      error: 'bad signature',
    });
    expect(verifyReleaseEvent(signed(body, ts - 301), body, { secrets: [secret], now })).toEqual({
      ok: false,
      status: 401,
      error: 'stale: signed 301 s ago, tolerance 300 s',
    });
    expect(
      verifyReleaseEvent({ ...signed(), 'x-nightshift-timestamp': 'yesterday' }, body, { secrets: [secret], now }),
    ).toMatchObject({ status: 400, error: expect.stringContaining('"yesterday": not Unix seconds') });
  });

  it('rejects a signed but invalid release with 422 naming the field', () => {
    const bad = JSON.stringify({
      id: 'x',
      kind: 'security',
      targets: { dashboard: '5.8.2', gateway: 'five' },
      notesUrl: 'https://a.b',
    });
    const v = verifyReleaseEvent(signed(bad), bad, { secrets: [secret], now });
    expect(v).toMatchObject({ ok: false, status: 422 });
    expect(v.ok ? '' : v.error).toContain('targets.gateway = "five"');
    expect(v.ok ? '' : v.error).toContain('affected');
    expect(verifyReleaseEvent(signed('{'), '{', { secrets: [secret], now })).toMatchObject({ status: 400 });
  });

  it('says how long ago a stale event was signed, and how far ahead one from the future is', () => {
    expect(verifyReleaseEvent(signed(body, ts - 3600), body, { secrets: [secret], now })).toEqual({
      ok: false,
      status: 401,
      error: 'stale: signed 3600 s ago, tolerance 300 s',
    });
    expect(verifyReleaseEvent(signed(body, ts + 3600), body, { secrets: [secret], now })).toEqual({
      ok: false,
      status: 401,
      error: "not yet valid: signed 3600 s from now, tolerance 300 s (is the sender's clock right?)",
    });
    // The edges of the window are inside it.
    for (const t of [ts - 300, ts + 300])
      expect(verifyReleaseEvent(signed(body, t), body, { secrets: [secret], now }).ok).toBe(true);
  });

  it('compares signatures with crypto.timingSafeEqual on equal-length digests, trying every secret', () => {
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      const forged = { ...signed(), 'x-nightshift-signature': `v1=${'0'.repeat(64)}` };
      expect(verifyReleaseEvent(forged, body, { secrets: ['a', secret], now })).toMatchObject({ status: 401 });
      expect(spy).toHaveBeenCalledTimes(2);
      for (const [a, b] of spy.mock.calls) expect((a as Buffer).length).toBe((b as Buffer).length);
      spy.mockClear();
      // A match on the first secret still computes the others (how long it takes does not say which one matched).
      expect(verifyReleaseEvent(signed(), body, { secrets: [secret, 'b', 'c'], now }).ok).toBe(true);
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a signature that is not "v1=" and 64 hex digits, naming the header', () => {
    for (const bad of ['v1=abc', `v2=${'a'.repeat(64)}`, `v1=${'g'.repeat(64)}`, 'sha256=x'])
      expect(
        verifyReleaseEvent({ ...signed(), 'x-nightshift-signature': bad }, body, { secrets: [secret], now }),
      ).toEqual({
        ok: false,
        status: 401,
        error: 'bad signature: x-nightshift-signature is not "v1=" and 64 hex digits',
      });
    // Upper-case hex is the same signature.
    const upper = signReleaseEvent(secret, ts, body).replace(/^v1=/, '').toUpperCase();
    expect(
      verifyReleaseEvent({ ...signed(), 'x-nightshift-signature': `v1=${upper}` }, body, { secrets: [secret], now }).ok,
    ).toBe(true);
  });

  it('returns the signature and its timestamp with an accepted event (for the replay guard)', () => {
    const v = verifyReleaseEvent(signed(), body, { secrets: [secret], now });
    expect(v).toMatchObject({ ok: true, signature: signReleaseEvent(secret, ts, body).slice(3), signedAt: ts });
  });
});

describe('replay guard', () => {
  const t = Date.parse('2026-11-24T12:00:00Z');

  it('refuses a signature seen within its window, saying when; forgets it after the window', () => {
    const guard = new ReplayGuard();
    expect(guard.claim('sig-a', t + 300_000, t)).toEqual({ ok: true });
    expect(guard.claim('sig-a', t + 300_000, t + 1000)).toEqual({ ok: false, firstSeenAt: t });
    expect(guard.claim('sig-b', t + 300_000, t + 1000)).toEqual({ ok: true });
    // After its window the signature is refused as stale anyway: the guard no longer needs to hold it.
    expect(guard.claim('sig-a', t + 900_000, t + 300_001)).toEqual({ ok: true });
    expect(guard.size).toBe(1); // sig-b expired with it
  });

  it('forgets a released signature (the start failed: the sender may retry it)', () => {
    const guard = new ReplayGuard();
    expect(guard.claim('sig-a', t + 300_000, t).ok).toBe(true);
    guard.release('sig-a');
    expect(guard.claim('sig-a', t + 300_000, t + 10).ok).toBe(true);
  });

  it('holds at most maxEntries signatures: beyond that it refuses rather than forget one', () => {
    const guard = new ReplayGuard({ maxEntries: 2 });
    expect(guard.claim('a', t + 1000, t).ok).toBe(true);
    expect(guard.claim('b', t + 1000, t).ok).toBe(true);
    expect(guard.claim('c', t + 1000, t)).toEqual({ ok: false, full: true });
    expect(guard.claim('c', t + 2000, t + 1001).ok).toBe(true);
  });
});
