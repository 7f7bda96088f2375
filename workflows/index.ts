export { catchUp } from './catchUp';
export { controlPlane } from './controlPlane';
export { controlPlaneUpgrade } from './controlPlaneUpgrade';
export { fleetRollout } from './fleetRollout';
export { fleetUpgrade } from './fleetUpgrade';
