import type { MediaStore } from '../clients/media-store.js';

export interface StorageDeps {
  media: MediaStore;
}

/** Activities on the Media Storage Server's store (ContentRef in, ContentRef out). */
export function createStorageActivities(deps: StorageDeps) {
  return {
    async purgeExpiredMedia(): Promise<number> {
      return deps.media.purgeExpired();
    },
  };
}
