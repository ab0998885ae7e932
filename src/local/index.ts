// The local system: connectors (SQLite, memory), mapping between local tables and the
// canonical types, and the bridge that ingests local changes and projects merged state.
export {
  GROUP_MEMBERS,
  type Connector,
  type CustomValues,
  type LocalChange,
  type LocalRow,
  type ReadRecord,
  type RowWrite,
} from './connector.ts'
export {
  CREATE_ACTIONS,
  DEFAULT_ACTIONS,
  DELETE_ACTIONS,
  MAINTAIN_ACTIONS,
  actionsFromConfig,
  housekeepingFromConfig,
  type PeerActions,
  type TypeActions,
} from './actions.ts'
export {
  CONVERSIONS,
  RowProblem,
  defaultEntity,
  mappingFromConfig,
  readField,
  writeField,
  type Conversion,
  type EntityMapping,
  type FieldMapping,
  type LocalValue,
  type ReferenceResolver,
} from './mapping/index.ts'
export { SqliteConnector } from './sqlite-connector.ts'
export { FOLDER_POLL_MS, FolderConnector, folderMapping } from './folder-connector.ts'
export { GOOGLE_CSV_FORMAT } from './folder/google-csv.ts'
export { VCARD_FORMAT } from './folder/vcards.ts'
export type { FolderFormat } from './folder/format.ts'
export { createLocalDatabase, DEFAULT_SCHEMA } from './sqlite-schema.ts'
export { MemoryConnector } from './memory-connector.ts'
export { POSTGRES_POLL_MS, PostgresConnector } from './postgres-connector.ts'
export {
  createPostgresSchema,
  DEFAULT_POSTGRES_SCHEMA,
  redactedUrl,
  urlHasPassword,
} from './postgres-schema.ts'
export {
  DEFAULT_HOUSEKEEPING_MS,
  LocalSync,
  type BadRow,
  type IncomingPlan,
  type LocalPeerSettings,
  type LocalSyncOptions,
  type LocalSystemState,
  type OutgoingPlan,
  type PlanItem,
  type PlanList,
  type PlanOptions,
  type SyncPlan,
} from './local-sync/index.ts'
