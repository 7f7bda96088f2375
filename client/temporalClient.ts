// A Temporal client for the operator entry points (release CLI, webhook, SRE CLI), connected with the same settings
// as the worker (worker/worker.ts connectWorker): both go through config/temporalConnection.ts.
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { encryptionDataConverter } from '../integrations/encryptionCodec';
import type { Config } from '../config/config';
import { temporalConnectionOptions } from '../config/temporalConnection';

type TemporalSettings = Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_API_KEY' | 'temporal'>;

type EncryptionSettings = Partial<Pick<Config, 'NIGHTSHIFT_ENCRYPTION_KEYS' | 'NIGHTSHIFT_ENCRYPTION_KEY_ID'>>;

/**
 * The data converter of every client and worker of a configuration: the AES-256-GCM codec when
 * NIGHTSHIFT_ENCRYPTION_KEYS is set (integrations/encryptionCodec.ts), else undefined (the SDK's default).
 */
export function configuredDataConverter(config: EncryptionSettings): DataConverter | undefined {
  return encryptionDataConverter(config);
}

/** mTLS with a client certificate; TLS for an API key, a CA or TEMPORAL_TLS=true; otherwise plain. */
export function clientConnectionOptions(config: TemporalSettings): ConnectionOptions {
  return temporalConnectionOptions(config);
}

export interface ConnectedClient {
  client: Client;
  /** Connects now if not yet connected; rejects naming the address when Temporal cannot be reached. */
  ensureConnected(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A client on the configured namespace. Eager by default (fails fast, naming the address); `lazy` connects on the
 * first call instead, for a long-running process that must start while Temporal is down.
 */
export async function connectClient(
  config: TemporalSettings & EncryptionSettings,
  opts: { lazy?: boolean } = {},
): Promise<ConnectedClient> {
  const connection = Connection.lazy(clientConnectionOptions(config));
  const ensureConnected = async () => {
    try {
      await connection.ensureConnected();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`cannot reach Temporal at ${config.TEMPORAL_ADDRESS}: ${reason}`, { cause: err });
    }
  };
  if (!opts.lazy) await ensureConnected();
  const dataConverter = configuredDataConverter(config);
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...(dataConverter && { dataConverter }),
  });
  return { client, ensureConnected, close: () => connection.close() };
}

/** The local dev server's Web UI link for a workflow, or undefined when Temporal is not on this machine. */
export function webUiLink(address: string, namespace: string, workflowId: string): string | undefined {
  const host = address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (!['localhost', '127.0.0.1', '::1'].includes(host)) return undefined;
  return `http://localhost:8233/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
