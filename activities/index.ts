import { createAuditActivities, type AuditDeps } from './audit.js';
import { createInterworkingActivities, type InterworkingDeps } from './interworking.js';
import { createMediaActivities, type MediaDeps } from './media.js';
import { createMmscActivities, type MmscDeps } from './mmsc.js';
import { createSipActivities, type SipDeps } from './sip.js';
import { createStorageActivities, type StorageDeps } from './storage.js';

export type ActivityDeps = InterworkingDeps & MmscDeps & SipDeps & StorageDeps & MediaDeps & AuditDeps;

/** All activities, grouped by the system they talk to; workflows proxy this type. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createInterworkingActivities(deps),
    ...createSipActivities(deps),
    ...createMmscActivities(deps),
    ...createStorageActivities(deps),
    ...createMediaActivities(deps),
    ...createAuditActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
