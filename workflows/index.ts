export { catchUp } from './catchUp';
export { controlPlane } from './controlPlane';
export { fleetRollout } from './fleetRollout';
