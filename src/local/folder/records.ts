// A folder's records as its files hold them (folder-connector.ts): every entry by its key
// (a key an earlier entry took is a bad row), organizations also by the names persons
// give them (one named by persons only is a record of its own, `org:<name>`, with no
// entry until it is written), and which records read differently from before.
import { GROUP_MEMBERS, type BadRow, type CustomValues, type LocalRow } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { Entry, FolderTable } from './format.ts'

export interface FileState {
  size: number
  mtimeMs: number
  /** Not changed for a while when last read (folder-files.ts). */
  settled: boolean
  /** When it was found gone (it is kept as it was for a while). */
  vanished?: number
  /** Its size and time as the daemon last wrote it (not read again for being new). */
  written?: { size: number; mtimeMs: number }
  entries: Entry[]
  problems: BadRow[]
  /** The format's own of the file (a CSV's header). */
  meta: unknown
}

/** A record: its entry, or (an organization only named by persons) none. */
export interface Held {
  file: string | undefined
  entry: Entry | undefined
  row: LocalRow
  custom: CustomValues
  groups: string[]
}

export type Records = Record<FolderTable, Map<string, Held>>

/**
 * The records of the files (in file name order: the first entry with a key has it). A
 * record of `before` whose file is `unsure` and holds it no more is kept as it was.
 */
export function indexRecords(
  files: ReadonlyMap<string, FileState>,
  problem: (file: string, line: number, problem: string) => BadRow,
  before: Records,
  unsure: (file: string) => boolean,
): { records: Records; duplicates: BadRow[] } {
  const records: Records = { persons: new Map(), organizations: new Map() }
  const duplicates: BadRow[] = []
  const organizationByName = new Map<string, string>()
  for (const [file, state] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    if (state.vanished !== undefined) continue
    for (const entry of state.entries) {
      if (records.persons.has(entry.key) || records.organizations.has(entry.key)) {
        duplicates.push(problem(file, entry.line, `the key ${entry.key} is an earlier entry's too`))
        continue
      }
      const { row, custom, groups } = entry
      records[entry.table].set(entry.key, { file, entry, row, custom, groups })
      if (entry.table === 'organizations') organizationByName.set(nameKey(row.name), entry.key)
    }
  }
  for (const table of ['organizations', 'persons'] as const) {
    for (const [key, held] of before[table]) {
      if (held.file !== undefined && unsure(held.file) && !records[table].has(key)) {
        records[table].set(key, held)
        if (table === 'organizations') organizationByName.set(nameKey(held.row.name), key)
      }
    }
  }
  // An organization named by persons only keeps the key it had, however spelled now.
  const previous = new Map<string, Held>()
  for (const held of before.organizations.values()) {
    if (held.entry === undefined) previous.set(nameKey(held.row.name), held)
  }
  for (const held of records.persons.values()) {
    const name = held.entry?.organization ?? ''
    if (name === '') continue
    let key = organizationByName.get(nameKey(name))
    if (key === undefined) {
      const was = previous.get(nameKey(name))
      key = was === undefined ? `org:${name.trim()}` : String(was.row.id)
      organizationByName.set(nameKey(name), key)
      // An organization written with that key (its name changed since) is the one.
      if (records.organizations.has(key)) {
        held.row = { ...held.row, organization_id: key }
        continue
      }
      const row = was?.row ?? { id: key, name: name.trim() }
      records.organizations.set(key, {
        file: undefined,
        entry: undefined,
        row,
        custom: {},
        groups: [],
      })
    }
    held.row = { ...held.row, organization_id: key }
  }
  return { records, duplicates }
}

/** An organization's name as persons name it: "ACME " and "Acme" are one. */
function nameKey(name: unknown): string {
  return String(name).trim().toLowerCase()
}

/**
 * The records that read differently now, as change-log entries: a record's row or custom
 * fields under its table, its groups under group_members.
 */
export function changedRecords(before: Records, after: Records): [string, string][] {
  const changed: [string, string][] = []
  for (const table of ['organizations', 'persons'] as const) {
    for (const key of new Set([...before[table].keys(), ...after[table].keys()])) {
      const [was, is] = [before[table].get(key), after[table].get(key)]
      if (fingerprint(was) !== fingerprint(is)) changed.push([table, key])
      if (JSON.stringify(was?.groups ?? []) !== JSON.stringify(is?.groups ?? [])) {
        changed.push([GROUP_MEMBERS, key])
      }
    }
  }
  return changed
}

/** A record as it reads (its groups are reported apart, as group_members' changes). */
function fingerprint(held: Held | undefined): string {
  return held === undefined ? '' : JSON.stringify([held.row, held.custom])
}

/** The folder's table for an entity: persons and organizations (the default schema's). */
export function tableOf(entity: EntityMapping): FolderTable | undefined {
  return entity.table === 'persons' || entity.table === 'organizations' ? entity.table : undefined
}
