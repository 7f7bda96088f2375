// Pre-flight configuration compatibility: which keys of a component's configuration the versions between its current
// and its target version removed (the upgrade must wait for the customer) or renamed (the upgrade rewrites them).
// Pure and deterministic, like the rest of domain/.
import { COMPATIBILITY_MATRIX, type ConfigComponent, type MatrixEntry } from './compatibilityMatrix';
import type { ComponentKind, ConfigBlocker, ConfigMigration } from './model';
import { compareVersions, parseVersion } from './versions';

export type Config = Record<string, unknown>;

/** A removed key in use; `checkCompatibility` does not know the component, the caller adds it. */
export type KeyBlocker = Omit<ConfigBlocker, 'component'>;

export interface CompatibilityReport {
  /** Keys in use that a version in the range removed: the upgrade would break them. */
  blockers: KeyBlocker[];
  /** Renamed keys to rewrite, oldest version first; apply them in this order. */
  migrations: ConfigMigration[];
}

function isObject(value: unknown): value is Config {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The path from `config` to a dotted key: each step names the object and the property taken in it. A literal key
 * containing dots (`'slave_options.use_rpc': true`) and nesting (`slave_options: { use_rpc: true }`) both count; the
 * longest literal name wins.
 */
function locate(config: Config, key: string): { holder: Config; name: string }[] | undefined {
  if (Object.hasOwn(config, key)) return [{ holder: config, name: key }];
  const parts = key.split('.');
  for (let i = parts.length - 1; i >= 1; i -= 1) {
    const head = parts.slice(0, i).join('.');
    const child = Object.hasOwn(config, head) ? config[head] : undefined;
    if (!isObject(child)) continue;
    const rest = locate(child, parts.slice(i).join('.'));
    if (rest) return [{ holder: config, name: head }, ...rest];
  }
  return undefined;
}

/** Whether a dotted key is set (to any value, `false` and `null` included). */
export function hasConfigKey(config: Config, key: string): boolean {
  return locate(config, key) !== undefined;
}

/** The value at a dotted key, or undefined when it is not set. */
export function getConfigValue(config: Config, key: string): unknown {
  const path = locate(config, key);
  const last = path?.[path.length - 1];
  return last ? last.holder[last.name] : undefined;
}

function cloneValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneValue);
  if (isObject(value)) return cloneConfig(value);
  return value;
}

/** A deep copy of JSON-like configuration (what the inventory's YAML or JSON produces). */
export function cloneConfig(config: Config): Config {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, cloneValue(v)]));
}

type RenameOutcome =
  { outcome: 'renamed'; config: Config } | { outcome: 'unchanged' } | { outcome: 'conflict'; why: string };

/**
 * Renames one key in a copy of `config`, writing the new key nested. Unchanged when the old key is not set or the new
 * one already is; a conflict when a parent of the new key holds something that is not an object.
 */
function rename(config: Config, m: ConfigMigration): RenameOutcome {
  if (!hasConfigKey(config, m.key) || hasConfigKey(config, m.to)) return { outcome: 'unchanged' };
  const next = cloneConfig(config);
  const path = locate(next, m.key)!;
  const leaf = path[path.length - 1]!;
  const value = m.value !== undefined ? m.value : leaf.holder[leaf.name];
  delete leaf.holder[leaf.name];
  // Drop the objects the removal emptied, so `hybrid: {}` does not linger after `hybrid.enabled` moved.
  for (let i = path.length - 1; i > 0 && Object.keys(path[i]!.holder).length === 0; i -= 1) {
    const parent = path[i - 1]!;
    delete parent.holder[parent.name];
  }
  const parts = m.to.split('.');
  let at: Config = next;
  for (const [i, name] of parts.slice(0, -1).entries()) {
    if (!Object.hasOwn(at, name)) at[name] = {};
    const child = at[name];
    if (!isObject(child))
      return { outcome: 'conflict', why: `${parts.slice(0, i + 1).join('.')} is set to a value that is not an object` };
    at = child;
  }
  at[parts[parts.length - 1]!] = value;
  return { outcome: 'renamed', config: next };
}

/**
 * Applies renames to a copy of `config`, in order. Idempotent: a migration whose old key is gone, or whose new key is
 * already set, is left out of `applied`, so applying the same list twice changes nothing the second time. Throws,
 * naming the keys, when a new key cannot be written (a parent of it holds a value that is not an object).
 */
