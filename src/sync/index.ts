// The sync engine: sessions per peer over sealed channels, per-peer cursors that persist,
// bulk first sync of whole facets, live push of new changes, and relay between peers
// (a change received from one peer is in the feed, and so goes on to the others).
export {
  SyncEngine,
  type PeerSyncState,
  type SyncEngineOptions,
  type SyncLinks,
} from './sync-engine.ts'
export {
  PeerSession,
  cursorKey,
  type SessionProgress,
  type SyncChannel,
} from './peer-session/index.ts'
export { decodeMessage, encodeMessage, type SyncMessage } from './messages.ts'
export {
  SHARE_EVERYTHING,
  scopeFromShare,
  type ParsedScope,
  type PeerScope,
  type ShareProblem,
} from './scope.ts'
export {
  SCOPE_CHANGE_EXAMPLES,
  scopeChange,
  type ScopeChange,
  type ScopeChangeExample,
} from './scope-change.ts'
export { sourcesOfTruth, type PeerConflictSettings } from './conflict-policy.ts'
export { collectFileContents, type FileCollection } from './file-gc.ts'
export {
  FileTransferStats,
  type ActiveTransfer,
  type PeerTransfers,
  type TransferDirection,
} from './blob-transfer/index.ts'
