import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBodyUpTo, type ReadBodyOptions } from '../../../integrations/httpBody';

/** A server that reads each request's body with readBodyUpTo and hands the outcome to the test. */
async function withServer(
  limit: number,
  opts: ReadBodyOptions,
  run: (port: number, outcome: Promise<Buffer | undefined | Error>) => Promise<void>,
): Promise<void> {
  let settle!: (value: Buffer | undefined | Error) => void;
  const outcome = new Promise<Buffer | undefined | Error>((resolve) => (settle = resolve));
  const server = http.createServer((req, res) => {
    readBodyUpTo(req, limit, opts).then(
      (body) => {
        settle(body);
        res.end();
      },
      (err: Error) => settle(err),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run((server.address() as AddressInfo).port, outcome);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function send(port: number, chunks: string[], end = true): http.ClientRequest {
  const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/' });
  req.on('error', () => {}); // the server may stop reading
  for (const c of chunks) req.write(c);
  if (end) req.end();
  return req;
}

describe('readBodyUpTo', () => {
  it('resolves the whole body when it is within the limit', async () => {
    await withServer(10, {}, async (port, outcome) => {
      send(port, ['hello', ' you']);
      expect((await outcome)?.toString('utf8')).toBe('hello you');
    });
  });

  it('resolves undefined as soon as the body grows past the limit, before it ends', async () => {
    await withServer(10, {}, async (port, outcome) => {
      const req = send(port, ['0123456789', 'x'], false);
      expect(await outcome).toBeUndefined();
      req.destroy();
    });
  });

  it('rejects when the sender goes away before the body is complete', async () => {
    for (const opts of [{}, { rejectOnEarlyClose: true }]) {
      await withServer(100, opts, async (port, outcome) => {
        const req = send(port, ['part'], false);
        await new Promise((resolve) => setTimeout(resolve, 50));
        req.destroy();
        // Node reports the reset as an error ('aborted'); the early-close check covers a close without one.
        expect(await outcome).toMatchObject({
          message: expect.stringMatching(/^(aborted|the connection closed before)/),
        });
      });
    }
  });
});
