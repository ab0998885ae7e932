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
 * instance-local ids): an indexed record keeps only these.
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

/** The matched fields as one string: their values in order (null where absent), else JSON. */
function pack(type: ObjectType, fields: Readonly<Record<string, FieldValue>>): string {
  const names = MATCHED_FIELDS[type]
  if (names === 'all') return JSON.stringify(fields)
  return JSON.stringify(names.map((name) => fields[name] ?? null))
}

function unpack(type: ObjectType, packed: string): Record<string, FieldValue> {
  const names = MATCHED_FIELDS[type]
  if (names === 'all') return JSON.parse(packed) as Record<string, FieldValue>
  const values = JSON.parse(packed) as (FieldValue | null)[]
  const fields: Record<string, FieldValue> = {}
  names.forEach((name, index) => {
    if (values[index] !== null) fields[name] = values[index]!
  })
  return fields
}

/** FNV-1a of an index key, kept within a small integer (a Map key without a string). */
function hashOfKey(indexKey: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < indexKey.length; i++) {
    hash ^= indexKey.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash & 0x3fffffff
}

/**
 * The index is as big as the local system (O(rows)), so it holds each record compactly:
 * the values of the fields matching reads as one string, and the index keys only as
 * hashes pointing at record keys (a lookup reads the fields back and checks the key
 * itself): ≈ 260 bytes a person, against ≈ 430 with an object per record and its index key.
 */
export class MatchIndex {
  /** Hash of an index key → the key of the record under it (or the keys: many for a monthly fee). */
  private readonly byKey = new Map<number, string | string[]>()
  /** Per type, the records indexed: key → the fields matching reads, packed. */
  private readonly records = new Map<ObjectType, Map<string, string>>()

  /**
   * `survivorOf` lets references match by the record they name, not the id they were
   * read with: a donation of a person merged since it was indexed still matches.
   */
  constructor(
    private readonly survivorOf: SurvivorOf = (id) => id,
    /** Tests pass a hash with collisions to exercise them. */
    private readonly hashOf: (indexKey: string) => number = hashOfKey,
  ) {}

  /** Records (or re-records) what the local record `key` holds. */
  put(candidate: MatchCandidate): void {
    const { type, key } = candidate
    const fields = matchedFields(type, candidate.fields)
    const packed = pack(type, fields)
    let ofType = this.records.get(type)
    // Recorded as it is already (a row written back as it was read, an object indexed
    // when its row was planned): nothing to do.
    if (ofType?.get(key) === packed) return
    this.remove(type, key)
    if (ofType === undefined) {
      ofType = new Map()
      this.records.set(type, ofType)
    }
    ofType.set(key, packed)
    for (const indexed of indexKey(type, fields)) {
      const hash = this.hashOf(indexed)
      const present = this.byKey.get(hash)
      if (present === undefined) this.byKey.set(hash, key)
      else if (typeof present === 'string') {
        if (present !== key) this.byKey.set(hash, [present, key])
      } else if (!present.includes(key)) present.push(key)
    }
  }

  remove(type: ObjectType, key: string): void {
    const ofType = this.records.get(type)
    const kept = ofType?.get(key)
    if (kept === undefined) return
    ofType!.delete(key)
    for (const indexed of indexKey(type, unpack(type, kept))) {
      const hash = this.hashOf(indexed)
      const present = this.byKey.get(hash)
      if (present === key) {
        if (!this.holds(type, key, hash)) this.byKey.delete(hash)
      } else if (Array.isArray(present)) {
        // Another type's record of the same key may share the hash: it stays.
        const others = present.filter((each) => each !== key || this.holds(type, each, hash))
        if (others.length === 1) this.byKey.set(hash, others[0]!)
        else this.byKey.set(hash, others)
      }
    }
  }

  /** The local records an object of `type` with `fields` may be. */
  find(type: ObjectType, fields: Readonly<Record<string, FieldValue>>): MatchCandidate[] {
    switch (type) {
      case 'person': {
        const named = this.lookUp(type, indexKey(type, fields)[0]!)
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
          const numbered = this.lookUp(type, `o#:${normalizeText(fields.orgNumber)}`)
          if (numbered.length > 0) return numbered
        }
        return this.lookUp(type, `o:${normalizeText(fields.name)}`).filter(
          (other) => !differs(fields.orgNumber, other.fields.orgNumber),
        )
      }
      case 'transaction':
        return this.lookUp(type, indexKey(type, fields)[0]!).filter((other) =>
          sameTransaction(fields, other.fields, this.survivorOf),
        )
      case 'file':
        return []
    }
  }

  /** The records of `type` under the index key: those its hash names whose key it is. */
  private lookUp(type: ObjectType, indexed: string): MatchCandidate[] {
    const present = this.byKey.get(this.hashOf(indexed))
    if (present === undefined) return []
    const found: MatchCandidate[] = []
    for (const key of typeof present === 'string' ? [present] : present) {
      const kept = this.records.get(type)?.get(key)
      if (kept === undefined) continue
      const fields = unpack(type, kept)
      if (indexKey(type, fields).includes(indexed)) found.push({ type, key, fields })
    }
    return found
  }

  /** Whether a record of another type with this key is indexed under the hash. */
  private holds(removed: ObjectType, key: string, hash: number): boolean {
    for (const [type, ofType] of this.records) {
      if (type === removed) continue
      const kept = ofType.get(key)
      if (kept === undefined) continue
      const fields = unpack(type, kept)
      if (indexKey(type, fields).some((indexed) => this.hashOf(indexed) === hash)) return true
    }
    return false
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
