// Where each component of a control plane lives on Kubernetes, from the inventory's `kubernetes` placement: the
// Deployment and container (named as the Tyk Helm charts name them unless the inventory says otherwise), the image
// repository, the Gateway's ConfigMap, and the health endpoint the worker probes.
import type { InventoryPort } from '../activities/ports';
import type { ControlPlane, KubernetesPlacement } from '../domain/inventory';
import { componentLabel, type ComponentRef } from '../domain/model';
import { ValidationError } from '../domain/validation';
import type { KubeTarget } from './kubernetesPlatform';

export interface KubeImages {
  /** Image repository (without tag) per component kind, e.g. tykio/tyk-dashboard. */
  dashboard: string;
  gateway: string;
}

export interface KubePlacementOf extends KubeTarget {
  healthUrl?: string;
}

function missing(cp: ControlPlane, what: string): ValidationError {
  return new ValidationError(`inventory control plane ${cp.id}`, [what]);
}

export function kubePlacementOf(cp: ControlPlane, component: ComponentRef, images: KubeImages): KubePlacementOf {
  const k: KubernetesPlacement | undefined = cp.kubernetes;
  if (!k)
    throw missing(
      cp,
      'kubernetes: missing; with NIGHTSHIFT_PLATFORM=kubernetes every control plane needs {namespace, release}',
    );
  if (component.kind === 'dashboard') {
    return {
      namespace: k.namespace,
      deployment: k.dashboard.deployment ?? `dashboard-${k.release}-tyk-dashboard`,
      container: k.dashboard.container ?? 'dashboard-tyk-dashboard',
      image: images.dashboard,
      ...(k.dashboard.healthUrl ? { healthUrl: k.dashboard.healthUrl } : {}),
    };
  }
  if (component.kind === 'gateway') {
    return {
      namespace: k.namespace,
      deployment: k.gateway.deployment ?? `gateway-${k.release}-tyk-gateway`,
      container: k.gateway.container ?? 'gateway-tyk-gateway',
      image: images.gateway,
      ...(k.gateway.configMap ? { configMap: k.gateway.configMap } : {}),
      ...(k.gateway.healthUrl ? { healthUrl: k.gateway.healthUrl } : {}),
    };
  }
  const dp = k.dataPlanes[component.id];
  if (!dp) throw missing(cp, `kubernetes.dataPlanes.${component.id}: missing (give at least its healthUrl)`);
  const release = dp.release ?? k.release;
  return {
    namespace: dp.namespace ?? k.namespace,
    deployment: dp.deployment ?? `gateway-${release}-tyk-gateway`,
    container: dp.container ?? 'gateway-tyk-gateway',
    image: images.gateway,
    ...(dp.healthUrl ? { healthUrl: dp.healthUrl } : {}),
  };
}

/** Resolves components through the inventory (read at call time: placements change with the fleet). */
export class InventoryKubePlacements {
  constructor(
    private readonly inventory: InventoryPort,
    private readonly images: KubeImages,
  ) {}

  async placementOf(component: ComponentRef): Promise<KubePlacementOf> {
    const record = await this.inventory.getControlPlane(component.controlPlaneId);
    if (!record)
      throw new ValidationError('inventory', [`control plane ${component.controlPlaneId}: not in the inventory`]);
    return kubePlacementOf(record.controlPlane, component, this.images);
  }

  async healthUrlOf(component: ComponentRef): Promise<string> {
    const placement = await this.placementOf(component);
    if (!placement.healthUrl) {
      const field =
        component.kind === 'data-plane'
          ? `kubernetes.dataPlanes.${component.id}.healthUrl`
          : `kubernetes.${component.kind}.healthUrl`;
      throw new Error(
        `${componentLabel(component)} of ${component.controlPlaneId}: ${field} is not set in the inventory`,
      );
    }
    return placement.healthUrl;
  }
}
