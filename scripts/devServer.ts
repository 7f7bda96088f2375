// A local Temporal dev server (the `temporal` CLI installed by scripts/setup.js) for `npm start` and `npm run scale`,
// with nightshift's search attributes registered.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/searchAttributes';

const ROOT = path.resolve(__dirname, '..');

export function reachable(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface DevServerOptions {
  /** SQLite file; omitted = in memory. */
  dbFile?: string;
  /** Web UI port; omitted = no UI. */
  uiPort?: number;
  /** Extra `--dynamic-config-value KEY=JSON` settings. */
  dynamicConfig?: Record<string, unknown>;
}

export async function startDevServer(address: string, opts: DevServerOptions = {}): Promise<ChildProcess> {
  const pathsFile = path.join(ROOT, '.tools/temporal-paths.json');
  const paths = fs.existsSync(pathsFile) ? (JSON.parse(fs.readFileSync(pathsFile, 'utf8')) as { cli?: string }) : {};
  const cli = process.env.TEMPORAL_CLI_PATH ?? paths.cli;
  if (!cli) throw new Error('no Temporal CLI: run `npm run setup`, or set TEMPORAL_CLI_PATH');
  const port = address.split(':')[1] ?? '7233';
  const args = ['server', 'start-dev', '--port', port];
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  for (const key of ALL_SEARCH_ATTRIBUTES)
    args.push('--search-attribute', `${key.name}=${key.type === 'DATETIME' ? 'Datetime' : 'Keyword'}`);
  for (const [k, v] of Object.entries(opts.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  args.push('--log-level', 'error');
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 120; i++) {
    if (await reachable(address)) return child;
    if (child.exitCode !== null) throw new Error(`temporal server exited with code ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill('SIGINT');
  throw new Error('temporal dev server did not start within 60s');
}
