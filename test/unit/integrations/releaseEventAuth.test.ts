import { signReleaseEvent, verifyReleaseEvent } from '../../../integrations/releaseEventAuth';

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
    expect(v).toEqual({ ok: true, release: expect.objectContaining({ id: 'lts-5.8.2', kind: 'lts' }) });
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
      error: 'stale: signed 301s from now, tolerance 300s',
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
});
