// The codec server over real HTTP: Temporal's codec-server JSON contract, the bearer token, CORS for the Web UI's
// origin only, the body limit, and clear errors.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  bearerTokenMatches,
  createCodecServer,
  payloadsFromJson,
  payloadsToJson,
} from '../../integrations/codecServer';
import { EncryptionCodec, parseEncryptionSettings } from '../../integrations/encryptionCodec';

const TOKEN = `codec-token-${crypto.randomBytes(12).toString('hex')}`;
const UI_ORIGIN = 'http://127.0.0.1:8233';
const KEY = crypto.randomBytes(32).toString('base64');
const codec = new EncryptionCodec(parseEncryptionSettings({ NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${KEY}` })!);
const VALUE = { controlPlaneId: 'cp-codec', release: 'lts-5.8.2' };

let server: http.Server;
let base: string;
const logs: string[] = [];

beforeAll(async () => {
  server = createCodecServer({
    codec,
    token: TOKEN,
    uiOrigin: UI_ORIGIN,
    maxBodyBytes: 64 * 1024,
    log: (l) => logs.push(l),
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  // The log says what happened, never the token.
  expect(logs.length).toBeGreaterThan(0);
  for (const line of logs) expect(line).not.toContain(TOKEN);
});

const auth = { authorization: `Bearer ${TOKEN}` };
const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function encrypted(): Promise<unknown> {
  return payloadsToJson(await codec.encode([defaultPayloadConverter.toPayload(VALUE)]));
}

describe('codec server', () => {
  it('decodes and encodes with the JSON contract, under any path prefix', async () => {
    const res = await post('/decode', await encrypted());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual(VALUE);

    const plain = payloadsToJson([defaultPayloadConverter.toPayload(VALUE)]);
    const enc = await post('/namespaces/default/encode', plain, { ...auth, 'x-namespace': 'default' });
    expect(enc.status).toBe(200);
    const encBody = await enc.json();
    const [p] = payloadsFromJson(encBody);
    expect(Buffer.from(p!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(defaultPayloadConverter.fromPayload((await codec.decode([p!]))[0]!)).toEqual(VALUE);
    // An empty request is an empty answer.
    expect(await (await post('/decode', {})).json()).toEqual({ payloads: [] });
  });

  it('requires the bearer token', async () => {
    const body = await encrypted();
    const variants: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-of-some-length' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: TOKEN },
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    ];
    for (const headers of variants) {
      const res = await post('/decode', body, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="nightshift-codec"');
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(text).toMatch(/Authorization: Bearer <token> is required|the bearer token is not valid/);
      expect(text).not.toContain(TOKEN);
    }
    expect(bearerTokenMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerTokenMatches(`bearer  ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerTokenMatches(undefined, TOKEN)).toBe(false);
    expect(bearerTokenMatches('Bearer ', TOKEN)).toBe(false);
  });

  it('answers the Web UI origin’s preflight, allows credentials, and refuses other origins', async () => {
    const preflight = await fetch(`${base}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: UI_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-namespace',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-namespace');
    expect(preflight.headers.get('vary')).toBe('Origin');

    const fromUi = await post('/decode', await encrypted(), { ...auth, origin: UI_ORIGIN });
    expect(fromUi.status).toBe(200);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    // A 401 to the UI still carries CORS headers, so the UI can tell (it then shows the payloads as they are).
    const noToken = await post('/decode', await encrypted(), { origin: UI_ORIGIN });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);

    for (const origin of ['http://evil.example', 'http://127.0.0.1:8234', 'null']) {
      const other = await fetch(`${base}/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      expect(other.status).toBe(403);
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      const otherPost = await post('/decode', await encrypted(), { ...auth, origin });
      expect(otherPost.status).toBe(403);
      expect(otherPost.headers.get('access-control-allow-origin')).toBeNull();
      expect(await otherPost.text()).toBe(`origin ${JSON.stringify(origin)} is not allowed (only ${UI_ORIGIN})\n`);
    }
  });

  it('caps the body, declared or streamed', async () => {
    const big = JSON.stringify({ payloads: [{ metadata: {}, data: 'A'.repeat(70 * 1024) }] });
    const declared = await post('/decode', big);
    expect(declared.status).toBe(413);
    expect(await declared.text()).toMatch(/body of \d+ bytes is over the limit of 65536/);
    // Chunked, without a Content-Length: cut off once past the limit.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/decode`, { method: 'POST', headers: { ...auth } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('A'.repeat(8 * 1024));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('names the field and the value of bad input; names the key id it lacks', async () => {
    const cases: [unknown, number, string][] = [
      ['{not json', 400, 'body is not JSON (9 bytes)'],
      [[1], 400, 'body = [1]: must be an object {"payloads":[...]}'],
      [{ payloads: 'x' }, 400, 'payloads = "x": must be an array'],
      [{ payloads: [7] }, 400, 'payloads[0] = 7: must be an object'],
      [{ payloads: [{ metadata: [] }] }, 400, 'payloads[0].metadata = []: must be an object of base64 strings'],
      [
        { payloads: [{ metadata: { encoding: 5 } }] },
        400,
        'payloads[0].metadata.encoding = 5: must be a base64 string',
      ],
      [{ payloads: [{ data: '%%%' }] }, 400, 'payloads[0].data = "%%%": not base64'],
    ];
    for (const [body, status, message] of cases) {
      const res = await post('/decode', body);
      expect({ status: res.status, text: await res.text() }).toEqual({
        status,
        text: expect.stringContaining(message),
      });
    }
    const other = new EncryptionCodec(
      parseEncryptionSettings({ NIGHTSHIFT_ENCRYPTION_KEYS: `k9:${crypto.randomBytes(32).toString('base64')}` })!,
    );
    const foreign = payloadsToJson(await other.encode([defaultPayloadConverter.toPayload(VALUE)]));
    const res = await post('/decode', foreign);
    expect(res.status).toBe(422);
    expect(await res.text()).toContain(
      'cannot decode: payload encrypted with key id "k9", which is not among the known key ids (k1)',
    );
    expect((await fetch(`${base}/decode`, { headers: auth })).status).toBe(405);
    const missing = await post('/elsewhere', {});
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('no such endpoint: "/elsewhere"');
  });

  it('refuses a short token or an origin with a path', () => {
    const opts = { codec, token: TOKEN, uiOrigin: UI_ORIGIN };
    expect(() => createCodecServer({ ...opts, token: 'short' })).toThrow('at least 16 characters');
    expect(() => createCodecServer({ ...opts, uiOrigin: 'http://ui.example/app' })).toThrow(
      'uiOrigin = "http://ui.example/app" is not an origin',
    );
  });
});
