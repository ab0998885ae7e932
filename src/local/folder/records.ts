// A folder's records as its files hold them (folder-connector.ts): every card by its key
// (a key an earlier card took is a bad row), organizations also by the names persons'
// ORG give them (one named by persons only is a record of its own, `org:<name>`, with no
// card until it is written), and which records read differently from before.
import { createHash } from 'node:crypto'
import { GROUP_MEMBERS, type BadRow, type CustomValues, type LocalRow } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { Card, CardTable } from './vcards.ts'

export interface FileState {
  size: number
  mtimeMs: number
  cards: Card[]
  problems: BadRow[]
}

/** A record: its card, or (an organization only named by persons' ORG) none. */
export interface Held {
  file: string | undefined
  card: Card | undefined
  row: LocalRow
  custom: CustomValues
  groups: string[]
}

export type Records = Record<CardTable, Map<string, Held>>

/** The records of the files (in file name order: the first card with a key has it). */
export function indexRecords(
  files: ReadonlyMap<string, FileState>,
  problem: (file: string, line: number, problem: string) => BadRow,
): { records: Records; duplicates: BadRow[] } {
  const records: Records = { persons: new Map(), organizations: new Map() }
  const duplicates: BadRow[] = []
  const organizationByName = new Map<string, string>()
  for (const [file, state] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    for (const card of state.cards) {
      if (records.persons.has(card.key) || records.organizations.has(card.key)) {
        duplicates.push(problem(file, card.line, `UID ${card.key} is also an earlier card's`))
        continue
      }
      const { row, custom, groups } = card
      records[card.table].set(card.key, { file, card, row, custom, groups })
      if (card.table === 'organizations') organizationByName.set(String(row.name), card.key)
    }
  }
  for (const held of records.persons.values()) {
    const name = held.card?.organization ?? ''
    if (name === '') continue
    let key = organizationByName.get(name)
    if (key === undefined) {
      key = `org:${name}`
      organizationByName.set(name, key)
      const row = { id: key, name }
      records.organizations.set(key, {
        file: undefined,
        card: undefined,
        row,
        custom: {},
        groups: [],
      })
    }
    held.row = { ...held.row, organization_id: key }
  }
  return { records, duplicates }
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
export function tableOf(entity: EntityMapping): CardTable | undefined {
  return entity.table === 'persons' || entity.table === 'organizations' ? entity.table : undefined
}

/** A file name for a new record's card: its key where it is a safe name, else its hash. */
export function fileName(key: string): string {
  return /^[A-Za-z0-9._-]{1,100}$/.test(key) && !key.startsWith('.')
    ? key
    : createHash('sha256').update(key).digest('hex').slice(0, 32)
}
