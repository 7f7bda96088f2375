import type { ComponentRef } from '../../domain/model';
import { parseInventoryText } from '../../integrations/fileInventory';
import { InventoryKubePlacements, kubePlacementOf } from '../../integrations/kubernetesTargets';
import { controlPlane, org } from '../helpers/fleetHarness';

const images = { dashboard: 'tykio/tyk-dashboard', gateway: 'docker.tyk.io/tyk-gateway/tyk-gateway' };
const ref = (id: string): ComponentRef => ({
  controlPlaneId: 'cp-k8s',
  kind: id === 'dashboard' || id === 'gateway' ? id : 'data-plane',
  id,
});

function inventoryWith(kubernetes: unknown) {
  const cp = controlPlane('cp-k8s', {
    dataPlanes: [
      { id: 'dp-eu', version: '5.3.4' },
      { id: 'dp-us', version: '5.3.4' },
    ],
    ...(kubernetes === undefined ? {} : { kubernetes }),
  });
  return parseInventoryText(JSON.stringify({ orgs: [org()], controlPlanes: [cp] }), 'fleet.json');
}

describe('Kubernetes placement from the inventory', () => {
  const inventory = inventoryWith({
    namespace: 'tyk-acme',
    release: 'acme',
    gateway: { healthUrl: 'http://gw.tyk-acme.svc:8080/hello', configMap: { name: 'acme-gateway-conf' } },
    dataPlanes: {
      'dp-eu': { namespace: 'tyk-acme-eu', healthUrl: 'http://gw.tyk-acme-eu.svc:8080/hello' },
      'dp-us': { release: 'acme-us', deployment: 'edge-gateway', container: 'gateway' },
    },
  });
  const cp = inventory.controlPlanes[0]!;

  it('names Deployments and containers as the Tyk Helm charts do, unless the inventory says otherwise', () => {
    expect(kubePlacementOf(cp, ref('dashboard'), images)).toEqual({
      namespace: 'tyk-acme',
      deployment: 'dashboard-acme-tyk-dashboard',
      container: 'dashboard-tyk-dashboard',
      image: 'tykio/tyk-dashboard',
    });
    expect(kubePlacementOf(cp, ref('gateway'), images)).toEqual({
      namespace: 'tyk-acme',
      deployment: 'gateway-acme-tyk-gateway',
      container: 'gateway-tyk-gateway',
      image: 'docker.tyk.io/tyk-gateway/tyk-gateway',
      configMap: { name: 'acme-gateway-conf', key: 'tyk.conf' },
      healthUrl: 'http://gw.tyk-acme.svc:8080/hello',
    });
    expect(kubePlacementOf(cp, ref('dp-eu'), images)).toMatchObject({
      namespace: 'tyk-acme-eu',
      deployment: 'gateway-acme-tyk-gateway',
    });
    expect(kubePlacementOf(cp, ref('dp-us'), images)).toMatchObject({
      namespace: 'tyk-acme',
      deployment: 'edge-gateway',
      container: 'gateway',
    });
  });

  it('says what is missing, naming the field', async () => {
    const bare = inventoryWith(undefined).controlPlanes[0]!;
    expect(() => kubePlacementOf(bare, ref('gateway'), images)).toThrow(
      /inventory control plane cp-k8s is invalid:\n {2}- kubernetes: missing; with NIGHTSHIFT_PLATFORM=kubernetes/,
    );
    const noDp = inventoryWith({ namespace: 'tyk-acme', release: 'acme' }).controlPlanes[0]!;
    expect(() => kubePlacementOf(noDp, ref('dp-eu'), images)).toThrow(/kubernetes\.dataPlanes\.dp-eu: missing/);

    const placements = new InventoryKubePlacements(
      {
        getControlPlane: async (id) => (id === 'cp-k8s' ? { controlPlane: cp, org: inventory.orgs[0]! } : undefined),
        listControlPlanes: async () => ({ items: [] }),
      },
      images,
    );
    await expect(placements.healthUrlOf(ref('gateway'))).resolves.toBe('http://gw.tyk-acme.svc:8080/hello');
    await expect(placements.healthUrlOf(ref('dashboard'))).rejects.toThrow(
      'dashboard of cp-k8s: kubernetes.dashboard.healthUrl is not set in the inventory',
    );
    await expect(placements.healthUrlOf(ref('dp-us'))).rejects.toThrow('kubernetes.dataPlanes.dp-us.healthUrl');
    await expect(placements.placementOf({ ...ref('gateway'), controlPlaneId: 'cp-gone' })).rejects.toThrow(
      'control plane cp-gone: not in the inventory',
    );
  });

  it('rejects bad placements with the field and the value', () => {
    expect(() => inventoryWith({ namespace: 'Tyk_Acme', release: 'acme' })).toThrow(
      /controlPlanes\[0\]\.kubernetes\.namespace.*Kubernetes name/s,
    );
    expect(() =>
      inventoryWith({
        namespace: 'tyk',
        release: 'acme',
        dataPlanes: { 'dp-nowhere': { healthUrl: 'http://x/hello' } },
      }),
    ).toThrow(/kubernetes\.dataPlanes\.dp-nowhere.*no such data plane/s);
    expect(() => inventoryWith({ namespace: 'tyk', release: 'acme', gateway: { healthUrl: 'not a url' } })).toThrow(
      /kubernetes\.gateway\.healthUrl/,
    );
  });
});
