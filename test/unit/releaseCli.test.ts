import { ValidationError } from '../../domain/validation';
import { describeStart } from '../../cli/release';
import { parseReleaseArgs } from '../../cli/program';
import { UsageError } from '../../cli/cliArgs';

const files: Record<string, string> = {
  'lts.json': JSON.stringify({
    id: 'lts-5.8.2',
    kind: 'lts',
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes',
    rollout: { bakeMinutes: 15, canary: { labels: ['early'] } },
  }),
  'sec.yaml': [
    'id: sec-5.3.9',
    'kind: security',
    'targets: { dashboard: 5.3.9, gateway: v5.3.9 }',
    'affected: ">=5.3.0 <5.3.9"',
    'notesUrl: https://tyk.io/docs/5.3.9',
  ].join('\n'),
  'rollout.yaml': 'maxConcurrent: 3\nfailureBudget: { maxFailures: 1 }\n',
  'broken.json': '{"id": ',
  'bad-rollout.json': '{"bakeMinutes": -1}',
};
const read = (file: string) => {
  if (!(file in files)) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
  return files[file]!;
};
const parse = (...argv: string[]) => {
  const r = parseReleaseArgs(argv, read);
  if ('help' in r) throw new Error(`help shown for ${JSON.stringify(argv)}`);
  return r;
};
const flags = ['--id', 'lts-5.8.2', '--kind', 'lts', '--dashboard', '5.8.2', '--gateway', 'v5.8.2'];
const notes = ['--notes-url', 'https://tyk.io/docs/5.8.2'];

describe('nightshift release: arguments', () => {
  it('reads a JSON or YAML release file; the release’s own rollout applies when nothing overrides it', () => {
    const lts = parse('--release', 'lts.json');
    expect(lts.release.id).toBe('lts-5.8.2');
    expect(lts.rollout).toBeUndefined();
    expect(lts.resolved).toMatchObject({ bakeMinutes: 15, canary: { labels: ['early'] }, maxConcurrent: 10 });
    expect(lts.dryRun).toBe(false);
    expect(lts.output).toBe('text');
    expect(parse('--release', 'lts.json', '-o', 'json').output).toBe('json');
    const sec = parse('--release', 'sec.yaml', '--dry-run');
    expect(sec.release).toMatchObject({ kind: 'security', affected: '>=5.3.0 <5.3.9', targets: { gateway: '5.3.9' } });
    expect(sec.dryRun).toBe(true);
  });

  it('prints help naming every flag', () => {
    const r = parseReleaseArgs(['--help'], read);
    const text = 'help' in r ? r.help : '';
    expect(text).toMatch(/^Usage: nightshift release \[options\]/);
    for (const flag of [
      '--release <file>',
      '--id <id>',
      '--canary-label <label>',
      '--max-failure-ratio <0..1>',
      '--dry-run',
    ])
      expect(text).toContain(flag);
    expect(text).toContain('-o, --output <format>');
  });

  it('builds the release from flags', () => {
    expect(parse(...flags, ...notes).release).toEqual({
      id: 'lts-5.8.2',
      kind: 'lts',
      targets: { dashboard: '5.8.2', gateway: '5.8.2' },
      notesUrl: 'https://tyk.io/docs/5.8.2',
    });
  });

  it('applies a rollout file, then the override flags on top', () => {
    const cmd = parse(
      '--release',
      'lts.json',
      '--rollout',
      'rollout.yaml',
      '--bake',
      '45',
      '--canary-label',
      'beta',
      '--canary-label',
      'internal',
      '--canary',
      'cp-acme-dev',
      '--max-failure-ratio',
      '0.2',
    );
    expect(cmd.resolved).toMatchObject({
      bakeMinutes: 45,
      maxConcurrent: 3,
      canary: { labels: ['beta', 'internal'], tiers: [], controlPlaneIds: ['cp-acme-dev'] },
      failureBudget: { maxFailures: 1, maxRatio: 0.2, minSample: 20 },
    });
    expect(cmd.rollout).toEqual(cmd.resolved);
  });

  it('keeps the release’s own rollout under a single override', () => {
    const cmd = parse('--release', 'lts.json', '--max-concurrent', '4');
    expect(cmd.resolved).toMatchObject({ bakeMinutes: 15, canary: { labels: ['early'] }, maxConcurrent: 4 });
  });

  it.each([
    [['--bake', 'abc'], '--bake = "abc": not a whole number'],
    [['--bake=-5'], '--bake = "-5": not a whole number'],
    [['--bake', '-5'], '--bake = "-5": not a whole number'],
    [['--bake'], "release: option '--bake <minutes>' argument missing"],
    [['-o', 'yaml'], "release: option '-o, --output <format>' argument 'yaml' is invalid"],
    [['--max-concurrent', '0'], '--max-concurrent = "0": Too small'],
    [['--max-failure-ratio', '1.5'], '--max-failure-ratio = "1.5": Too big'],
    [['--max-failure-ratio', 'lots'], '--max-failure-ratio = "lots": not a number'],
    [['--canary-tier', 'staging', '--canary-tier', 'prod'], '--canary-tier = "prod": Invalid option'],
    [['--bak', '5'], "release: unknown option '--bak' (Did you mean --bake?)"],
    [['--id', 'x'], '--release <file> and --id do not mix'],
    [['--rollout', 'missing.yaml'], '--rollout = "missing.yaml": no such file'],
    [['--rollout', 'broken.json'], '--rollout = "broken.json": not JSON'],
    [['extra'], 'unexpected argument "extra"'],
  ])('rejects %j naming the flag and the value', (extra, message) => {
    const run = () => parse('--release', 'lts.json', ...extra);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
  });

  it('rejects a missing or unreadable release', () => {
    expect(() => parse()).toThrow(/no release: give --release <file.json\|yaml>, or --id/);
    expect(() => parse('--release', 'nope.json')).toThrow('--release = "nope.json": no such file');
    expect(() => parse('--release', 'broken.json')).toThrow(/--release = "broken.json": not JSON/);
  });

  it('names the flags of an invalid release, one line each', () => {
    let error: unknown;
    try {
      parse(
        '--id',
        'sec 1',
        '--kind',
        'security',
        '--dashboard',
        '5.3.9',
        '--gateway',
        'five',
        '--notes-url',
        'http://x',
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const lines = (error as Error).message.split('\n');
    expect(lines[0]).toBe('release (command line) is invalid:');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}- --id = "sec 1": letters, digits/),
        '  - --gateway = "five": not a semantic version such as 5.8.2 or v5.8.2',
        '  - --notes-url = "http://x": not an https URL',
        '  - --affected = missing: a security release must name the affected version range',
      ]),
    );
  });

  it('names the field of an invalid rollout file', () => {
    expect(() => parse('--release', 'lts.json', '--rollout', 'bad-rollout.json')).toThrow(
      /rollout bad-rollout.json is invalid:\n {2}- bakeMinutes = -1/,
    );
  });

  it('says what happened to the start', () => {
    expect(describeStart({ workflowId: 'fleet/a', runId: 'r1', result: 'started' })).toBe('fleet/a: started (run r1)');
    expect(describeStart({ workflowId: 'fleet/a', runId: 'r1', result: 'already-running' })).toMatch(
      /^fleet\/a: already running \(run r1\); .*nothing new started$/,
    );
    expect(describeStart({ workflowId: 'fleet/a', result: 'already-finished', status: 'COMPLETED' })).toMatch(
      /^fleet\/a: already finished \(COMPLETED\); a release id rolls out once/,
    );
  });
});
