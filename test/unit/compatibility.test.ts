import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyConfigMigrations,
  checkCompatibility,
  describeBlocker,
  describeMigration,
  getConfigValue,
  hasConfigKey,
} from '../../domain/compatibility';
import { COMPATIBILITY_MATRIX, type MatrixEntry } from '../../domain/compatibilityMatrix';
import type { ComponentKind } from '../../domain/model';
import { isVersion } from '../../domain/versions';

// A small matrix of our own, so the range tests do not depend on the release team's data.
const MATRIX: MatrixEntry[] = [
  { component: 'gateway', version: '5.3.0', change: 'renamed', key: 'old_timeout', to: 'timeouts.read' },
  { component: 'gateway', version: '5.3.0', change: 'removed', key: 'legacy.mode', advice: 'set mode to modern' },
  { component: 'gateway', version: '5.8.0', change: 'renamed', key: 'timeouts.read', to: 'timeouts.read_seconds' },
  { component: 'gateway', version: '5.8.0', change: 'renamed', key: 'flag', to: 'feature.flag', value: true },
  { component: 'gateway', version: '5.8.0', change: 'removed', key: 'gone', advice: 'use instead' },
  { component: 'dashboard', version: '5.8.0', change: 'removed', key: 'gone', advice: 'dashboard advice' },
];

const check = (config: Record<string, unknown>, from: string, to: string, kind: ComponentKind = 'gateway') =>
  checkCompatibility(config, kind, from, to, MATRIX);

