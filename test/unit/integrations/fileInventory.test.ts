import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ValidationError } from '../../../domain/validation';
import { FileInventory, loadInventoryFile } from '../../../integrations/fileInventory';
import { controlPlane, rawInventory, tempDir } from './fixtures';

const { dir, cleanup } = tempDir('inventory');
afterAll(cleanup);

const five = ['cp-a', 'cp-b', 'cp-c', 'cp-d', 'cp-e'].map((id) => controlPlane(id));

function write(path: string, data: unknown): void {
  writeFileSync(path, path.endsWith('.json') ? JSON.stringify(data, null, 2) : YAML.stringify(data));
}

describe('loadInventoryFile', () => {
  it('loads YAML and JSON, applying the schema defaults and normalizing versions', () => {
    const yamlPath = join(dir, 'inv.yaml');
    const jsonPath = join(dir, 'inv.json');
    write(yamlPath, rawInventory(five));
    write(jsonPath, rawInventory(five));
    const fromYaml = loadInventoryFile(yamlPath);
    expect(fromYaml.controlPlanes.map((cp) => cp.id)).toEqual(['cp-a', 'cp-b', 'cp-c', 'cp-d', 'cp-e']);
    expect(fromYaml.controlPlanes[0]).toMatchObject({ gateway: { version: '5.3.4' }, hybrid: false, dataPlanes: [] });
    expect(loadInventoryFile(jsonPath)).toEqual(fromYaml);
  });

  it('names the field and the value of a bad entry', () => {
    const path = join(dir, 'bad.yaml');
    write(path, rawInventory([controlPlane('cp-a', { gateway: { version: 'latest' } })]));
    expect(() => loadInventoryFile(path)).toThrow(ValidationError);
    expect(() => loadInventoryFile(path)).toThrow(
      `inventory ${path} is invalid:\n  - controlPlanes[0].gateway.version = "latest": not a semantic version such as 5.8.2 or v5.8.2`,
    );
  });

  it('reports unparseable text and unknown extensions as ValidationErrors', () => {
    const yamlPath = join(dir, 'broken.yml');
    writeFileSync(yamlPath, 'orgs: [\n');
    expect(() => loadInventoryFile(yamlPath)).toThrow(
      /^inventory .*broken\.yml is invalid:\n {2}- \(file\): not valid YAML/,
    );
    const jsonPath = join(dir, 'broken.json');
    writeFileSync(jsonPath, '{"orgs":');
    expect(() => loadInventoryFile(jsonPath)).toThrow(/\(file\): not valid JSON/);
    const txtPath = join(dir, 'inventory.txt');
    writeFileSync(txtPath, '{}');
    expect(() => loadInventoryFile(txtPath)).toThrow(
      '(file) = ".txt": an inventory file must end in .yaml, .yml or .json',
    );
  });
});

describe('FileInventory', () => {
  it('finds a control plane with its org, and undefined for an unknown one', async () => {
    const path = join(dir, 'find.yaml');
    write(path, rawInventory(five));
    const inv = new FileInventory(path);
    const record = await inv.getControlPlane('cp-c');
    expect(record?.controlPlane.id).toBe('cp-c');
    expect(record?.org).toEqual({ id: 'org-acme', name: 'Acme', admin: { email: 'ada@acme.test', name: 'Ada Admin' } });
    expect(await inv.getControlPlane('cp-zzz')).toBeUndefined();
  });

  it('pages in file order with an opaque cursor', async () => {
    const path = join(dir, 'paging.json');
    write(path, rawInventory(five));
    const inv = new FileInventory(path);
    const first = await inv.listControlPlanes({ limit: 2 });
    expect(first.items.map((r) => r.controlPlane.id)).toEqual(['cp-a', 'cp-b']);
    expect(first.nextCursor).toBe('2');
    const second = await inv.listControlPlanes({ cursor: first.nextCursor, limit: 2 });
    expect(second.items.map((r) => r.controlPlane.id)).toEqual(['cp-c', 'cp-d']);
    const last = await inv.listControlPlanes({ cursor: second.nextCursor, limit: 2 });
    expect(last.items.map((r) => r.controlPlane.id)).toEqual(['cp-e']);
    expect(last.nextCursor).toBeUndefined();
    const exact = await inv.listControlPlanes({ limit: 5 });
    expect(exact.items).toHaveLength(5);
    expect(exact.nextCursor).toBeUndefined();
    await expect(inv.listControlPlanes({ cursor: 'abc', limit: 2 })).rejects.toThrow(
      'not a cursor from this inventory: "abc"',
    );
    await expect(inv.listControlPlanes({ limit: 0 })).rejects.toThrow('limit must be a positive integer, got 0');
  });

  it('reflects edits, throws the ValidationError while an edit is broken, and recovers once it is fixed', async () => {
    const path = join(dir, 'edited.yaml');
    write(path, rawInventory(five));
    const inv = new FileInventory(path);
    expect((await inv.getControlPlane('cp-a'))?.controlPlane.window.start).toBe('01:00');

    const later = (seconds: number) => {
      const t = new Date(Date.now() + seconds * 1000);
      utimesSync(path, t, t); // a distinct mtime even on coarse-grained file systems
    };
    write(
      path,
      rawInventory([
        controlPlane('cp-a', {
          window: { timeZone: 'Europe/Berlin', start: '03:30', durationMinutes: 120, weekly: { days: ['sat'] } },
        }),
      ]),
    );
    later(1);
    const edited = await inv.getControlPlane('cp-a');
    expect(edited?.controlPlane.window).toMatchObject({
      start: '03:30',
      durationMinutes: 120,
      weekly: { days: ['sat'] },
    });
    expect(await inv.getControlPlane('cp-b')).toBeUndefined();

    write(
      path,
      rawInventory([
        controlPlane('cp-a', {
          window: { timeZone: 'Mars/Olympus', start: '03:30', durationMinutes: 120, weekly: { days: ['sat'] } },
        }),
      ]),
    );
    later(2);
    const broken = inv.getControlPlane('cp-a');
    await expect(broken).rejects.toBeInstanceOf(ValidationError);
    await expect(inv.getControlPlane('cp-a')).rejects.toThrow(
      'controlPlanes[0].window.timeZone = "Mars/Olympus": not a known IANA time zone such as Europe/Berlin',
    );
    await expect(inv.listControlPlanes({ limit: 10 })).rejects.toBeInstanceOf(ValidationError);

    write(path, rawInventory(five));
    later(3);
    expect((await inv.listControlPlanes({ limit: 10 })).items).toHaveLength(5);
  });

  it('shares one read between concurrent callers and does not re-read an unchanged file', async () => {
    const path = join(dir, 'cached.yaml');
    write(path, rawInventory(five));
    const inv = new FileInventory(path);
    const [a, b] = await Promise.all([inv.getControlPlane('cp-a'), inv.getControlPlane('cp-a')]);
    expect(a).toBe(b);
    expect(await inv.getControlPlane('cp-a')).toBe(a);
  });

  it('fails visibly when the file is missing', async () => {
    await expect(new FileInventory(join(dir, 'missing.yaml')).getControlPlane('cp-a')).rejects.toThrow(
      /ENOENT.*missing\.yaml/,
    );
  });
});
