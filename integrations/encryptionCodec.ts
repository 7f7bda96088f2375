// Optional payload encryption: an AES-256-GCM PayloadCodec, on the client and the worker alike, so that workflow
// inputs, results, signals, queries, memos and activity arguments reach Temporal (and its history) encrypted.
//
// An encrypted payload is `{ metadata: { encoding: "binary/encrypted", "encryption-key-id": <id> }, data: iv ‖
// ciphertext ‖ tag }`, the plaintext being the whole original Payload proto (its metadata too), as in Temporal's own
// samples. New payloads are encrypted with the current key; any known key decrypts (rotation: add the new key, make it
// current, keep the old one until no open workflow holds payloads encrypted with it). Payloads that are not encrypted
// pass through decode unchanged (those written before encryption was turned on).
//
// Keys come from NIGHTSHIFT_ENCRYPTION_KEYS (`id:base64key,...`, a secret) and NIGHTSHIFT_ENCRYPTION_KEY_ID (the
// current key's id). Errors name the variable, the entry and the key id, never key material.
import crypto from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const KEYS_VARIABLE = 'NIGHTSHIFT_ENCRYPTION_KEYS';
export const KEY_ID_VARIABLE = 'NIGHTSHIFT_ENCRYPTION_KEY_ID';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Short enough that a base64 AES-256 key (44 characters) put where an id belongs is never taken for one (and shown). */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const KEY_ID_RULE = "1 to 32 letters, digits, '.', '_' or '-'";

export interface EncryptionKeyring {
  /** Key id → 32-byte AES key. */
  readonly keys: ReadonlyMap<string, Buffer>;
  /** The id of the key new payloads are encrypted with. */
  readonly currentKeyId: string;
}

export interface EncryptionSettings {
  NIGHTSHIFT_ENCRYPTION_KEYS?: string;
  NIGHTSHIFT_ENCRYPTION_KEY_ID?: string;
}

function fail(message: string): never {
  throw new Error(`configuration: ${message}`);
}

/** Standard or URL-safe base64, padded or not; undefined when the text is anything else. */
function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  const standard = text.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Buffer.from(standard, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== standard.replace(/=+$/, '')) return undefined;
  return bytes;
}

/**
 * The keyring the settings describe, or undefined when encryption is off (neither variable set). Throws an Error whose
 * message starts with `configuration:` and names the variable, the entry and the key id; key material is never shown.
 */
export function parseEncryptionSettings(settings: EncryptionSettings): EncryptionKeyring | undefined {
  const keysText = settings.NIGHTSHIFT_ENCRYPTION_KEYS?.trim() || undefined;
  const currentText = settings.NIGHTSHIFT_ENCRYPTION_KEY_ID?.trim() || undefined;
  const showId = (id: string) =>
    KEY_ID_PATTERN.test(id) ? JSON.stringify(id) : `(not shown: not a key id, so perhaps key material)`;
  if (!keysText) {
    if (currentText)
      fail(`${KEY_ID_VARIABLE} = ${showId(currentText)} is set but ${KEYS_VARIABLE} is not: set both, or neither`);
    return undefined;
  }
  const keys = new Map<string, Buffer>();
  const entries = keysText
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  entries.forEach((entry, i) => {
    const where = `${KEYS_VARIABLE}: entry ${i + 1} of ${entries.length}`;
    const colon = entry.indexOf(':');
    if (colon < 0) fail(`${where} is not <key id>:<base64 key> (value not shown: it is a secret)`);
    const id = entry.slice(0, colon).trim();
    const material = entry.slice(colon + 1).trim();
    if (!KEY_ID_PATTERN.test(id))
      fail(`${where} has no valid key id before its ':' (${KEY_ID_RULE}; value not shown: it is a secret)`);
    if (keys.has(id)) fail(`${where}: key id "${id}" appears more than once`);
    const key = decodeBase64(material);
    if (!key) fail(`${where}: the key of key id "${id}" is not base64 (value not shown: it is a secret)`);
    if (key.length !== KEY_BYTES)
      fail(
        `${where}: the key of key id "${id}" is ${key.length} bytes; AES-256-GCM needs ${KEY_BYTES} (make one with \`openssl rand -base64 32\`)`,
      );
    keys.set(id, key);
  });
  if (keys.size === 0) fail(`${KEYS_VARIABLE} is set but holds no key: <key id>:<base64 key>, comma-separated`);
  const ids = [...keys.keys()].join(', ');
  let currentKeyId: string;
  if (currentText === undefined) {
    if (keys.size > 1)
      fail(
        `${KEY_ID_VARIABLE} is required when ${KEYS_VARIABLE} holds several keys (key ids: ${ids}): it names the key new payloads are encrypted with`,
      );
    currentKeyId = [...keys.keys()][0]!;
  } else {
    if (!KEY_ID_PATTERN.test(currentText))
      fail(`${KEY_ID_VARIABLE} is not a key id (${KEY_ID_RULE}; value not shown: it may be key material)`);
    if (!keys.has(currentText))
      fail(`${KEY_ID_VARIABLE} = "${currentText}": no such key id in ${KEYS_VARIABLE} (key ids: ${ids})`);
    currentKeyId = currentText;
  }
  return { keys, currentKeyId };
}

