import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered by the dev server at start (scripts/temporal.ts) and by docker-compose / `temporal operator
// search-attribute create` on real clusters; see the README.
export const ControlPlaneId = defineSearchAttributeKey('ControlPlaneId', SearchAttributeType.KEYWORD);
export const OrgId = defineSearchAttributeKey('OrgId', SearchAttributeType.KEYWORD);
export const ReleaseId = defineSearchAttributeKey('ReleaseId', SearchAttributeType.KEYWORD);
export const TargetVersion = defineSearchAttributeKey('TargetVersion', SearchAttributeType.KEYWORD);
export const UpgradeStage = defineSearchAttributeKey('UpgradeStage', SearchAttributeType.KEYWORD);
export const WindowOpensAt = defineSearchAttributeKey('WindowOpensAt', SearchAttributeType.DATETIME);

export const ALL_SEARCH_ATTRIBUTES = [ControlPlaneId, OrgId, ReleaseId, TargetVersion, UpgradeStage, WindowOpensAt];
