export {
  buildImages,
  kindNodeImage,
  COMPOSE_IMAGES,
  K8S_VERSION,
  ETCD_VERSION,
  type BuiltPiece,
} from './build-images.js';
export { imageExists, requireLocalImages, INPUTS_LABEL } from './docker-images.js';
export { removeBuildContainers } from './node-image.js';
export { kmslabImage, KMSLAB_IMAGE } from './kmslab-image.js';
