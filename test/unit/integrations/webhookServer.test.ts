import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Release } from '../../../domain/release';
import { signReleaseEvent } from '../../../integrations/releaseEventAuth';
import { createWebhookServer } from '../../../integrations/webhookServer';
import type { FleetStartResult } from '../../../client/startFleet';

const secret = 'webhook-test-secret-0123456789';
const event = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes',
  rollout: { bakeMinutes: 30 },
};
const body = JSON.stringify(event);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const signed = (b: string, opts: { secret?: string; timestamp?: number } = {}) => {
  const timestamp = opts.timestamp ?? nowSeconds();
  return {
    'x-nightshift-timestamp': String(timestamp),
    'x-nightshift-signature': signReleaseEvent(opts.secret ?? secret, timestamp, b),
  };
};

interface Answer {
  status: number;
  json: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

function request(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/release-events',
        headers: { 'content-type': 'application/json', ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : {}, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('release-event webhook', () => {
  let server: http.Server;
  let port: number;
  let started: Release[];
  let logs: string[];
  let next: () => Promise<FleetStartResult>;

  beforeEach(async () => {
    started = [];
    logs = [];
    next = async () => ({ workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'started' });
    server = createWebhookServer({
      secrets: ['old-secret-abcdefghijkl', secret],
      log: (line) => logs.push(line),
      start: async (release) => {
        started.push(release);
        return next();
      },
      maxBodyBytes: 4096,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('starts the rollout for a correctly signed event and answers 202 with the workflow id', async () => {
    const res = await request(port, { headers: signed(body), body });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({
      workflowId: 'fleet/lts-5.8.2',
      runId: 'run-1',
      result: 'started',
      release: 'lts-5.8.2',
    });
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ id: 'lts-5.8.2', kind: 'lts', targets: { gateway: '5.8.2' } });
    // The event's own rollout reaches start inside the release, with the schema's defaults applied.
    expect(started[0]!.rollout).toMatchObject({ bakeMinutes: 30, maxConcurrent: 10 });
    expect(logs).toEqual([
      expect.stringMatching(/^127\.0\.0\.1 POST \/release-events 202 started fleet\/lts-5\.8\.2$/),
    ]);
  });

  it('answers 200 when the event had already started the rollout (duplicate delivery)', async () => {
    next = async () => ({ workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'already-running' });
    const res = await request(port, { headers: signed(body), body });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ workflowId: 'fleet/lts-5.8.2', result: 'already-running' });
  });

  it('rejects unsigned, badly signed, tampered and stale events with 401 and starts nothing', async () => {
    const tampered = body.replace('5.8.2', '5.9.0');
    const cases: [Record<string, string>, string, RegExp][] = [
      [{}, body, /^unsigned/],
      [signed(body, { secret: 'not-the-secret-at-all' }), body, /^bad signature$/],
      [signed(body), tampered, /^bad signature$/],
      [signed(body, { timestamp: nowSeconds() - 3600 }), body, /^stale: signed 36\d\d s ago, tolerance 300 s$/],
      [
        signed(body, { timestamp: nowSeconds() + 3600 }),
        body,
        /^not yet valid: signed 3\d\d\d s from now, tolerance 300 s/,
      ],
      // Forged: a well-formed signature made without the secret, and one that is not a signature at all.
      [{ ...signed(body), 'x-nightshift-signature': `v1=${'ab'.repeat(32)}` }, body, /^bad signature$/],
      [{ ...signed(body), 'x-nightshift-signature': 'v1=not-hex' }, body, /^bad signature: x-nightshift-signature/],
    ];
    for (const [headers, sent, reason] of cases) {
      const res = await request(port, { headers, body: sent });
      expect(res.status).toBe(401);
      expect(res.json.error).toMatch(reason);
    }
    expect(started).toEqual([]);
    expect(logs).toHaveLength(cases.length);
    for (const line of logs) expect(line).toMatch(/^127\.0\.0\.1 POST \/release-events 401 \S/);
  });

  it('accepts the previous secret during a rotation', async () => {
    const res = await request(port, { headers: signed(body, { secret: 'old-secret-abcdefghijkl' }), body });
    expect(res.status).toBe(202);
    expect(started).toHaveLength(1);
  });

  it('answers 400 for a signed body that is not JSON', async () => {
    const res = await request(port, { headers: signed('{not json'), body: '{not json' });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(/^body is not JSON/);
    expect(started).toEqual([]);
  });

  it('answers 422 naming the field and value for a signed but invalid release, on one log line', async () => {
    const bad = JSON.stringify({ ...event, kind: 'security', targets: { dashboard: '5.8.2', gateway: 'five' } });
    const res = await request(port, { headers: signed(bad), body: bad });
    expect(res.status).toBe(422);
    expect(res.json.error).toContain('targets.gateway = "five"');
    expect(res.json.error).toContain('affected');
    expect(started).toEqual([]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).not.toContain('\n');
    expect(logs[0]).toContain('422 release event is invalid: targets.gateway = "five"');
  });

  it('answers 413 for a body over the limit without starting anything', async () => {
    const big = JSON.stringify({ ...event, padding: 'x'.repeat(10_000) });
    const res = await request(port, { headers: signed(big), body: big });
    expect(res.status).toBe(413);
    expect(res.json.error).toBe('body larger than 4096 bytes');
    expect(started).toEqual([]);
  });

  it('answers 413 for an oversize chunked body (no content-length)', async () => {
    const big = 'x'.repeat(10_000);
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/release-events' }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on('error', reject);
      req.write(big.slice(0, 5000));
      req.end(big.slice(5000));
    });
    expect(res).toBe(413);
    expect(started).toEqual([]);
  });

  it('answers 503 when the rollout cannot be started, so the sender retries', async () => {
    next = async () => {
      throw new Error('Failed to start Workflow', { cause: new Error('14 UNAVAILABLE: No connection established') });
    };
    const res = await request(port, { headers: signed(body), body });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json.error).toBe(
      'could not start the rollout of lts-5.8.2, retry later: Failed to start Workflow: 14 UNAVAILABLE: No connection established',
    );
    expect(logs).toEqual([expect.stringContaining(' 503 could not start the rollout of lts-5.8.2')]);
  });

  it('answers 405 for another method, 404 for another path, and 200 on /healthz', async () => {
    const get = await request(port, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const other = await request(port, { path: '/events', headers: signed(body), body });
    expect(other.status).toBe(404);
    expect(other.json.error).toBe('no such endpoint: /events');
    const health = await request(port, { method: 'GET', path: '/healthz' });
    expect(health).toMatchObject({ status: 200, json: { ok: true } });
    expect(started).toEqual([]);
    expect(logs).toHaveLength(2); // the health check is not logged
  });

  it('refuses a replay of the same signed request within the window with 409; a newly signed delivery is a duplicate (200)', async () => {
    // One clock reading for both signatures: read twice, a second boundary between them made the "new" signature the
    // same as the first (CI saw 409 for it).
    const t = nowSeconds();
    const headers = signed(body, { timestamp: t });
    const first = await request(port, { headers, body });
    expect(first.status).toBe(202);
    const replay = await request(port, { headers, body });
    expect(replay.status).toBe(409);
    expect(replay.json.error).toMatch(/^replayed: this signed request was received at \S+Z; sign each delivery anew$/);
    expect(started).toHaveLength(1);
    // The same event signed again (another timestamp) is a new delivery: the rollout exists already.
    next = async () => ({ workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'already-running' });
    const again = await request(port, { headers: signed(body, { timestamp: t - 1 }), body });
    expect(again.status).toBe(200);
    expect(started).toHaveLength(2);
    expect(logs[1]).toMatch(/ 409 replayed: /);
  });

  it('lets the sender retry the same signed request after a 503 (nothing was started)', async () => {
    next = async () => {
      throw new Error('14 UNAVAILABLE: No connection established');
    };
    const headers = signed(body);
    expect((await request(port, { headers, body })).status).toBe(503);
    next = async () => ({ workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'started' });
    expect((await request(port, { headers, body })).status).toBe(202);
  });

  it('refuses the second of two identical signed requests sent at once', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    next = async () => {
      await held;
      return { workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'started' };
    };
    const headers = signed(body);
    const a = request(port, { headers, body });
    await new Promise((r) => setTimeout(r, 100));
    const b = request(port, { headers, body });
    // The second is answered while the first still waits for its start.
    const early = await Promise.race([b, new Promise((r) => setTimeout(() => r('no answer yet'), 1000))]);
    release();
    expect(early).toMatchObject({ status: 409 });
    expect((await a).status).toBe(202);
    await b;
    expect(started).toHaveLength(1);
  });
});

