// TEST FIXTURES, not the real workflows: minimal stand-ins registered as `controlPlane` and `fleetRollout` so that
// test/integration/temporalMessenger.test.ts exercises integrations/temporalMessenger.ts against a real server
// whatever state workflows/controlPlane.ts and workflows/fleetRollout.ts are in. They only record what reaches them.
import { condition, defineQuery, defineSignal, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import {
  askSlotSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  grantSignal,
  offerSignal,
  reportSignal,
  returnSlotSignal,
  withdrawSignal,
  type ControlPlaneInput,
  type ReleaseOffer,
  type SlotGrant,
  type Withdrawal,
} from '../../workflows/messages';
import { ReleaseId, UpgradeStage } from '../../workflows/searchAttributes';

export const offersQuery = defineQuery<ReleaseOffer[]>('offers');
export const withdrawalsQuery = defineQuery<Withdrawal[]>('withdrawals');
export const grantsQuery = defineQuery<SlotGrant[]>('grants');
export const receivedQuery = defineQuery<{ signal: string; payload: unknown }[]>('received');
/** Ends the stand-in fleet, upserting UpgradeStage = the given stage first (as the real one will). */
export const finishSignal = defineSignal<[string]>('finish');

/**
 * Stand-in control plane: keeps every offer, holds the newest one (ReleaseId), answers `status`, keeps every
 * withdrawal and slot grant (and changes nothing for them); runs forever.
 */
export async function controlPlane(input: ControlPlaneInput): Promise<void> {
  const offers: ReleaseOffer[] = [];
  setHandler(offerSignal, (offer) => {
    offers.push(offer);
    upsertSearchAttributes([{ key: ReleaseId, value: offer.release.id }]);
  });
  setHandler(offersQuery, () => offers);
  const withdrawals: Withdrawal[] = [];
  setHandler(withdrawSignal, (w) => void withdrawals.push(w));
  setHandler(withdrawalsQuery, () => withdrawals);
  const grants: SlotGrant[] = [];
  setHandler(grantSignal, (g) => void grants.push(g));
  setHandler(grantsQuery, () => grants);
  setHandler(controlPlaneStatusQuery, () => {
    const last = offers.at(-1);
    return {
      workflowId: controlPlaneWorkflowId(input.controlPlaneId),
      controlPlaneId: input.controlPlaneId,
      state: last ? 'waiting' : 'idle',
      installed: {},
      ...(last
        ? {
            pending: {
              releaseId: last.release.id,
              targets: last.release.targets,
              source: last.source,
              offeredAt: last.offeredAt,
              ...(last.fleet ? { fleetWorkflowId: last.fleet.workflowId } : {}),
            },
          }
        : {}),
      recent: [],
      whyNot: [],
      runs: 1,
    };
  });
  await condition(() => false);
}

/** Stand-in fleet rollout: records the signals the control planes send until `finish`. */
export async function fleetRollout(): Promise<void> {
  const received: { signal: string; payload: unknown }[] = [];
  let finished: string | undefined;
  setHandler(reportSignal, (payload) => void received.push({ signal: 'report', payload }));
  setHandler(askSlotSignal, (payload) => void received.push({ signal: 'ask-slot', payload }));
  setHandler(returnSlotSignal, (payload) => void received.push({ signal: 'return-slot', payload }));
  setHandler(receivedQuery, () => received);
  setHandler(finishSignal, (stage) => {
    finished = stage;
  });
  await condition(() => finished !== undefined);
  upsertSearchAttributes([{ key: UpgradeStage, value: finished! }]);
}
