// A real, self-hosted Temporal cluster for integration tests: Temporal Server (all four services in one process, 4
// history shards) with persistence and visibility on a throw-away PostgreSQL, set up the way
// docker-compose.temporal.yml sets up production: temporal-sql-tool create / setup-schema / update-schema, then the
// `default` namespace and nightshift's search attributes through the `temporal` CLI. The binaries and schema files
// come from scripts/setupTemporalCluster.js (built from the Go module proxy into a cache outside the repo); the
// server config is scripts/temporal-cluster/config.yaml with free ports filled in.
//
// NIGHTSHIFT_REAL_TEMPORAL = off | auto (default: run when built, else skip with the reason) | required.
// PostgreSQL refuses to run as root: as root, initdb and postgres run as the `postgres` user (else `nobody`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import YAML from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/searchAttributes';
import { ServerProcesses, tail } from './serverProcesses';

const ROOT = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(ROOT, 'scripts/temporal-cluster');
const CONFIG = path.join(MODULE_DIR, 'config.yaml');
const DYNAMIC_CONFIG = path.join(MODULE_DIR, 'dynamicconfig.yaml');
const BINARIES = ['temporal-server', 'temporal-sql-tool'] as const;
const START_TIMEOUT_MS = 90_000;
const PG_USER = 'temporal';

export type TemporalClusterAvailability =
  | { available: true; binDir: string; schemaDir: string; version: string; pgBinDir: string; cli: string }
  | { available: false; why: string };

/** NIGHTSHIFT_REAL_TEMPORAL: off | auto (default) | required. */
export function realTemporalMode(): 'off' | 'auto' | 'required' {
  const m = (process.env.NIGHTSHIFT_REAL_TEMPORAL ?? 'auto').trim().toLowerCase();
  return m === 'off' || m === 'required' ? m : 'auto';
}

/** The server version pinned by scripts/temporal-cluster/go.mod (the cache is keyed by it). */
export function pinnedTemporalVersion(): string {
  const gomod = fs.readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8');
  const m = gomod.match(/^\s*(?:require\s+)?go\.temporal\.io\/server\s+(v\S+)/m);
  if (!m?.[1]) throw new Error(`${MODULE_DIR}/go.mod does not require go.temporal.io/server`);
  return m[1];
}

function versionDirFor(version: string): string {
  const root = process.env.NIGHTSHIFT_TEMPORAL_CACHE
    ? path.resolve(process.env.NIGHTSHIFT_TEMPORAL_CACHE)
    : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'nightshift', 'temporal-cluster');
  return path.join(root, version);
}

/** initdb and postgres: NIGHTSHIFT_PG_BIN, PATH, /usr/local/bin, then the newest /usr/lib/postgresql/<n>/bin. */
function findPgBinDir(): string | undefined {
  const dirs = [
    ...(process.env.NIGHTSHIFT_PG_BIN ? [process.env.NIGHTSHIFT_PG_BIN] : []),
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
    '/usr/local/bin',
  ];
  const versioned = '/usr/lib/postgresql';
  if (fs.existsSync(versioned)) {
    const majors = fs.readdirSync(versioned).sort((a, b) => Number(b) - Number(a));
    dirs.push(...majors.map((v) => path.join(versioned, v, 'bin')));
  }
  return dirs.find((d) => fs.existsSync(path.join(d, 'initdb')) && fs.existsSync(path.join(d, 'postgres')));
}

function findTemporalCli(): string | undefined {
  const file = path.join(ROOT, '.tools/temporal-paths.json');
  const fromFile = fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { cli?: string }).cli
    : undefined;
  return [process.env.TEMPORAL_CLI_PATH, fromFile].find((p): p is string => !!p && fs.existsSync(p));
}

/** Whether the cluster can be started (checks the cache marker and the tools; builds nothing). */
export function temporalClusterAvailability(): TemporalClusterAvailability {
  if (realTemporalMode() === 'off') return { available: false, why: 'NIGHTSHIFT_REAL_TEMPORAL=off' };
  let version: string;
  try {
    version = pinnedTemporalVersion();
  } catch (err) {
    return { available: false, why: String(err) };
  }
  const versionDir = versionDirFor(version);
  const binDir = path.join(versionDir, 'bin');
  const schemaDir = path.join(versionDir, 'schema/postgresql/v12');
  const missing = [
    path.join(versionDir, '.complete.json'),
    ...BINARIES.map((b) => path.join(binDir, b)),
    path.join(schemaDir, 'temporal/versioned'),
    path.join(schemaDir, 'visibility/versioned'),
  ].filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    return {
      available: false,
      why:
        `Temporal Server ${version} is not built (${versionDir}: missing ` +
        `${missing.map((f) => path.relative(versionDir, f)).join(', ')}); run ` +
        '`node scripts/setupTemporalCluster.js` (needs Go 1.26.8+ and the Go module proxy)',
    };
  }
  const pgBinDir = findPgBinDir();
  if (!pgBinDir) {
    return { available: false, why: 'PostgreSQL not found (initdb, postgres); set NIGHTSHIFT_PG_BIN to its bin dir' };
  }
  const cli = findTemporalCli();
  if (!cli) return { available: false, why: 'the temporal CLI is not installed (run `npm run setup`)' };
  return { available: true, binDir, schemaDir, version, pgBinDir, cli };
}