export function applyConfigMigrations(
  config: Config,
  migrations: readonly ConfigMigration[],
): { config: Config; applied: ConfigMigration[] } {
  let current = cloneConfig(config);
  const applied: ConfigMigration[] = [];
  for (const m of migrations) {
    const r = rename(current, m);
    if (r.outcome === 'conflict')
      throw new Error(`cannot rename configuration key ${m.key} to ${m.to} (renamed in ${m.renamedIn}): ${r.why}`);
    if (r.outcome === 'renamed') {
      current = r.config;
      applied.push(m);
    }
  }
  return { config: current, applied };
}

function matrixComponent(kind: ComponentKind): ConfigComponent {
  // Data planes run the Gateway.
  return kind === 'dashboard' ? 'dashboard' : 'gateway';
}

/**
 * What moving a component with this configuration from `fromVersion` to `toVersion` means for its configuration:
 * every matrix entry with `fromVersion < version <= toVersion`, oldest first, against the configuration as the
 * earlier renames left it (a key renamed in 5.3.0 and renamed again in 5.8.0 yields two migrations). A downgrade or
 * no change yields nothing. A rename whose new key is already set needs no migration.
 */
export function checkCompatibility(
  config: Config,
  kind: ComponentKind,
  fromVersion: string,
  toVersion: string,
  matrix: readonly MatrixEntry[] = COMPATIBILITY_MATRIX,
): CompatibilityReport {
  const from = parseVersion(fromVersion, 'fromVersion');
  const to = parseVersion(toVersion, 'toVersion');
  const report: CompatibilityReport = { blockers: [], migrations: [] };
  if (Object.keys(config).length === 0 || compareVersions(from, to) >= 0) return report;

  const component = matrixComponent(kind);
  const entries = matrix
    .filter((e) => e.component === component && compareVersions(from, e.version) < 0)
    .filter((e) => compareVersions(e.version, to) <= 0)
    .sort((a, b) => compareVersions(a.version, b.version));

  let working = config;
  // A key that earlier renames produced → the key the customer actually wrote, and when it got its current name.
  const origins = new Map<string, { key: string; renamedIn: string }>();
  for (const entry of entries) {
    if (!hasConfigKey(working, entry.key)) continue;
    const origin = origins.get(entry.key);
    const blocker = (advice: string): KeyBlocker => ({
      key: origin?.key ?? entry.key,
      removedIn: parseVersion(entry.version),
      advice,
      ...(origin ? { renamedTo: { key: entry.key, renamedIn: origin.renamedIn } } : {}),
    });

    if (entry.change === 'removed') {
      report.blockers.push(blocker(entry.advice));
      continue;
    }
    const migration: ConfigMigration = {
      key: entry.key,
      to: entry.to,
      renamedIn: parseVersion(entry.version),
      ...(entry.value !== undefined ? { value: entry.value } : {}),
    };
    const r = rename(working, migration);
    if (r.outcome === 'unchanged') continue; // the new key is already set
    if (r.outcome === 'conflict') {
      report.blockers.push(
        blocker(`rename it to ${entry.to} yourself, since we cannot add ${entry.to} automatically: ${r.why}`),
      );
      continue;
    }
    working = r.config;
    report.migrations.push(migration);
    origins.set(entry.to, { key: origin?.key ?? entry.key, renamedIn: migration.renamedIn });
  }
  return report;
}

/** A blocker in words a customer or an SRE can act on: `use_db_app_configs was removed in Gateway 5.8.0 (what to do: …)`. */
export function describeBlocker(blocker: KeyBlocker, product: string): string {
  const renamed = blocker.renamedTo
    ? `, which ${product} ${blocker.renamedTo.renamedIn} renamed ${blocker.renamedTo.key},`
    : '';
  return `${blocker.key}${renamed} was removed in ${product} ${blocker.removedIn} (what to do: ${blocker.advice})`;
}

/** One migration in words, e.g. `hybrid.enabled → dten.hybrid.enable = true (5.8.0)`. */
export function describeMigration(m: ConfigMigration): string {
  return `${m.key} → ${m.to}${m.value !== undefined ? ` = ${JSON.stringify(m.value)}` : ''} (${m.renamedIn})`;
}
