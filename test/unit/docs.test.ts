// The README stays short and every link in it and in docs/ leads somewhere: files exist, anchors name a heading.
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const markdownFiles = [
  'README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...fs.readdirSync(path.join(ROOT, 'docs/decisions')).map((f) => `docs/decisions/${f}`),
];

/** GitHub's heading anchors: lower case, punctuation dropped except '-' and '_', spaces to '-'. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = read(file).replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

function links(file: string): { target: string; anchor?: string }[] {
  const text = read(file).replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((href) => !/^[a-z]+:/i.test(href))
    .map((href) => {
      const [target = '', anchor] = href.split('#');
      return { target: target === '' ? file : path.join(path.dirname(file), target), anchor };
    });
}

describe('documentation', () => {
  it('the README has at most 200 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(200);
  });

  it.each(markdownFiles)('every relative link in %s leads to a file, and its anchor to a heading', (file) => {
    const broken = links(file).filter(
      ({ target, anchor }) =>
        !fs.existsSync(path.join(ROOT, target)) ||
        (anchor !== undefined && target.endsWith('.md') && !anchors(target).has(anchor)),
    );
    expect(broken.map(({ target, anchor }) => (anchor ? `${target}#${anchor}` : target))).toEqual([]);
  });

  it('the README links every guide in docs/', () => {
    const readme = read('README.md');
    const guides = fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
    expect(guides.filter((g) => !readme.includes(`docs/${g}`))).toEqual([]);
  });
});
