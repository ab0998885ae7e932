// What the parts of the blob store share, handed to each through its constructor.
import type { EventMap } from '../../typed-events.ts'
import type { StorageAdapter } from '../storage.ts'
import type { StoredBlobs } from './stored-blobs.ts'
import type { WriteGate } from './write-gate.ts'

export interface BlobStoreEvents extends EventMap {
  /** A blob became visible here, whole and verified. */
  published: [sha256: string]
}

export interface BlobStoreComponents {
  storage: StorageAdapter
  blobs: StoredBlobs
  gate: WriteGate
  /** Largest blob taken, from a local system or a peer. */
  maxBytes: number
  /** Chunk size of blobs written here (a peer's blobs keep theirs). */
  chunkBytes: number
  /** Content being received from one peer and not yet verified, at most (bytes). */
  receivingBytesPerPeer: number
}
