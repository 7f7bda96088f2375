// An HTTP forwarder in front of a fake HubSpot or a fake alert receiver that the chaos harness switches into outages
// for minutes at a time: every request answered 503, 429 (with Retry-After), or held until the caller gives up.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type OutageMode = '503' | '429' | 'hang';

export interface OutageProxy {
  readonly url: string;
  /** Starts an outage (every request fails this way) or ends it (null). */
  setOutage(mode: OutageMode | null): void;
  readonly outage: OutageMode | null;
  /** Requests refused or held during outages, by mode. */
  readonly refused: Record<OutageMode, number>;
  readonly forwarded: number;
  close(): Promise<void>;
}

export async function startOutageProxy(target: string, name: string): Promise<OutageProxy> {
  const upstream = new URL(target);
  let outage: OutageMode | null = null;
  const refused: Record<OutageMode, number> = { '503': 0, '429': 0, hang: 0 };
  let forwarded = 0;
  const held = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    if (outage) {
      refused[outage]++;
      if (outage === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        return; // the caller's timeout ends it
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (outage === '429') headers['retry-after'] = '5';
      res.writeHead(Number(outage), headers).end(JSON.stringify({ message: `chaos: ${name} outage (${outage})` }));
      return;
    }
    forwarded++;
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502).end(`chaos proxy: ${err.message}`);
      else res.destroy();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname === '/' ? '' : upstream.pathname}`,
    setOutage(mode) {
      outage = mode;
      if (!mode) for (const res of held) res.destroy();
    },
    get outage() {
      return outage;
    },
    refused,
    get forwarded() {
      return forwarded;
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
