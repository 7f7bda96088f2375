import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InventorySchema, type Inventory } from '../../../domain/inventory';
import { parseWith } from '../../../domain/validation';
import { freePort } from '../../helpers/ports';

export const window = { timeZone: 'Europe/Berlin', start: '01:00', durationMinutes: 240, weekly: { days: ['sun'] } };

export function controlPlane(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    orgId: 'org-acme',
    tier: 'production',
    autoUpgrade: true,
    dashboard: { version: '5.3.4' },
    gateway: { version: 'v5.3.4' },
    window,
    ...extra,
  };
}

export function rawInventory(controlPlanes: Record<string, unknown>[]): Record<string, unknown> {
  return {
    orgs: [{ id: 'org-acme', name: 'Acme', admin: { email: 'ada@acme.test', name: 'Ada Admin' } }],
    controlPlanes,
  };
}

export function inventory(controlPlanes: Record<string, unknown>[]): Inventory {
  return parseWith(InventorySchema, rawInventory(controlPlanes), 'test inventory');
}

/** A fresh temporary directory; remove it with the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `nightshift-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A local port that was free a moment ago and is closed now: connecting to it is refused. */
export const closedPort = freePort;