describe('release-event webhook: slow senders', () => {
  let server: http.Server;
  let port: number;
  let started: Release[];
  let logs: string[];

  beforeEach(async () => {
    started = [];
    logs = [];
    server = createWebhookServer({
      secrets: [secret],
      log: (line) => logs.push(line),
      start: async (release) => {
        started.push(release);
        return { workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'started' };
      },
      headersTimeoutMs: 400,
      requestTimeoutMs: 800,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /**
   * Opens a raw connection, writes `first`, then `drip` every 100 ms; resolves with what the server answered and
   * after how long it closed the connection.
   */
  function slowSender(first: string, drip: string): Promise<{ answer: string; closedAfterMs: number }> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      let answer = '';
      const socket = net.connect(port, '127.0.0.1', () => socket.write(first));
      const timer = setInterval(() => {
        if (!socket.destroyed && drip) socket.write(drip);
      }, 100);
      const giveUp = setTimeout(() => {
        socket.destroy();
        reject(new Error(`still open after 5 s; answered ${JSON.stringify(answer)}`));
      }, 5000);
      socket.on('data', (d: Buffer) => (answer += d.toString('utf8')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        resolve({ answer, closedAfterMs: Date.now() - t0 });
      });
    });
  }

  it('cuts off a sender that trickles its headers (slowloris) at the headers timeout, with a 408 and a log line', async () => {
    const r = await slowSender('POST /release-events HTTP/1.1\r\nHost: webhook\r\n', 'X-Padding: x\r\n');
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.closedAfterMs).toBeLessThan(2000);
    expect(started).toEqual([]);
    expect(logs).toEqual([expect.stringMatching(/^127\.0\.0\.1 - - 408 request timeout/)]);
  });

  it('cuts off a sender that trickles a signed body at the request timeout', async () => {
    const headers = signed(body);
    const head =
      'POST /release-events HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      '\r\n';
    const r = await slowSender(head + body.slice(0, 10), ' ');
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.closedAfterMs).toBeLessThan(2500);
    expect(started).toEqual([]);
    expect(logs).toEqual([expect.stringMatching(/^127\.0\.0\.1 .*408 request timeout/)]);
  });

  it('closes a connection that sends nothing at all', async () => {
    const r = await slowSender('', '');
    expect(r.closedAfterMs).toBeLessThan(2000);
    expect(started).toEqual([]);
  });

  it('cuts off an oversized body that keeps coming, without buffering it', async () => {
    const head = 'POST /release-events HTTP/1.1\r\nHost: webhook\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = `${(2000).toString(16)}\r\n${'x'.repeat(2000)}\r\n`;
    const r = await slowSender(head + chunk.repeat(40), chunk);
    expect(r.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.closedAfterMs).toBeLessThan(2500);
    expect(started).toEqual([]);
  });

  it('refuses to run without a secret', () => {
    const start = async (): Promise<FleetStartResult> => {
      throw new Error('not called');
    };
    expect(() => createWebhookServer({ secrets: [], log: () => undefined, start })).toThrow(
      /at least one signing secret/,
    );
  });
});