/**
 * Free loopback ports below 32768: the SQL schema stores membership ports as `smallint`, so the kernel's ephemeral
 * ports (listen(0) gives 32768 and up) are refused by the server's membership heartbeat.
 */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries > 1000) throw new Error(`no ${count} free loopback ports found below 32768`);
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (ports.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) ports.add(port);
  }
  return [...ports];
}

/** uid/gid to run PostgreSQL as when we are root (it refuses root); undefined when we are not root. */
function postgresIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    const r = spawnSync('getent', ['passwd', user], { encoding: 'utf8' });
    const fields = r.status === 0 ? r.stdout.trim().split(':') : [];
    if (fields.length >= 4) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new Error('running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as');
}

export interface TemporalCluster {
  /** host:port of the frontend (gRPC). */
  readonly address: string;
  readonly namespace: string;
  /** The server version (go.temporal.io/server). */
  readonly version: string;
  /** The server's Prometheus metrics endpoint. */
  readonly metricsUrl: string;
  /** Milliseconds from initdb to the namespace being ready with the search attributes. */
  readonly startupMs: number;
  /** Where each step's log is (removed by stop()). */
  readonly dir: string;
  /** Stops the server and PostgreSQL and removes the data. */
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL and Temporal Server on free loopback ports, creates the schemas, the namespace (default
 * `default`) and nightshift's search attributes. Allow ~60 s for it in the calling hook. Throws when the cluster is
 * not available (check temporalClusterAvailability() first).
 */
export async function startTemporalCluster(opts: { namespace?: string } = {}): Promise<TemporalCluster> {
  const availability = temporalClusterAvailability();
  if (!availability.available) throw new Error(availability.why);
  let lastError: unknown;
  // A free port found by listen(0) can be taken by someone else before the server binds it: retry.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(availability, opts.namespace ?? 'default');
    } catch (err) {
      lastError = err;
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  throw lastError;
}

async function startOnce(
  a: Extract<TemporalClusterAvailability, { available: true }>,
  namespace: string,
): Promise<TemporalCluster> {
  const group = new ServerProcesses('temporal', START_TIMEOUT_MS);
  const { dir, started } = group;
  // The server first (it would log errors about the vanished database); PostgreSQL with a fast shutdown.
  const stop = () => group.stop(10_000, (name) => (name === 'postgres' ? 'SIGINT' : 'SIGTERM'));
  const spawnProc = (name: string, file: string, args: string[], extra: { uid?: number; gid?: number }) =>
    group.spawn(name, file, args, { cwd: dir, ...extra });
  const waitFor = group.waitFor.bind(group);

  /** Runs a short-lived tool to completion; throws with its output when it fails. */
  const run = (
    what: string,
    file: string,
    args: string[],
    extra: { uid?: number; gid?: number; cwd?: string } = {},
  ): void => {
    const r = spawnSync(file, args, { cwd: dir, encoding: 'utf8', timeout: 60_000, ...extra });
    if (r.error || r.status !== 0) {
      throw new Error(
        `${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stdout}${r.stderr}`,
      );
    }
  };

  try {
    const ports = await freePorts(11);
    const [pgPort, frontend, frontendMember, frontendHttp, history, historyMember] = ports as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const [matching, matchingMember, worker, workerMember, metrics] = ports.slice(6) as [
      number,
      number,
      number,
      number,
      number,
    ];

    // PostgreSQL: a fresh cluster, TCP on loopback only, trust auth, no durability (throw-away data).
    const pgData = path.join(dir, 'pg');
    fs.mkdirSync(pgData, { mode: 0o700 });
    const owner = postgresIdentity();
    if (owner) {
      fs.chmodSync(dir, 0o711); // the postgres user must reach pg/
      fs.chownSync(pgData, owner.uid, owner.gid);
    }
    const asPg = owner ? { uid: owner.uid, gid: owner.gid } : {};
    run(
      'initdb',
      path.join(a.pgBinDir, 'initdb'),
      ['-D', pgData, '-U', PG_USER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { ...asPg, cwd: pgData },
    );
    const postgres = spawnProc(
      'postgres',
      path.join(a.pgBinDir, 'postgres'),
      [
        ...['-D', pgData, '-p', String(pgPort)],
        ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
        ...['-c', 'max_connections=200', '-c', 'shared_buffers=128MB'],
      ],
      asPg,
    );
    await waitFor('PostgreSQL to accept connections', postgres, async () =>
      /ready to accept connections/.test(tail(postgres.log, 200)),
    );

    // Schemas, exactly as docker-compose.temporal.yml's temporal-schema-setup does it.
    const sqlTool = path.join(a.binDir, 'temporal-sql-tool');
    const conn = ['--ep', '127.0.0.1', '-p', String(pgPort), '-u', PG_USER, '--pl', 'postgres12'];
    for (const [db, schema] of [
      ['temporal', 'temporal'],
      ['temporal_visibility', 'visibility'],
    ] as const) {
      run(`temporal-sql-tool create ${db}`, sqlTool, [...conn, '--db', db, 'create']);
      run(`temporal-sql-tool setup-schema ${db}`, sqlTool, [...conn, '--db', db, 'setup-schema', '-v', '0.0']);
      const versioned = path.join(a.schemaDir, schema, 'versioned');
      run(`temporal-sql-tool update-schema ${db}`, sqlTool, [...conn, '--db', db, 'update-schema', '-d', versioned]);
    }

    // The repo's config, with this run's ports, database address and dynamic config path.
    const config = YAML.parse(fs.readFileSync(CONFIG, 'utf8')) as ServerConfig;
    for (const store of Object.values(config.persistence.datastores)) store.sql.connectAddr = `127.0.0.1:${pgPort}`;
    config.global.metrics.prometheus.listenAddress = `127.0.0.1:${metrics}`;
    const rpc = (grpcPort: number, membershipPort: number) => ({ grpcPort, membershipPort, bindOnLocalHost: true });
    config.services = {
      frontend: { rpc: { ...rpc(frontend, frontendMember), httpPort: frontendHttp } },
      history: { rpc: rpc(history, historyMember) },
      matching: { rpc: rpc(matching, matchingMember) },
      worker: { rpc: rpc(worker, workerMember) },
    };
    const address = `127.0.0.1:${frontend}`;
    for (const c of Object.values(config.clusterMetadata.clusterInformation)) c.rpcAddress = address;
    config.dynamicConfigClient.filepath = DYNAMIC_CONFIG;
    const configFile = path.join(dir, 'config.yaml');
    fs.writeFileSync(configFile, YAML.stringify(config));

    const server = spawnProc(
      'temporal-server',
      path.join(a.binDir, 'temporal-server'),
      ['--config-file', configFile, '--allow-no-auth', 'start'],
      {},
    );
    let connection: Connection | undefined;
    try {
      await waitFor(`Temporal Server at ${address}`, server, async () => {
        connection ??= await Connection.connect({ address, connectTimeout: 2_000 });
        await connection.withDeadline(Date.now() + 2_000, () => connection!.workflowService.getSystemInfo({}));
        return true;
      });

      // The namespace and search attributes, as docker-compose.temporal.yml's create-search-attributes does it.
      const cli = (args: string[]): void =>
        run(`temporal ${args.slice(0, 3).join(' ')}`, a.cli, [...args, '--address', address]);
      cli(['operator', 'namespace', 'create', '-n', namespace, '--retention', '7d']);
      // The namespace registry refreshes every couple of seconds: wait until the frontend knows the namespace.
      const conn = connection!;
      await waitFor(`namespace ${namespace}`, server, async () => {
        await conn.withDeadline(Date.now() + 2_000, () => conn.workflowService.describeNamespace({ namespace }));
        return true;
      });
      cli([
        ...['operator', 'search-attribute', 'create', '-n', namespace],
        ...ALL_SEARCH_ATTRIBUTES.flatMap((k) => [
          '--name',
          k.name,
          '--type',
          k.type === 'DATETIME' ? 'Datetime' : 'Keyword',
        ]),
      ]);
      await waitFor('the search attributes', server, async () => {
        const r = await conn.withDeadline(Date.now() + 2_000, () =>
          conn.operatorService.listSearchAttributes({ namespace }),
        );
        return ALL_SEARCH_ATTRIBUTES.every((k) => k.name in (r.customAttributes ?? {}));
      });
    } finally {
      await connection?.close();
    }

    return {
      address,
      namespace,
      version: a.version,
      metricsUrl: `http://127.0.0.1:${metrics}/metrics`,
      startupMs: Date.now() - started,
      dir,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface ServerConfig {
  persistence: { datastores: Record<string, { sql: { connectAddr: string } }> };
  global: { metrics: { prometheus: { listenAddress: string } } };
  services: Record<string, { rpc: Record<string, unknown> }>;
  clusterMetadata: { clusterInformation: Record<string, { rpcAddress: string }> };
  dynamicConfigClient: { filepath: string };
}
