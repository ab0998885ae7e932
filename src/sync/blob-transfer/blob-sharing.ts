// What both sides of a file-content transfer share: the session's components, the
// counters (the session's, and the instance's per peer), and the one rule for which
// content may go to the peer — the content a file object names that the peer shares,
// with its owner.
import type { Logger } from '../../log.ts'
import { isObjectId, type InstanceId, type ObjectId } from '../../model/index.ts'
import type { ObjectStore, StoredObject } from '../../store/index.ts'
import type { SyncMessage } from '../messages.ts'
import type { SessionScope } from '../session-scope.ts'
import type { FileTransferStats } from './transfer-stats.ts'

export interface BlobTransferStats {
  chunksSent: number
  chunksReceived: number
  /** Chunks that did not match their hash, refused and asked for again. */
  chunksRefused: number
  blobsCompleted: number
  /** Content the peer would not or could not give (blob-none answers, time-outs). */
  blobsUnavailable: number
  /** Wanted content this peer was not asked for: its file is not shared with the peer. */
  blobsNotAsked: number
}

export interface BlobComponents {
  peer: InstanceId
  store: ObjectStore
  scope: SessionScope
  send: (message: SyncMessage) => Promise<void>
  logger: Logger
  stats: BlobTransferStats
  /** Every session's transfers, per peer, for the API and /metrics. */
  transfers: FileTransferStats
}

/**
 * Why the content file object `id` names may not go to this peer, if it may not. The
 * owner is checked whatever the scope, so content is never served for a file whose
 * owner is gone.
 */
export async function refusal(
  components: Pick<BlobComponents, 'store' | 'scope'>,
  sha: string,
  id: ObjectId,
): Promise<string | undefined> {
  const { store } = components
  const file = await store.get(id)
  if (file?.type !== 'file' || file.deleted) return 'no such file object'
  if (file.fields.sha256 !== sha) return 'the file object names other content'
  if (!shares(components.scope, file)) return 'the file is not shared with this peer'
  const ownerId = file.fields.ownerId
  if (ownerId !== undefined) {
    const owner = isObjectId(ownerId) ? await store.get(ownerId) : undefined
    if (owner === undefined || owner.deleted || !shares(components.scope, owner)) {
      return "the file's owner is not shared with this peer"
    }
  }
  return undefined
}

function shares(scope: SessionScope, object: StoredObject): boolean {
  return scope.objectVerdict(object.type, object.id, object.fields, 'out-ignoring-owner')
}