/** Thrown when a payload cannot be decrypted: the message says why and names the key id, never the key. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? Buffer.from(value).toString('utf8') : undefined;
}

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: EncryptionKeyring) {
    if (!keyring.keys.has(keyring.currentKeyId))
      throw new Error(`EncryptionCodec: the current key id "${keyring.currentKeyId}" is not in the keyring`);
    for (const [id, key] of keyring.keys)
      if (key.length !== KEY_BYTES) throw new Error(`EncryptionCodec: key id "${id}" is not ${KEY_BYTES} bytes`);
  }

  get currentKeyId(): string {
    return this.keyring.currentKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.currentKeyId;
    const key = this.keyring.keys.get(keyId)!;
    return payloads.map((payload) => {
      const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return {
        metadata: {
          encoding: Buffer.from(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: Buffer.from(keyId),
        },
        data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (metadataText(payload, 'encoding') !== ENCRYPTED_ENCODING) return payload;
      const keyId = metadataText(payload, KEY_ID_METADATA);
      if (!keyId) throw new PayloadDecryptionError(`an encrypted payload has no ${KEY_ID_METADATA} in its metadata`);
      const key = this.keyring.keys.get(keyId);
      if (!key) {
        const known = [...this.keyring.keys.keys()].join(', ');
        throw new PayloadDecryptionError(
          `payload encrypted with key id ${JSON.stringify(keyId)}, which is not among the known key ids (${known}): add that key to ${KEYS_VARIABLE}`,
        );
      }
      const data = payload.data ?? new Uint8Array();
      if (data.length < IV_BYTES + TAG_BYTES)
        throw new PayloadDecryptionError(
          `payload encrypted with key id ${JSON.stringify(keyId)} is ${data.length} bytes, too short to hold an IV and a tag`,
        );
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const iv = bytes.subarray(0, IV_BYTES);
      const tag = bytes.subarray(bytes.length - TAG_BYTES);
      const ciphertext = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
      let plaintext: Buffer;
      try {
        const decipher = crypto.createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
        decipher.setAuthTag(tag);
        plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch {
        throw new PayloadDecryptionError(
          `payload encrypted with key id ${JSON.stringify(keyId)} failed authentication: it was altered, or encrypted with a different key under that id`,
        );
      }
      try {
        return temporal.api.common.v1.Payload.decode(plaintext) as Payload;
      } catch (err) {
        throw new PayloadDecryptionError(
          `payload encrypted with key id ${JSON.stringify(keyId)} decrypted, but is not a Payload: ${(err as Error).message}`,
        );
      }
    });
  }
}

/** The data converter for the settings: the encryption codec when keys are configured, else undefined (the SDK's). */
export function encryptionDataConverter(settings: EncryptionSettings): DataConverter | undefined {
  const keyring = parseEncryptionSettings(settings);
  return keyring ? { payloadCodecs: [new EncryptionCodec(keyring)] } : undefined;
}
