// The AES-256-GCM payload codec: round trip through Temporal's payload converter, key rotation by key id, tamper
// detection, and configuration errors that name the variable and key id but never show key material.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  encryptionDataConverter,
  KEY_ID_METADATA,
  parseEncryptionSettings,
  PayloadDecryptionError,
} from '../../integrations/encryptionCodec';
import { loadConfig } from '../../config/config';
import { configuredDataConverter } from '../../client/temporalClient';

const key = () => crypto.randomBytes(32).toString('base64');
const K1 = key();
const K2 = key();
const codecOf = (keys: string, current?: string) =>
  new EncryptionCodec(
    parseEncryptionSettings({ NIGHTSHIFT_ENCRYPTION_KEYS: keys, NIGHTSHIFT_ENCRYPTION_KEY_ID: current })!,
  );
const text = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString('utf8');
const VALUE = { controlPlaneId: 'cp-secret-plans', release: { id: 'lts-5.8.2' }, note: 'ünïcødé', n: 42 };

describe('EncryptionCodec', () => {
  it('round-trips payloads, keeps nothing readable, and marks each with its key id', async () => {
    const codec = codecOf(`k1:${K1}`);
    const plain = [defaultPayloadConverter.toPayload(VALUE), defaultPayloadConverter.toPayload(null)];
    const encoded = await codec.encode(plain);
    expect(encoded).toHaveLength(2);
    for (const p of encoded) {
      expect(text(p, 'encoding')).toBe(ENCRYPTED_ENCODING);
      expect(text(p, KEY_ID_METADATA)).toBe('k1');
      expect(Object.keys(p.metadata!).sort()).toEqual(['encoding', KEY_ID_METADATA].sort());
      const raw = Buffer.from(p.data!);
      expect(raw.toString('utf8')).not.toContain('cp-secret-plans');
      expect(raw.toString('utf8')).not.toContain('json/plain');
    }
    // A fresh IV each time: the same value never encrypts to the same bytes.
    const again = await codec.encode([plain[0]!]);
    expect(Buffer.from(again[0]!.data!).equals(Buffer.from(encoded[0]!.data!))).toBe(false);
    const decoded = await codec.decode(encoded);
    expect(defaultPayloadConverter.fromPayload(decoded[0]!)).toEqual(VALUE);
    expect(defaultPayloadConverter.fromPayload(decoded[1]!)).toBeNull();
    expect(text(decoded[0]!, 'encoding')).toBe('json/plain');
  });

  it('passes payloads that are not encrypted through decode unchanged', async () => {
    const codec = codecOf(`k1:${K1}`);
    const plain = defaultPayloadConverter.toPayload(VALUE);
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('rotates: encrypts with the current key id, decrypts with any known one', async () => {
    const old = codecOf(`k1:${K1}`);
    const rotated = codecOf(`k1:${K1},k2:${K2}`, 'k2');
    const fromOld = await old.encode([defaultPayloadConverter.toPayload(VALUE)]);
    const fromNew = await rotated.encode([defaultPayloadConverter.toPayload(VALUE)]);
    expect(text(fromNew[0]!, KEY_ID_METADATA)).toBe('k2');
    expect(defaultPayloadConverter.fromPayload((await rotated.decode(fromOld))[0]!)).toEqual(VALUE);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode(fromNew))[0]!)).toEqual(VALUE);
    // A process that has not got the new key yet names the key id it lacks.
    await expect(old.decode(fromNew)).rejects.toThrow(
      'payload encrypted with key id "k2", which is not among the known key ids (k1): add that key to NIGHTSHIFT_ENCRYPTION_KEYS',
    );
    await expect(old.decode(fromNew)).rejects.toBeInstanceOf(PayloadDecryptionError);
  });

  it('detects tampering: a flipped bit, a cut payload, a swapped key under the same id, a relabelled key id', async () => {
    const codec = codecOf(`k1:${K1},k2:${K2}`, 'k1');
    const [enc] = await codec.encode([defaultPayloadConverter.toPayload(VALUE)]);
    for (const index of [0, 13, Buffer.from(enc!.data!).length - 1]) {
      const data = Buffer.from(enc!.data!);
      data[index]! ^= 0x01;
      await expect(codec.decode([{ ...enc!, data }])).rejects.toThrow(
        'payload encrypted with key id "k1" failed authentication: it was altered, or encrypted with a different key under that id',
      );
    }
    await expect(codec.decode([{ ...enc!, data: Buffer.from(enc!.data!).subarray(0, 20) }])).rejects.toThrow(
      'is 20 bytes, too short to hold an IV and a tag',
    );
    await expect(codecOf(`k1:${K2}`).decode([enc!])).rejects.toThrow('failed authentication');
    const relabelled = { ...enc!, metadata: { ...enc!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await expect(codec.decode([relabelled])).rejects.toThrow('key id "k2" failed authentication');
    const noId = { ...enc!, metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING) } };
    await expect(codec.decode([noId])).rejects.toThrow('an encrypted payload has no encryption-key-id');
  });

  it('is off without keys; the data converter carries the codec when they are set', () => {
    expect(parseEncryptionSettings({})).toBeUndefined();
    expect(encryptionDataConverter({})).toBeUndefined();
    expect(configuredDataConverter({})).toBeUndefined();
    const dc = configuredDataConverter({ NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1}` });
    expect(dc?.payloadCodecs?.[0]).toBeInstanceOf(EncryptionCodec);
    expect((dc!.payloadCodecs![0] as EncryptionCodec).currentKeyId).toBe('k1');
    // URL-safe base64 without padding is accepted too.
    const urlSafe = crypto.randomBytes(32).toString('base64url');
    expect(parseEncryptionSettings({ NIGHTSHIFT_ENCRYPTION_KEYS: `u:${urlSafe}` })!.keys.get('u')!.length).toBe(32);
  });
});

describe('encryption settings', () => {
  const SHORT = crypto.randomBytes(16).toString('base64');
  /** The error of parsing the settings; it must never contain any key material. */
  function errorOf(settings: Record<string, string>): string {
    let message = '';
    try {
      parseEncryptionSettings(settings);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const secret of [K1, K2, SHORT, 'not-base64!!', 'QUJD']) expect(message).not.toContain(secret);
    return message;
  }

  it.each([
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: K1 },
      'NIGHTSHIFT_ENCRYPTION_KEYS: entry 1 of 1 is not <key id>:<base64 key> (value not shown: it is a secret)',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `${K1}:k1` },
      "NIGHTSHIFT_ENCRYPTION_KEYS: entry 1 of 1 has no valid key id before its ':' (1 to 32 letters, digits, '.', '_' or '-'; value not shown: it is a secret)",
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1},k1:${K2}` },
      'NIGHTSHIFT_ENCRYPTION_KEYS: entry 2 of 2: key id "k1" appears more than once',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1},k2:not-base64!!` },
      'NIGHTSHIFT_ENCRYPTION_KEYS: entry 2 of 2: the key of key id "k2" is not base64 (value not shown: it is a secret)',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${SHORT}` },
      'NIGHTSHIFT_ENCRYPTION_KEYS: entry 1 of 1: the key of key id "k1" is 16 bytes; AES-256-GCM needs 32',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: 'k1:QUJD' },
      'NIGHTSHIFT_ENCRYPTION_KEYS: entry 1 of 1: the key of key id "k1" is 3 bytes',
    ],
    [{ NIGHTSHIFT_ENCRYPTION_KEYS: ' , ' }, 'NIGHTSHIFT_ENCRYPTION_KEYS is set but holds no key'],
    [
      { NIGHTSHIFT_ENCRYPTION_KEY_ID: 'k1' },
      'NIGHTSHIFT_ENCRYPTION_KEY_ID = "k1" is set but NIGHTSHIFT_ENCRYPTION_KEYS is not: set both, or neither',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1},k2:${K2}` },
      'NIGHTSHIFT_ENCRYPTION_KEY_ID is required when NIGHTSHIFT_ENCRYPTION_KEYS holds several keys (key ids: k1, k2)',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1},k2:${K2}`, NIGHTSHIFT_ENCRYPTION_KEY_ID: 'k3' },
      'NIGHTSHIFT_ENCRYPTION_KEY_ID = "k3": no such key id in NIGHTSHIFT_ENCRYPTION_KEYS (key ids: k1, k2)',
    ],
    [
      { NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1}`, NIGHTSHIFT_ENCRYPTION_KEY_ID: K2 },
      'NIGHTSHIFT_ENCRYPTION_KEY_ID is not a key id (1 to 32 letters',
    ],
  ])('refused clearly: %#', (settings, expected) => {
    const message = errorOf(settings);
    expect(message).toContain(`configuration: ${expected}`);
  });

  it('loadConfig checks them at start, takes the keys from a file, and never from the settings file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-keys-'));
    try {
      expect(() => loadConfig({ NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${SHORT}` })).toThrow(
        'the key of key id "k1" is 16 bytes',
      );
      const keysFile = path.join(dir, 'keys');
      fs.writeFileSync(keysFile, `k1:${K1},k2:${K2}\n`);
      const config = loadConfig({ NIGHTSHIFT_ENCRYPTION_KEYS_FILE: keysFile, NIGHTSHIFT_ENCRYPTION_KEY_ID: 'k2' });
      expect(parseEncryptionSettings(config)?.currentKeyId).toBe('k2');
      const settingsFile = path.join(dir, 'settings.json');
      fs.writeFileSync(settingsFile, JSON.stringify({ NIGHTSHIFT_ENCRYPTION_KEYS: `k1:${K1}` }));
      let message = '';
      try {
        loadConfig({ NIGHTSHIFT_CONFIG_FILE: settingsFile });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain('NIGHTSHIFT_ENCRYPTION_KEYS is a secret');
      expect(message).not.toContain(K1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks the codec server settings', () => {
    expect(loadConfig({}).NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN).toBe('http://localhost:8233');
    expect(
      loadConfig({ NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN: 'https://ui.example.com/' }).NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN,
    ).toBe('https://ui.example.com');
    expect(() => loadConfig({ NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN: 'https://ui.example.com/app' })).toThrow(
      'NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN = "https://ui.example.com/app": must be the Web UI origin',
    );
    expect(() => loadConfig({ NIGHTSHIFT_CODEC_SERVER_PORT: '70000' })).toThrow(
      'NIGHTSHIFT_CODEC_SERVER_PORT = "70000"',
    );
  });
});
