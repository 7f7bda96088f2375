// The codec server for the Temporal Web UI and CLI: `POST …/encode` and `POST …/decode` with Temporal's codec-server
// JSON contract, `{"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}` both ways (only the last path
// segment counts, so the endpoints may be mounted under any prefix). Every POST needs `Authorization: Bearer <token>`
// (compared in constant time). Browsers are served only from the configured Web UI origin: its CORS preflight is
// answered (credentials allowed); any other origin is refused. Bodies are capped. Each request is logged as one line
// (status and reason, never a token or a payload). Error answers are plain text: the Web UI then shows the payloads
// as they are instead of a broken decode.
import crypto from 'node:crypto';
import http from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { readBodyUpTo } from './httpBody';

export const DEFAULT_CODEC_MAX_BODY_BYTES = 4 * 1024 * 1024;
export const MIN_CODEC_TOKEN_LENGTH = 16;
const ALLOWED_HEADERS = 'authorization, content-type, x-namespace';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** The bearer token clients must present. */
  token: string;
  /** The Web UI's origin, e.g. `https://temporal-ui.example.com`: the only one a browser may call from. */
  uiOrigin: string;
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const digest = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest();

/** Constant-time comparison of a presented bearer token with the expected one (hashed first: equal lengths). */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  const presented = m?.[1] ?? '';
  // Always compare, so a missing header and a wrong token take the same time.
  return crypto.timingSafeEqual(digest(presented), digest(token)) && m !== null;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function fromBase64(value: unknown, field: string): Buffer {
  if (typeof value !== 'string') throw new HttpError(400, `${field} = ${show(value)}: must be a base64 string`);
  const bytes = Buffer.from(value, 'base64');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || bytes.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, ''))
    throw new HttpError(400, `${field} = ${show(value)}: not base64`);
  return bytes;
}

/** Proto3 JSON Payloads (bytes as base64) to Payload objects; bad input names the field and its value. */
export function payloadsFromJson(body: unknown): Payload[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(400, `body = ${show(body)}: must be an object {"payloads":[...]}`);
  const list = (body as { payloads?: unknown }).payloads;
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new HttpError(400, `payloads = ${show(list)}: must be an array`);
  return list.map((item: unknown, i) => {
    const at = `payloads[${i}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw new HttpError(400, `${at} = ${show(item)}: must be an object {"metadata":{...},"data":"<base64>"}`);
    const { metadata, data } = item as { metadata?: unknown; data?: unknown };
    if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)))
      throw new HttpError(400, `${at}.metadata = ${show(metadata)}: must be an object of base64 strings`);
    const meta: Record<string, Uint8Array> = {};
    for (const [key, value] of Object.entries((metadata ?? {}) as Record<string, unknown>))
      meta[key] = fromBase64(value, `${at}.metadata.${key}`);
    return { metadata: meta, data: data === undefined ? new Uint8Array() : fromBase64(data, `${at}.data`) };
  });
}

export function payloadsToJson(payloads: Payload[]): {
  payloads: { metadata: Record<string, string>; data: string }[];
} {
  const b64 = (bytes: Uint8Array | null | undefined) =>
    bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') : '';
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
      data: b64(p.data),
    })),
  };
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    throw new HttpError(413, `body of ${declared} bytes is over the limit of ${limit}`);
  const body = await readBodyUpTo(req, limit);
  if (body === undefined) throw new HttpError(413, `body is over the limit of ${limit} bytes`);
  return body;
}

export function createCodecServer(opts: CodecServerOptions): http.Server {
  if (opts.token.length < MIN_CODEC_TOKEN_LENGTH)
    throw new Error(`codec server: the bearer token must be at least ${MIN_CODEC_TOKEN_LENGTH} characters`);
  if (!URL.canParse(opts.uiOrigin) || new URL(opts.uiOrigin).origin !== opts.uiOrigin.replace(/\/$/, ''))
    throw new Error(
      `codec server: uiOrigin = ${JSON.stringify(opts.uiOrigin)} is not an origin (scheme://host[:port])`,
    );
  const uiOrigin = new URL(opts.uiOrigin).origin;
  const limit = opts.maxBodyBytes ?? DEFAULT_CODEC_MAX_BODY_BYTES;
  const log = opts.log ?? (() => {});

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
    const origin = req.headers.origin;
    const cors: Record<string, string> =
      origin === uiOrigin
        ? { 'access-control-allow-origin': uiOrigin, 'access-control-allow-credentials': 'true', vary: 'Origin' }
        : { vary: 'Origin' };
    const path = new URL(req.url ?? '/', 'http://codec').pathname;
    const endpoint = path.split('/').filter(Boolean).at(-1);
    try {
      if (origin !== undefined && origin !== uiOrigin)
        throw new HttpError(403, `origin ${show(origin)} is not allowed (only ${uiOrigin})`);
      if (endpoint !== 'encode' && endpoint !== 'decode')
        throw new HttpError(404, `no such endpoint: ${show(path)} (POST …/encode or …/decode)`);
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          ...cors,
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': ALLOWED_HEADERS,
          'access-control-max-age': '600',
        });
        res.end();
        return 'preflight';
      }
      if (req.method !== 'POST')
        throw new HttpError(405, `${req.method} not allowed on ${path}`, { allow: 'POST, OPTIONS' });
      if (!bearerTokenMatches(req.headers.authorization, opts.token))
        throw new HttpError(
          401,
          req.headers.authorization ? 'the bearer token is not valid' : 'Authorization: Bearer <token> is required',
          { 'www-authenticate': 'Bearer realm="nightshift-codec"' },
        );
      const raw = await readBody(req, limit);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(400, `body is not JSON (${raw.length} bytes)`);
      }
      const payloads = payloadsFromJson(body);
      let out: Payload[];
      try {
        out = endpoint === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
      } catch (err) {
        throw new HttpError(422, `cannot ${endpoint}: ${(err as Error).message}`);
      }
      res.writeHead(200, { ...cors, 'content-type': 'application/json' });
      res.end(JSON.stringify(payloadsToJson(out)));
      return `${out.length} payload(s)`;
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error).message}`);
      // A body over the limit is not read further: the connection is closed after the answer.
      const close: Record<string, string> = e.status === 413 ? { connection: 'close' } : {};
      res.writeHead(e.status, { ...cors, ...e.headers, ...close, 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${e.message}\n`);
      return e.message;
    }
  }

  return http.createServer((req, res) => {
    handle(req, res)
      .then((what) => {
        const ns = req.headers['x-namespace'];
        log(
          `codec server: ${req.socket.remoteAddress} ${req.method} ${req.url} ${res.statusCode}${ns ? ` namespace=${String(ns)}` : ''}: ${what}`,
        );
      })
      .catch((err: unknown) => log(`codec server: ${req.method} ${req.url}: ${String(err)}`));
  });
}
