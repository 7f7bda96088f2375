import {
  compareLines,
  compareVersions,
  normalizeVersion,
  parseVersion,
  releaseLine,
  satisfies,
} from '../../domain/versions';

describe('versions', () => {
  it('accepts Tyk-style and plain versions and normalizes them', () => {
    expect(normalizeVersion('v5.8.2')).toBe('5.8.2');
    expect(normalizeVersion(' 5.3.10 ')).toBe('5.3.10');
    expect(normalizeVersion('5.8')).toBeUndefined();
  });
  it('names the field and value of a bad version', () => {
    expect(() => parseVersion('five', 'targets.gateway')).toThrow("targets.gateway: 'five' is not a semantic version");
  });
  it('compares numerically, not lexically', () => {
    expect(compareVersions('5.3.10', '5.3.9')).toBe(1);
    expect(compareVersions('v5.8.2', '5.8.2')).toBe(0);
  });
  it('knows release lines and ranges', () => {
    expect(releaseLine('v5.8.2')).toBe('5.8');
    expect(satisfies('5.3.4', '>=5.3.0 <5.3.6')).toBe(true);
    expect(satisfies('5.3.6', '>=5.3.0 <5.3.6')).toBe(false);
  });
  it('compares release lines by their numbers and names a line that is not one', () => {
    expect(compareLines('5.10', '5.8')).toBe(1);
    expect(compareLines('5.8', '5.8')).toBe(0);
    expect(compareLines('4.99', '5.0')).toBe(-1);
    expect(() => compareLines('5.x', '5.8')).toThrow("release line: '5.x' is not a line such as 5.8");
  });
});
