export { controlPlaneUpgrade } from './controlPlaneUpgrade';
export { fleetUpgrade } from './fleetUpgrade';
