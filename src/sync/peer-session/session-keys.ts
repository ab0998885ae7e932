// Every sync-state key of the sync layer, in one table (laid out as store/keys.ts is).
// The bytes are those written before this table existed, so existing data folders keep
// working: counts are decimal text, marks one byte, the resume record JSON.
//
//   received/<peer>           count  the peer's feed sequence up to which we hold everything
//   acked/<peer>              count  our feed sequence up to which the peer applied all we sent
//   synced/<peer>             count  when a session with the peer last applied or caught up (ms)
//   first-sync/<peer>         JSON   where an interrupted first sync from the peer stands
//   scope/<peer>              text   the scope key the peer was last sent everything under
//   shared/<peer>/<objectId>  flag   the peer holds this object (of a type shared object by
//                                    object) from us: 1 while in scope, 0 once it left
import type { InstanceId, ObjectId } from '../../model/index.ts'
import {
  countValue,
  flagValue,
  jsonValue,
  syncStateFamily,
  textValue,
  type SyncStateFamily,
} from '../../store/index.ts'

/** The cursor: the peer's feed sequence up to which we hold everything. */
export const receivedCursor = syncStateFamily<InstanceId, number>('received/', countValue)

/** Our feed sequence up to which `peer` has applied everything we sent it (it said so). */
export const peerAcked = syncStateFamily<InstanceId, number>('acked/', countValue)

/** When a session with `peer` last applied what it sent or caught up (ms since 1970). */
export const lastSynced = syncStateFamily<InstanceId, number>('synced/', countValue)

/** Where an interrupted first sync from a peer stands: its resume token, and facets received. */
export interface FirstSyncRecord {
  token: string
  done: number
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

function isFirstSyncRecord(value: unknown): value is FirstSyncRecord {
  if (typeof value !== 'object' || value === null) return false
  const record = value as Partial<FirstSyncRecord>
  return typeof record.token === 'string' && isCount(record.done)
}

export const firstSyncResume = syncStateFamily<InstanceId, FirstSyncRecord>(
  'first-sync/',
  jsonValue(isFirstSyncRecord),
)

/** The scope (its canonical key) a peer was last sent everything under. */
export const scopeSent = syncStateFamily<InstanceId, string>('scope/', textValue)

/**
 * Whether `peer` holds an object of a filtered type from us: `true` while it is in scope,
 * `false` once it left. One family per peer, so a session scans only its own marks.
 */
export function sharedMarks(peer: InstanceId): SyncStateFamily<ObjectId, boolean> {
  return syncStateFamily<ObjectId, boolean>(`shared/${peer}/`, flagValue)
}

/** The cursor's key (public: diagnostics and tests name it). */
export function cursorKey(peer: InstanceId): string {
  return receivedCursor.key(peer)
}
