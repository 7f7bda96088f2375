// The embedded default's inventory: one YAML or JSON file of orgs and control planes (examples/inventory.yaml).
// Customers edit their windows, opt-in and versions while upgrades wait, so the file is read again whenever it
// changes (mtime, size or inode) and every answer reflects the file as it is now.
import { readFileSync, promises as fs, type Stats } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import type { ControlPlaneRecord, InventoryPage, InventoryPort } from '../activities/ports';
import { InventorySchema, type Inventory } from '../domain/inventory';
import { parseWith, ValidationError } from '../domain/validation';

function sourceName(path: string): string {
  return `inventory ${path}`;
}

/** Parses the text of an inventory file by its extension (.yaml, .yml or .json) and validates it. */
export function parseInventoryText(text: string, path: string): Inventory {
  const ext = extname(path).toLowerCase();
  let data: unknown;
  try {
    if (ext === '.json') data = JSON.parse(text);
    else if (ext === '.yaml' || ext === '.yml') data = YAML.parse(text, { prettyErrors: true });
    else
      throw new ValidationError(sourceName(path), [
        `(file) = ${JSON.stringify(ext || path)}: an inventory file must end in .yaml, .yml or .json`,
      ]);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    const format = ext === '.json' ? 'JSON' : 'YAML';
    throw new ValidationError(sourceName(path), [`(file): not valid ${format}: ${(err as Error).message}`]);
  }
  return parseWith(InventorySchema, data, sourceName(path));
}

/** Reads and validates an inventory file; throws a ValidationError naming every bad field and its value. */
export function loadInventoryFile(path: string): Inventory {
  return parseInventoryText(readFileSync(path, 'utf8'), path);
}

interface Loaded {
  /** mtime, size and inode: an in-place edit changes the first two, an atomic replace (editors, mv) the inode. */
  fingerprint: string;
  inventory: Inventory;
  records: ControlPlaneRecord[];
  byId: Map<string, ControlPlaneRecord>;
}

function fingerprintOf(stats: Stats): string {
  return `${stats.mtimeMs}:${stats.size}:${stats.ino}`;
}

function index(inventory: Inventory, fingerprint: string): Loaded {
  const orgs = new Map(inventory.orgs.map((org) => [org.id, org]));
  const records = inventory.controlPlanes.map((controlPlane) => ({
    controlPlane,
    // The schema guarantees every control plane's org exists.
    org: orgs.get(controlPlane.orgId)!,
  }));
  return { fingerprint, inventory, records, byId: new Map(records.map((r) => [r.controlPlane.id, r])) };
}

export class FileInventory implements InventoryPort {
  private loaded?: Loaded;
  private reloading?: Promise<Loaded>;

  constructor(readonly path: string) {}

  async getControlPlane(controlPlaneId: string): Promise<ControlPlaneRecord | undefined> {
    return (await this.current()).byId.get(controlPlaneId);
  }

  /** Pages in file order. The cursor is the offset of the next item; an edit between pages may shift items. */
  async listControlPlanes(page: { cursor?: string; limit: number }): Promise<InventoryPage> {
    if (!Number.isInteger(page.limit) || page.limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${String(page.limit)}`);
    }
    const offset = page.cursor === undefined ? 0 : decodeCursor(page.cursor);
    const { records } = await this.current();
    const end = offset + page.limit;
    return {
      items: records.slice(offset, end),
      ...(end < records.length ? { nextCursor: String(end) } : {}),
    };
  }

  /** The whole inventory as it is now. */
  async inventory(): Promise<Inventory> {
    return (await this.current()).inventory;
  }

  /**
   * The file as it is now. An edit that breaks the file throws its ValidationError on every call until it is fixed,
   * rather than serving the last good copy: acting on a window or opt-in the customer has since changed would be
   * worse than an activity that fails visibly (naming the bad field) and retries until the file is fixed.
   */
  private async current(): Promise<Loaded> {
    const stats = await fs.stat(this.path);
    const fingerprint = fingerprintOf(stats);
    if (this.loaded?.fingerprint === fingerprint) return this.loaded;
    // Concurrent callers share one read of the same change.
    this.reloading ??= this.reload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async reload(): Promise<Loaded> {
    // Stat again after reading: if the file changed while it was read, the fingerprint stays stale and the next call
    // reads it once more, instead of caching new text under an old fingerprint.
    const before = fingerprintOf(await fs.stat(this.path));
    const text = await fs.readFile(this.path, 'utf8');
    const after = fingerprintOf(await fs.stat(this.path));
    const loaded = index(parseInventoryText(text, this.path), before === after ? after : `stale:${after}`);
    this.loaded = loaded;
    return loaded;
  }
}

function decodeCursor(cursor: string): number {
  if (!/^(0|[1-9]\d{0,8})$/.test(cursor))
    throw new RangeError(`not a cursor from this inventory: ${JSON.stringify(cursor)}`);
  return Number(cursor);
}
