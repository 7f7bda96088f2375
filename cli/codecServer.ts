// `nightshift codec-server`: the codec server for the Temporal Web UI (integrations/codecServer.ts), decrypting and
// encrypting payloads with the worker's keys. Configured by environment variables: NIGHTSHIFT_ENCRYPTION_KEYS (and
// _KEY_ID), NIGHTSHIFT_CODEC_SERVER_TOKEN, _HOST, _PORT, _UI_ORIGIN. Stops cleanly on SIGINT/SIGTERM.
import { createCodecServer, MIN_CODEC_TOKEN_LENGTH } from '../integrations/codecServer';
import { EncryptionCodec, parseEncryptionSettings } from '../integrations/encryptionCodec';
import { loadConfig } from '../config/config';

function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

/** Serves until SIGINT/SIGTERM; configuration errors start with `configuration:` (exit 2). */
export async function runCodecServer(): Promise<void> {
  const config = loadConfig();
  const keyring = parseEncryptionSettings(config);
  if (!keyring)
    throw new Error(
      'configuration: NIGHTSHIFT_ENCRYPTION_KEYS is required (the keys the workers encrypt with: <key id>:<base64 key>, comma-separated)',
    );
  const token = config.NIGHTSHIFT_CODEC_SERVER_TOKEN;
  if (!token)
    throw new Error('configuration: NIGHTSHIFT_CODEC_SERVER_TOKEN is required (clients send it as a bearer token)');
  if (token.length < MIN_CODEC_TOKEN_LENGTH)
    throw new Error(
      `configuration: NIGHTSHIFT_CODEC_SERVER_TOKEN is shorter than ${MIN_CODEC_TOKEN_LENGTH} characters (value not shown: it is a secret)`,
    );
  const uiOrigin = config.NIGHTSHIFT_CODEC_SERVER_UI_ORIGIN;
  const server = createCodecServer({ codec: new EncryptionCodec(keyring), token, uiOrigin, log });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.NIGHTSHIFT_CODEC_SERVER_PORT, config.NIGHTSHIFT_CODEC_SERVER_HOST, () => resolve());
  });
  const address = server.address();
  const where = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
  log(
    `nightshift codec server: listening on http://${where} (POST /encode, /decode; Web UI origin ${uiOrigin}; ${keyring.keys.size} key(s), current "${keyring.currentKeyId}")`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log(`nightshift codec server: ${signal}, stopping`);
      server.close(() => resolve());
      server.closeIdleConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
