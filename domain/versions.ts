import semver from 'semver';

/** Tyk reports versions as `v5.8.2`; inventories often drop the `v`. Both are accepted; `5.8.2` is canonical. */
export function normalizeVersion(input: string): string | undefined {
  const trimmed = input.trim().replace(/^v/i, '');
  return semver.valid(trimmed) ?? undefined;
}

export function isVersion(input: string): boolean {
  return normalizeVersion(input) !== undefined;
}

/** Parses a version or throws an error that names the field and the value. */
export function parseVersion(input: string, field = 'version'): string {
  const v = normalizeVersion(input);
  if (!v) throw new Error(`${field}: '${input}' is not a semantic version such as 5.8.2 or v5.8.2`);
  return v;
}

/** -1, 0 or 1, like semver.compare, on normalized versions. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  return semver.compare(parseVersion(a), parseVersion(b));
}

/** The release line of a version: `5.8.2` → `5.8`. LTS lines are named by their line. */
export function releaseLine(version: string): string {
  const v = semver.parse(parseVersion(version))!;
  return `${v.major}.${v.minor}`;
}

export function compareLines(a: string, b: string): -1 | 0 | 1 {
  return semver.compare(`${a}.0`, `${b}.0`);
}

export function isValidRange(range: string): boolean {
  return semver.validRange(range) !== null;
}

export function satisfies(version: string, range: string): boolean {
  return semver.satisfies(parseVersion(version), range, { includePrerelease: true });
}

/** Tyk's LTS lines (docs: 5.0, 5.3, 5.8). A release event may name its own list. */
export const DEFAULT_LTS_LINES: readonly string[] = ['5.0', '5.3', '5.8'];
