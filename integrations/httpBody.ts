// Reading an HTTP request's body under a size cap, for the servers in integrations/ (each keeps its own limit and
// its own answer to a body that is too large).
import type http from 'node:http';

export interface ReadBodyOptions {
  /**
   * Reject when the connection closes before the body is complete (cut off by a request timeout, or the sender gone),
   * so that nothing waits on a dead request. Default false.
   */
  rejectOnEarlyClose?: boolean;
}

/**
 * Reads the body up to `limit` bytes. Resolves the bytes, or undefined as soon as the body grows past `limit` (it
 * stops buffering it then); rejects on a stream error.
 */
export function readBodyUpTo(
  req: http.IncomingMessage,
  limit: number,
  opts: ReadBodyOptions = {},
): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
    if (opts.rejectOnEarlyClose) {
      req.on('close', () => {
        if (!req.complete && !over) reject(new Error('the connection closed before the body was complete'));
      });
    }
  });
}
