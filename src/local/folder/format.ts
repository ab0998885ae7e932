// What a folder connector needs of a file format (vCard, Google Contacts CSV): a file's
// text as entries — each a person or an organization, with its row of the default
// schema's columns, custom fields and groups — and the parts that don't read; an entry
// changed or made from a record's content; and a file's text from its entries, keeping
// what the format holds that objectsync doesn't model.
import type { CustomValues, LocalRow } from '../connector.ts'

export type FolderTable = 'persons' | 'organizations'

/** An entry of a file (a card, a line) as the connector holds it. */
export interface Entry {
  /** The format's own form of it (a parsed card, a line's values), written back. */
  handle: unknown
  /** The 1-based line it starts on in its file. */
  line: number
  table: FolderTable
  key: string
  /** Its row; a person's organization_id is set by the connector from `organization`. */
  row: LocalRow
  custom: CustomValues
  groups: string[]
  /** A person's organization by name ('' for none). */
  organization: string
}

/** A part of a file that does not read: a bad row of its file and line. */
export interface EntryProblem {
  line: number
  problem: string
}

/** What a write sets on an entry: its row's columns, custom fields and groups. */
export interface EntryContent {
  table: FolderTable
  row: LocalRow
  custom: CustomValues | undefined
  groups: readonly string[] | undefined
  /** The organization's name for a person's organization_id, where known. */
  organizationName: string | undefined
}

export interface FolderFormat {
  /** As users call it, for descriptions. */
  readonly name: string
  /** The files' extension, with its dot (`.vcf`). */
  readonly extension: string
  /** A file's entries (`file`, its name without the extension, names entries without a key). */
  read(file: string, text: string): { entries: Entry[]; problems: EntryProblem[]; meta: unknown }
  /** Sets an entry's modelled parts to the content; everything else stays as it was. */
  update(entry: Entry, content: EntryContent, meta: unknown): void
  /** A new entry's handle for a record with this key. */
  create(key: string, content: EntryContent, meta: unknown): unknown
  /** A file's text from its entries' handles. */
  write(handles: readonly unknown[], meta: unknown): string
  /** The file (name with extension) a new record goes into, given the folder's files. */
  newFile(key: string, files: readonly string[]): string
  /** The meta of a file not written yet. */
  emptyMeta(): unknown
}
