// The object store: records as Automerge documents (one per facet) in an ordered
// key-value store, with the feed of every applied change and a live subscription to it.
// Code outside src/store imports only from here.
export {
  MAX_HISTORY_LIMIT,
  MAX_QUERY_LENGTH,
  MAX_SEARCH_LIMIT,
  ObjectStore,
  type Accepts,
  type AdmitsReference,
} from './object-store/index.ts'
export type { FeedFollower } from './object-store/feed-follower.ts'
export type {
  AppliedChanges,
  ConflictEntry,
  EditOptions,
  FeedEntry,
  FieldChange,
  HistoryChange,
  HistoryEntry,
  HistoryPage,
  ListOptions,
  MergeRecord,
  NewObject,
  ObjectPage,
  ObjectStoreEvents,
  ObjectStoreOptions,
  PrereadDocument,
  StoredObject,
  WrittenBy,
} from './object-store/index.ts'
export type { StorageAdapter, StorageOp, RangeOptions, WriteOptions } from './storage.ts'
export type { ConflictValue } from './conflicts.ts'
export { provesAuthor, type IdentityKey } from './authorship.ts'
export { readFacetBytes, type FacetContent } from './facet-doc.ts'
export {
  BlobStore,
  DEFAULT_MAX_BLOB_BYTES,
  DEFAULT_RECEIVING_FILES_PER_PEER,
  ReceivingBudgetError,
  isSha256,
  type BlobManifest,
  type BlobStoreEvents,
  type BlobStoreOptions,
} from './blob-store.ts'
export { LevelStorage } from './level-storage.ts'
export { MemoryStorage } from './memory-storage.ts'
export {
  countValue,
  flagValue,
  jsonValue,
  presenceValue,
  syncStateFamily,
  syncStateKey,
  textValue,
  SyncStateFamily,
  SyncStateKey,
  type ReadOptions as SyncStateReadOptions,
  type SyncStateCodec,
  type SyncStateEntry,
  type SyncStateStore,
} from './sync-state.ts'
export { refusedByScope } from './remote-check.ts'
