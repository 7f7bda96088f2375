import semver from 'semver';

/** Tyk reports versions as `v5.8.2`; inventories often drop the `v`. Both are accepted; `5.8.2` is canonical. */
export function normalizeVersion(input: string): string | undefined {
  return parsed(input)?.version;
}

/**
 * Parsed versions, remembered: a fleet's inventory repeats a handful of version strings thousands of times, and
 * planning compares each of them several times. Bounded, so odd input cannot grow it without limit.
 */
const parsedVersions = new Map<string, semver.SemVer | null>();

function parsed(input: string): semver.SemVer | undefined {
  let v = parsedVersions.get(input);
  if (v === undefined) {
    v = semver.parse(input.trim().replace(/^v/i, ''));
    if (parsedVersions.size >= 10_000) parsedVersions.clear();
    parsedVersions.set(input, v);
  }
  return v ?? undefined;
}

function parsedOrThrow(input: string, field = 'version'): semver.SemVer {
  const v = parsed(input);
  if (!v) throw new Error(`${field}: '${input}' is not a semantic version such as 5.8.2 or v5.8.2`);
  return v;
}

export function isVersion(input: string): boolean {
  return normalizeVersion(input) !== undefined;
}

/** Parses a version or throws an error that names the field and the value. */
export function parseVersion(input: string, field = 'version'): string {
  return parsedOrThrow(input, field).version;
}

/** -1, 0 or 1, like semver.compare, on normalized versions. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  return semver.compare(parsedOrThrow(a), parsedOrThrow(b));
}

/** The release line of a version: `5.8.2` → `5.8`. LTS lines are named by their line. */
export function releaseLine(version: string): string {
  const v = parsedOrThrow(version);
  return `${v.major}.${v.minor}`;
}

/** Compares release lines (`5.8` < `5.10`) by their numbers; a line that is not `major.minor` throws, naming it. */
export function compareLines(a: string, b: string): -1 | 0 | 1 {
  const [x, y] = [lineNumbers(a), lineNumbers(b)];
  const d = x[0] - y[0] || x[1] - y[1];
  return d < 0 ? -1 : d > 0 ? 1 : 0;
}

function lineNumbers(line: string): [number, number] {
  const m = /^(\d+)\.(\d+)$/.exec(line);
  if (!m) throw new Error(`release line: '${line}' is not a line such as 5.8`);
  return [Number(m[1]), Number(m[2])];
}

export function isValidRange(range: string): boolean {
  return semver.validRange(range) !== null;
}

export function satisfies(version: string, range: string): boolean {
  return semver.satisfies(parseVersion(version), range, { includePrerelease: true });
}

/** Tyk's LTS lines (docs: 5.0, 5.3, 5.8). A release event may name its own list. */
export const DEFAULT_LTS_LINES: readonly string[] = ['5.0', '5.3', '5.8'];