describe('the compatibility matrix (release team data)', () => {
  it('has a valid version, component and key on every line, and renames to a different key', () => {
    for (const e of COMPATIBILITY_MATRIX) {
      expect(isVersion(e.version)).toBe(true);
      expect(['gateway', 'dashboard']).toContain(e.component);
      expect(e.key).toMatch(/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/);
      if (e.change === 'renamed') {
        expect(e.to).toMatch(/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/);
        expect(e.to).not.toBe(e.key);
      } else {
        // The advice completes "what to do: …" inside a detail whose items are separated by semicolons.
        expect(e.advice).not.toMatch(/[;]|\.$/);
        expect(e.advice.length).toBeGreaterThan(20);
      }
    }
  });

  it('names each key at most once per component and version', () => {
    const seen = COMPATIBILITY_MATRIX.map((e) => `${e.component} ${e.version} ${e.key}`);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('blocks use_db_app_configs and migrates hybrid.enabled to dten.hybrid.enable = true on 5.3.4 → 5.8.2', () => {
    const report = checkCompatibility(
      { use_db_app_configs: true, hybrid: { enabled: false }, listen_port: 8080 },
      'gateway',
      '5.3.4',
      '5.8.2',
    );
    expect(report.blockers).toEqual([
      { key: 'use_db_app_configs', removedIn: '5.8.0', advice: expect.stringContaining('db_app_conf_options') },
    ]);
    expect(report.migrations).toEqual([
      { key: 'hybrid.enabled', to: 'dten.hybrid.enable', renamedIn: '5.8.0', value: true },
    ]);
  });

  it('can be searched with one grep: every line holds component, version, change and key', () => {
    // The data module formats one entry per line; this guards the property the brief asks for.
    const source = readFileSync(join(__dirname, '../../domain/compatibilityMatrix.ts'), 'utf8');
    for (const e of COMPATIBILITY_MATRIX) {
      const line = source.split('\n').find((l) => l.includes(`key: '${e.key}'`));
      expect(line).toContain(`component: '${e.component}', version: '${e.version}', change: '${e.change}'`);
    }
  });
});

describe('dotted keys', () => {
  const config = {
    top: 1,
    nested: { inner: { leaf: false } },
    'flat.dotted': null,
    mixed: { 'a.b': 'x' },
    list: [{ item: 1 }],
  };

  it('finds top-level, nested, literal dotted and mixed keys; false and null count as set', () => {
    expect(hasConfigKey(config, 'top')).toBe(true);
    expect(hasConfigKey(config, 'nested.inner.leaf')).toBe(true);
    expect(getConfigValue(config, 'nested.inner.leaf')).toBe(false);
    expect(hasConfigKey(config, 'nested.inner')).toBe(true);
    expect(hasConfigKey(config, 'flat.dotted')).toBe(true);
    expect(getConfigValue(config, 'flat.dotted')).toBeNull();
    expect(getConfigValue(config, 'mixed.a.b')).toBe('x');
  });

  it('does not find what is not there, nor descend into scalars or arrays', () => {
    expect(hasConfigKey(config, 'nested.inner.other')).toBe(false);
    expect(hasConfigKey(config, 'top.sub')).toBe(false);
    expect(hasConfigKey(config, 'list.0.item')).toBe(false);
    expect(hasConfigKey(config, 'flat')).toBe(false);
    expect(getConfigValue(config, 'nowhere')).toBeUndefined();
  });

  it('sees a nested removed key as in use', () => {
    expect(check({ legacy: { mode: 'on' } }, '5.0.0', '5.3.0').blockers).toEqual([
      { key: 'legacy.mode', removedIn: '5.3.0', advice: 'set mode to modern' },
    ]);
  });
});

describe('checkCompatibility: version ranges (from exclusive, to inclusive)', () => {
  const config = { old_timeout: 30, legacy: { mode: 'on' }, gone: 1 };

  it('includes a change made in the target version itself', () => {
    const report = check(config, '5.2.9', '5.3.0');
    expect(report.blockers.map((b) => b.key)).toEqual(['legacy.mode']);
    expect(report.migrations).toEqual([{ key: 'old_timeout', to: 'timeouts.read', renamedIn: '5.3.0' }]);
  });

  it('excludes a change made in the version the component already runs', () => {
    const report = check({ 'timeouts.read': 30, legacy: { mode: 'on' } }, '5.3.0', '5.8.0');
    expect(report.blockers).toEqual([]);
    expect(report.migrations).toEqual([{ key: 'timeouts.read', to: 'timeouts.read_seconds', renamedIn: '5.8.0' }]);
  });

  it('excludes changes after the target', () => {
    expect(check(config, '5.0.0', '5.7.9').blockers.map((b) => b.removedIn)).toEqual(['5.3.0']);
  });

  it('finds nothing for a downgrade or for no change', () => {
    expect(check(config, '5.8.2', '5.0.0')).toEqual({ blockers: [], migrations: [] });
    expect(check(config, '5.3.0', '5.3.0')).toEqual({ blockers: [], migrations: [] });
  });

  it('accepts v-prefixed versions and names a bad one with its field', () => {
    expect(check(config, 'v5.2.9', 'v5.3.0').blockers).toHaveLength(1);
    expect(() => check(config, 'latest', '5.8.0')).toThrow("fromVersion: 'latest' is not a semantic version");
    expect(() => check(config, '5.3.0', '')).toThrow("toVersion: '' is not a semantic version");
  });

  it('uses the dashboard rows for the dashboard and the gateway rows for data planes', () => {
    expect(check({ gone: 1 }, '5.3.0', '5.8.0', 'dashboard').blockers).toEqual([
      { key: 'gone', removedIn: '5.8.0', advice: 'dashboard advice' },
    ]);
    expect(check({ gone: 1 }, '5.3.0', '5.8.0', 'data-plane').blockers).toEqual([
      { key: 'gone', removedIn: '5.8.0', advice: 'use instead' },
    ]);
    expect(check({ old_timeout: 1 }, '5.0.0', '5.8.0', 'dashboard')).toEqual({
      blockers: [],
      migrations: [],
    });
  });

  it('considers entries oldest first whatever order the matrix lists them in', () => {
    const reversed = [...MATRIX].reverse();
    const report = checkCompatibility({ old_timeout: 30 }, 'gateway', '5.0.0', '5.8.0', reversed);
    expect(report.migrations.map((m) => m.renamedIn)).toEqual(['5.3.0', '5.8.0']);
  });
});

describe('checkCompatibility: renames', () => {
  it('follows a key renamed twice across the range, in order', () => {
    const report = check({ old_timeout: 30 }, '5.0.0', '5.8.2');
    expect(report.migrations).toEqual([
      { key: 'old_timeout', to: 'timeouts.read', renamedIn: '5.3.0' },
      { key: 'timeouts.read', to: 'timeouts.read_seconds', renamedIn: '5.8.0' },
    ]);
    expect(applyConfigMigrations({ old_timeout: 30 }, report.migrations).config).toEqual({
      timeouts: { read_seconds: 30 },
    });
  });

  it('needs no migration when the new key is already set (idempotent)', () => {
    expect(check({ flag: false, feature: { flag: false } }, '5.3.0', '5.8.0').migrations).toEqual([]);
    expect(check({ 'timeouts.read_seconds': 5, 'timeouts.read': 5 }, '5.3.0', '5.8.0').migrations).toEqual([]);
  });

  it('carries a prescribed value', () => {
    const report = check({ flag: false }, '5.3.0', '5.8.0');
    expect(report.migrations).toEqual([{ key: 'flag', to: 'feature.flag', renamedIn: '5.8.0', value: true }]);
    expect(applyConfigMigrations({ flag: false }, report.migrations).config).toEqual({ feature: { flag: true } });
  });

  it('reports a blocker and a migration at once', () => {
    const report = check({ gone: 'yes', flag: true, keep: 1 }, '5.3.4', '5.8.2');
    expect(report).toEqual({
      blockers: [{ key: 'gone', removedIn: '5.8.0', advice: 'use instead' }],
      migrations: [{ key: 'flag', to: 'feature.flag', renamedIn: '5.8.0', value: true }],
    });
  });

  it('blocks a key renamed and then removed, naming the key the customer wrote and its later name', () => {
    const matrix: MatrixEntry[] = [
      { component: 'gateway', version: '5.3.0', change: 'renamed', key: 'a', to: 'b' },
      { component: 'gateway', version: '5.8.0', change: 'removed', key: 'b', advice: 'do x' },
    ];
    const report = checkCompatibility({ a: 1 }, 'gateway', '5.0.0', '5.8.0', matrix);
    const blocker = { key: 'a', removedIn: '5.8.0', advice: 'do x', renamedTo: { key: 'b', renamedIn: '5.3.0' } };
    expect(report.blockers).toEqual([blocker]);
    expect(describeBlocker(blocker, 'Gateway')).toBe(
      'a, which Gateway 5.3.0 renamed b, was removed in Gateway 5.8.0 (what to do: do x)',
    );
  });

  it('blocks a rename it cannot write because a parent of the new key is not an object', () => {
    const report = check({ flag: true, feature: 'on' }, '5.3.0', '5.8.0');
    expect(report.migrations).toEqual([]);
    expect(report.blockers).toEqual([
      {
        key: 'flag',
        removedIn: '5.8.0',
        advice:
          'rename it to feature.flag yourself, since we cannot add feature.flag automatically: ' +
          'feature is set to a value that is not an object',
      },
    ]);
  });

  it('does not change the configuration it was given', () => {
    const config = { old_timeout: 30, flag: false };
    const before = structuredClone(config);
    check(config, '5.0.0', '5.8.0');
    expect(config).toEqual(before);
  });
});

describe('applyConfigMigrations', () => {
  const migrations = [
    { key: 'analytics.enable_geo', to: 'analytics.geo.enabled', renamedIn: '5.8.0' },
    { key: 'hybrid.enabled', to: 'dten.hybrid.enable', renamedIn: '5.8.0', value: true },
  ];

  it('renames in a copy, drops the objects it emptied, and keeps everything else', () => {
    const config = { analytics: { enable_geo: true, other: 1 }, hybrid: { enabled: false }, port: 8080 };
    const { config: next, applied } = applyConfigMigrations(config, migrations);
    expect(next).toEqual({
      analytics: { other: 1, geo: { enabled: true } },
      dten: { hybrid: { enable: true } },
      port: 8080,
    });
    expect(applied).toEqual(migrations);
    expect(config).toEqual({ analytics: { enable_geo: true, other: 1 }, hybrid: { enabled: false }, port: 8080 });
  });

  it('is idempotent: applying the same migrations again changes nothing', () => {
    const once = applyConfigMigrations({ 'hybrid.enabled': false }, migrations);
    expect(once.config).toEqual({ dten: { hybrid: { enable: true } } });
    const twice = applyConfigMigrations(once.config, migrations);
    expect(twice).toEqual({ config: once.config, applied: [] });
  });

  it('copies values deeply, so the result shares nothing with the input', () => {
    const config = { analytics: { enable_geo: { regions: ['eu'] } } };
    const { config: next } = applyConfigMigrations(config, migrations);
    ((next.analytics as { geo: { enabled: { regions: string[] } } }).geo.enabled.regions as string[]).push('us');
    expect(config.analytics.enable_geo.regions).toEqual(['eu']);
  });

  it('can move a flag under its own name (jsvm: true → jsvm.enabled: true)', () => {
    const m = { key: 'jsvm', to: 'jsvm.enabled', renamedIn: '5.8.0' };
    expect(applyConfigMigrations({ jsvm: true }, [m])).toEqual({ config: { jsvm: { enabled: true } }, applied: [m] });
  });

  it('names the keys and the version when a new key cannot be written', () => {
    expect(() => applyConfigMigrations({ hybrid: { enabled: true }, dten: 3 }, migrations)).toThrow(
      'cannot rename configuration key hybrid.enabled to dten.hybrid.enable (renamed in 5.8.0): ' +
        'dten is set to a value that is not an object',
    );
  });

  it('describes a migration for people', () => {
    expect(describeMigration(migrations[1]!)).toBe('hybrid.enabled → dten.hybrid.enable = true (5.8.0)');
    expect(describeMigration(migrations[0]!)).toBe('analytics.enable_geo → analytics.geo.enabled (5.8.0)');
  });
});
