// The simulated fleet's state: components seeded from the inventory, faults from the inventory and the options, and
// the state file (written atomically, loaded at start) that lets rollouts survive a restart of the fleet.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { SIMULATED_FAULTS, type Inventory, type SimulatedFault } from '../../domain/inventory';
import type { ComponentRef } from '../../domain/model';
import { parseWith } from '../../domain/validation';
import { ComponentStateSchema, type Config, type StoredComponentState } from './wire';

const StateFileSchema = z.object({
  format: z.literal(1),
  components: z.array(ComponentStateSchema),
});

export function keyOf(controlPlaneId: string, componentId: string): string {
  return `${controlPlaneId}/${componentId}`;
}

function componentsOf(inventory: Inventory): { ref: ComponentRef; version: string; config: Config }[] {
  return inventory.controlPlanes.flatMap((cp) => [
    {
      ref: { controlPlaneId: cp.id, kind: 'dashboard' as const, id: 'dashboard' },
      version: cp.dashboard.version,
      config: {},
    },
    {
      ref: { controlPlaneId: cp.id, kind: 'gateway' as const, id: 'gateway' },
      version: cp.gateway.version,
      config: structuredClone(cp.config),
    },
    ...cp.dataPlanes.map((dp) => ({
      ref: { controlPlaneId: cp.id, kind: 'data-plane' as const, id: dp.id },
      version: dp.version,
      config: {},
    })),
  ]);
}

export function faultsOf(
  inventory: Inventory,
  extra: Record<string, SimulatedFault> = {},
): Map<string, SimulatedFault> {
  const faults = new Map<string, SimulatedFault>();
  for (const cp of inventory.controlPlanes) {
    for (const [componentId, fault] of Object.entries(cp.simulate?.faults ?? {}))
      faults.set(keyOf(cp.id, componentId), fault);
  }
  for (const [key, fault] of Object.entries(extra)) {
    if (!key.includes('/'))
      throw new Error(`faults: key ${JSON.stringify(key)} must be <controlPlaneId>/<componentId>`);
    if (!(SIMULATED_FAULTS as readonly string[]).includes(fault)) {
      throw new Error(`faults.${key}: ${JSON.stringify(fault)} is not one of ${SIMULATED_FAULTS.join(', ')}`);
    }
    faults.set(key, fault);
  }
  return faults;
}

/** Components in the state file keep their state; components only in the inventory start at its versions. */
export function initialState(inventory: Inventory, stateFile: string | undefined): Map<string, StoredComponentState> {
  const components = new Map<string, StoredComponentState>();
  const saved = new Map<string, z.infer<typeof ComponentStateSchema>>();
  if (stateFile && existsSync(stateFile)) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(stateFile, 'utf8'));
    } catch (err) {
      throw new Error(`simulated fleet state ${stateFile} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    for (const c of parseWith(StateFileSchema, data, `simulated fleet state ${stateFile}`).components) {
      // Written before configurations were kept: seeded from the inventory below, like a new component's.
      if (c.config) components.set(keyOf(c.controlPlaneId, c.componentId), { ...c, config: c.config });
      else saved.set(keyOf(c.controlPlaneId, c.componentId), c);
    }
  }
  for (const { ref, version, config } of componentsOf(inventory)) {
    const key = keyOf(ref.controlPlaneId, ref.id);
    if (components.has(key)) continue;
    const old = saved.get(key);
    if (old) {
      components.set(key, { ...old, config });
      saved.delete(key);
      continue;
    }
    components.set(key, {
      controlPlaneId: ref.controlPlaneId,
      componentId: ref.id,
      kind: ref.kind,
      initialVersion: version,
      version,
      previousVersion: null,
      config,
      rollout: null,
      lastRollout: null,
      deployGeneration: 0,
    });
  }
  for (const [key, old] of saved) components.set(key, { ...old, config: {} });
  return components;
}

/** Atomic: a reader (or a crash) sees the old file or the new one, never half of one. */
export function writeStateFile(file: string, components: Iterable<StoredComponentState>): void {
  const data: z.input<typeof StateFileSchema> = { format: 1, components: [...components] };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, 'utf8');
  renameSync(tmp, file);
}
