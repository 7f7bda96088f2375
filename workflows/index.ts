export { controlPlaneUpgrade } from './controlPlaneUpgrade';
