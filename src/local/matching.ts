// Matching: which local record an object that arrives without a link already is, so that
// a first sync between instances that share people makes no duplicates.
//
//   persons:        first and last name (normalized), refined by email and birthday
//   organizations:  org number, else name
//   transactions:   every field equal except instance-local ids (externalIds)
//
// The index holds, per local record, the canonical fields that matching reads; it is
// built from the local rows and kept up to date as rows are taken in and written.
import type { FieldValue, ObjectType } from '../model/index.ts'

export interface MatchCandidate {
  type: ObjectType
  key: string
  fields: Readonly<Record<string, FieldValue>>
}

/** Case, spacing and Unicode forms don't make two names different. */
export function normalizeText(value: FieldValue | undefined): string {
  if (typeof value !== 'string') return ''
  return value.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()
}

function indexKey(type: ObjectType, fields: Readonly<Record<string, FieldValue>>): string[] {
  switch (type) {
    case 'person':
      return [`p:${normalizeText(fields.firstName)}\u0000${normalizeText(fields.lastName)}`]
    case 'organization':
      return [
        ...(fields.orgNumber === undefined ? [] : [`o#:${normalizeText(fields.orgNumber)}`]),
        `o:${normalizeText(fields.name)}`,
      ]
    case 'transaction':
      return [
        `t:${normalizeText(fields.type)}\u0000${normalizeText(fields.date)}\u0000${normalizeText(fields.amount)}`,
      ]
    case 'file':
      return []
  }
}

/** Whether two fields, where both records have them, say different things. */
function differs(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  return a !== undefined && b !== undefined && normalizeText(a) !== normalizeText(b)
}

/** Whether both records have the field, and it says the same. */
function same(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  return a !== undefined && b !== undefined && normalizeText(a) === normalizeText(b)
}

const TRANSACTION_LOCAL_FIELDS = new Set(['externalIds'])
/** Fields that name other objects: equal when they name the same record. */
const TRANSACTION_REFERENCES = new Set(['personId', 'organizationId'])

/** The object that stands for an object id now (through merges); itself when unknown. */
export type SurvivorOf = (id: string) => string

/**
 * The fields matching reads, per type (transactions compare every field but their
 * instance-local ids): an indexed record keeps only these — ≈ 780 bytes a person kept
 * every field, one Map per name and a list of index keys.
 */
const MATCHED_FIELDS: Record<ObjectType, readonly string[] | 'all'> = {
  person: ['firstName', 'lastName', 'email', 'birthday'],
  organization: ['orgNumber', 'name'],
  transaction: 'all',
  file: [],
}

function matchedFields(
  type: ObjectType,
  fields: Readonly<Record<string, FieldValue>>,
): Readonly<Record<string, FieldValue>> {
  const names = MATCHED_FIELDS[type]
  if (names === 'all') {
    return Object.fromEntries(
      Object.entries(fields).filter(([name]) => !TRANSACTION_LOCAL_FIELDS.has(name)),
    )
  }
  const kept: Record<string, FieldValue> = {}
  for (const name of names) if (fields[name] !== undefined) kept[name] = fields[name]
  return kept
}

export class MatchIndex {
  /** Index key → the record (or, rarely, the records: a Set, many for a monthly fee) under it. */
  private readonly byKey = new Map<string, MatchCandidate | Set<MatchCandidate>>()
  /** Per type, the records indexed, by key. */
  private readonly records = new Map<ObjectType, Map<string, MatchCandidate>>()

  /**
   * `survivorOf` lets references match by the record they name, not the id they were
   * read with: a donation of a person merged since it was indexed still matches.
   */
  constructor(private readonly survivorOf: SurvivorOf = (id) => id) {}

  /** Records (or re-records) what the local record `key` holds. */
  put(candidate: MatchCandidate): void {
    this.remove(candidate.type, candidate.key)
    const kept: MatchCandidate = {
      type: candidate.type,
      key: candidate.key,
      fields: matchedFields(candidate.type, candidate.fields),
    }
    let ofType = this.records.get(kept.type)
    if (ofType === undefined) {
      ofType = new Map()
      this.records.set(kept.type, ofType)
    }
    ofType.set(kept.key, kept)
    for (const key of indexKey(kept.type, kept.fields)) {
      const present = this.byKey.get(key)
      if (present === undefined) this.byKey.set(key, kept)
      else if (present instanceof Set) present.add(kept)
      else this.byKey.set(key, new Set([present, kept]))
    }
  }

  remove(type: ObjectType, key: string): void {
    const ofType = this.records.get(type)
    const kept = ofType?.get(key)
    if (kept === undefined) return
    ofType!.delete(key)
    for (const indexed of indexKey(type, kept.fields)) {
      const present = this.byKey.get(indexed)
      if (present === kept) this.byKey.delete(indexed)
      else if (present instanceof Set) {
        present.delete(kept)
        if (present.size === 1) this.byKey.set(indexed, present.values().next().value!)
      }
    }
  }

  /** The local records an object of `type` with `fields` may be. */
  find(type: ObjectType, fields: Readonly<Record<string, FieldValue>>): MatchCandidate[] {
    switch (type) {
      case 'person': {
        const named = this.lookUp(indexKey(type, fields)[0]!)
        // Email and birthday refine: a different one rules a candidate out, an equal one
        // (where several remain) picks among them.
        const possible = named.filter(
          (other) =>
            !differs(fields.email, other.fields.email) &&
            !differs(fields.birthday, other.fields.birthday),
        )
        if (possible.length <= 1) return possible
        const confirmed = possible.filter(
          (other) =>
            same(fields.email, other.fields.email) || same(fields.birthday, other.fields.birthday),
        )
        return confirmed.length === 1 ? confirmed : possible
      }
      case 'organization': {
        if (fields.orgNumber !== undefined) {
          const numbered = this.lookUp(`o#:${normalizeText(fields.orgNumber)}`)
          if (numbered.length > 0) return numbered
        }
        return this.lookUp(`o:${normalizeText(fields.name)}`).filter(
          (other) => !differs(fields.orgNumber, other.fields.orgNumber),
        )
      }
      case 'transaction':
        return this.lookUp(indexKey(type, fields)[0]!).filter((other) =>
          sameTransaction(fields, other.fields, this.survivorOf),
        )
      case 'file':
        return []
    }
  }

  private lookUp(key: string): MatchCandidate[] {
    const present = this.byKey.get(key)
    if (present === undefined) return []
    return present instanceof Set ? [...present] : [present]
  }
}

function sameTransaction(
  a: Readonly<Record<string, FieldValue>>,
  b: Readonly<Record<string, FieldValue>>,
  survivorOf: SurvivorOf,
): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)])
  for (const name of names) {
    if (TRANSACTION_LOCAL_FIELDS.has(name)) continue
    const [x, y] = [a[name], b[name]]
    if (TRANSACTION_REFERENCES.has(name) && typeof x === 'string' && typeof y === 'string') {
      if (survivorOf(x) !== survivorOf(y)) return false
    } else if (JSON.stringify(x) !== JSON.stringify(y)) return false
  }
  return true
}
