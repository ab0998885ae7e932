// Removing file contents nothing needs any more. A blob stays while a file object here
// names it. Once its only file objects are deleted, it stays until every paired peer has
// acknowledged everything in our feed up to now (and so the tombstones): a peer still
// catching up may ask for the content of a file it has not yet seen deleted.
import type { InstanceId } from '../model/index.ts'
import type { ObjectStore } from '../store/index.ts'
import { peerAcked } from './peer-session/index.ts'

export interface FileCollection {
  /** sha256 of each blob removed. */
  blobs: string[]
  /** Chunks removed, with those of leftovers of interrupted writes. */
  chunks: number
  /** Blobs only deleted files name, kept because a peer has not acknowledged the deletes. */
  waitingForPeers: number
}

export async function collectFileContents(
  store: ObjectStore,
  peers: readonly InstanceId[],
  options: {
    /** Content stored this recently is kept even if nothing names it yet (default 1 h). */
    graceMs?: number
    now?: () => number
  } = {},
): Promise<FileCollection> {
  const now = options.now?.() ?? Date.now()
  const upTo = store.lastSeq
  const named = new Set<string>()
  const tombstoned = new Set<string>()
  let after: string | undefined
  do {
    const page = await store.list('file', {
      includeDeleted: true,
      limit: 1000,
      ...(after === undefined ? {} : { after }),
    })
    for (const file of page.items) {
      const sha = file.fields.sha256
      if (typeof sha !== 'string') continue
      if (file.deleted) tombstoned.add(sha)
      else named.add(sha)
    }
    after = page.next
  } while (after !== undefined)
  let everyPeerHasAll = true
  for (const peer of peers) {
    const acked = await peerAcked.read(store, peer, { unreadable: 'absent' })
    if (acked === undefined || acked < upTo) everyPeerHasAll = false
  }
  const keep = new Set(named)
  let waitingForPeers = 0
  if (!everyPeerHasAll) {
    for (const sha of tombstoned) {
      if (!keep.has(sha)) waitingForPeers++
      keep.add(sha)
    }
  }
  const removed = await store.blobs.collect(keep, now - (options.graceMs ?? 60 * 60 * 1000))
  return { ...removed, waitingForPeers }
}
