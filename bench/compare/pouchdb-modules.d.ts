// The part of PouchDB the comparison benchmark uses. @types/pouchdb is not used: it pulls
// the DOM library into the whole program, which retypes Node's buffers everywhere.
declare module 'pouchdb' {
  export interface DatabaseOptions {
    /** Prepended to database names; with the LevelDB adapter, the folder they live in. */
    prefix?: string
  }

  export interface ReplicationInfo {
    docs_read: number
    docs_written: number
  }

  export interface Replication extends Promise<ReplicationInfo> {
    on(event: 'change', listener: (info: ReplicationInfo) => void): this
  }

  export interface Database<Doc extends object> {
    bulkDocs(docs: Doc[]): Promise<unknown[]>
    info(): Promise<{ doc_count: number }>
    replicate: { from(source: string): Replication }
  }

  export interface PouchDBConstructor {
    new <Doc extends object = object>(name: string, options?: DatabaseOptions): Database<Doc>
    defaults(options: DatabaseOptions): PouchDBConstructor
  }

  const PouchDB: PouchDBConstructor
  export default PouchDB
}

// express-pouchdb ships no typings either.
declare module 'express-pouchdb' {
  import type { Application } from 'express'
  import type { PouchDBConstructor } from 'pouchdb'

  export interface ExpressPouchDbOptions {
    /** 'minimumForPouchDB': only what PouchDB's replication needs (no config or log files). */
    mode?: 'fullCouchDB' | 'minimumForPouchDB'
  }

  export default function expressPouchDB(
    PouchDB: PouchDBConstructor,
    options?: ExpressPouchDbOptions,
  ): Application
}
