// Fuzzing the SQLite local system with rows another program writes: FUZZ_ROWS rows (300 in
// `npm test`, 100,000 with `npm run fuzz`) with random values in every column of every
// table of the default schema, custom fields and keys included — good values, odd but good
// ones, and wrong ones (bytes in text columns and keys, text in flags, impossible dates,
// malformed amounts and emails, huge texts, control characters, custom fields the model
// refuses) — written through a separate better-sqlite3 connection in rounds of up to 2,000
// rows: the first round before the daemon's first run (taken in table by table), the
// others while it runs (taken in from the change log), some of them editing rows of
// earlier rounds; the last round ends with housekeeping. After each round settles:
//   - the bad rows the daemon lists are exactly the rows the oracle (helpers/row-fuzz.ts)
//     calls bad, each blamed on one of its bad columns (a row keyed by bytes is listed once
//     its table is read in full);
//   - every row that read well at some point has exactly one object, holding what the row
//     said when it last read well: a later bad edit of the row leaves it as it was; no
//     other object exists;
//   - the daemon changed, added and removed no row, bad or good.
// The objects and rows of the round's records and of a sample of earlier ones are compared
// after each round, every one after the last. FUZZ_SEED=N replays a run (the seed is in the
// test's name).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LocalSync,
  SqliteConnector,
  createLocalDatabase,
  mappingFromConfig,
} from '../../src/local/index.ts'
import {
  OBJECT_TYPES,
  type InstanceId,
  type ObjectId,
  type ObjectType,
} from '../../src/model/index.ts'
import { LevelStorage, type ObjectStore } from '../../src/store/index.ts'
import { createRandom, type Random } from '../helpers/fuzz-values.ts'
import {
  TABLES,
  columnValue,
  compact,
  customValues,
  expectRecord,
  type Expectation,
  type SqlValue,
  type StoredValue,
} from '../helpers/row-fuzz.ts'
import { openStore } from '../helpers/stores.ts'

const ROWS = Number(process.env.FUZZ_ROWS ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
/** Rows written between two syncs: a few rounds in `npm test`, 2,000 at a time at length. */
const ROWS_PER_ROUND = Math.min(2000, Math.max(100, Math.ceil(ROWS / 3)))
/** File content over this is a bad row (BLOB_TOO_LARGE); the fuzzer writes some. */
const MAX_BLOB_BYTES = 4096
/** Earlier records compared again after each round, besides the round's own. */
const SAMPLE = 200
const INSTANCE = 'instance-rows-fuzz' as InstanceId
/** How often each table is written to, of every hundred new rows. */
const TYPE_WEIGHTS: [ObjectType, number][] = [
  ['organization', 20],
  ['person', 40],
  ['transaction', 28],
  ['file', 12],
]

/** One record of the local system, as the fuzzer last wrote it and what must follow. */
interface FuzzRecord {
  type: ObjectType
  /** The key as the daemon names the record; `sqlKey` as the row holds it. */
  key: string
  sqlKey: SqlValue
  /** The table has been read in full since the row was written (a key of bytes shows then). */
  readInFull: boolean
  /** The row and its custom fields as last written, long texts and bytes as digests. */
  row: Record<string, unknown>
  custom: unknown
  expectation: Expectation
  /** What its object must hold (compacted), once the row has read well. */
  object?: { fields: Record<string, unknown>; custom: unknown }
  /** Its object, as the link says (after the round that took it in). */
  objectId?: ObjectId | undefined
}

let folder: string
let path: string
let sql: Database.Database
let store: ObjectStore
let local: LocalSync | undefined
const statements = new Map<string, Database.Statement>()

/** A statement on the other program's connection, prepared once. */
function statement(text: string): Database.Statement {
  let prepared = statements.get(text)
  if (prepared === undefined) {
    prepared = sql.prepare(text)
    statements.set(text, prepared)
  }
  return prepared
}

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'objectsync-rows-fuzz-'))
  path = join(folder, 'local.db')
  createLocalDatabase(path)
  sql = new Database(path)
  sql.pragma('busy_timeout = 5000')
  // LevelDB, as the daemon's: the links remember each row as last seen, texts and all.
  store = await openStore(new LevelStorage(join(folder, 'store')), {
    instanceId: INSTANCE,
    blobs: { maxBytes: MAX_BLOB_BYTES },
  })
})
afterAll(async () => {
  await local?.stop()
  await store.close()
  sql.close()
  rmSync(folder, { recursive: true, force: true })
})

/**
 * A key of a new record: unique, now and then with characters keys rarely hold, a number
 * (SQLite stores it as text), or bytes (no record can be made of that row: a bad row).
 */
function newKey(random: Random, type: ObjectType, serial: number): [string, SqlValue] {
  if (random.chance(0.01)) {
    const bytes = Buffer.from(`${serial}\u00ff`, 'latin1')
    return [`x'${bytes.toString('hex')}'`, bytes]
  }
  // A bigint binds as an INTEGER (a number as a REAL, stored as "1000000001.0").
  if (random.chance(0.02)) return [String(1e9 + serial), BigInt(1e9 + serial)]
  const suffix = random.chance(0.2)
    ? random.pick([' ', 'é', '😀', '/', '%', "'", '"', '\\', '\u0000', '\t', '..', ','])
    : ''
  const key = `${type.slice(0, 3)}-${serial}${suffix}`
  return [key, key]
}

function pickType(random: Random): ObjectType {
  let roll = random.int(100)
  for (const [type, weight] of TYPE_WEIGHTS) {
    if (roll < weight) return type
    roll -= weight
  }
  return 'person'
}

class RowsFuzzer {
  readonly records = new Map<string, FuzzRecord>()
  private serial = 0

  constructor(private readonly random: Random) {}

  private id(type: ObjectType, key: string): string {
    return `${TABLES[type].table}\u0000${key}`
  }

  /** Keys of records whose rows read well before this round, by type (references name them). */
  private linkedKeys(): Map<ObjectType, string[]> {
    const keys = new Map<ObjectType, string[]>(OBJECT_TYPES.map((type) => [type, []]))
    for (const record of this.records.values()) {
      if (record.object !== undefined) keys.get(record.type)!.push(record.key)
    }
    return keys
  }

  /** The daemon has read every table in full. */
  readInFull(): void {
    for (const record of this.records.values()) record.readInFull = true
  }

  /** Writes one round of rows as another program would, in one transaction; their ids. */
  writeRound(count: number): string[] {
    const { random } = this
    const touched: string[] = []
    const known = [...this.records.values()]
    const linked = this.linkedKeys()
    const sources = {
      linkedKeys: (type: ObjectType) => linked.get(type)!,
      maxBlobBytes: MAX_BLOB_BYTES,
    }
    sql.transaction(() => {
      for (let i = 0; i < count; i++) {
        const earlier = known.length > 0 && random.chance(0.15) ? random.pick(known) : undefined
        const type = earlier?.type ?? pickType(random)
        const [key, sqlKey] = earlier
          ? [earlier.key, earlier.sqlKey]
          : newKey(random, type, this.serial++)
        const { table, columns } = TABLES[type]
        const dirty = random.chance(0.35)
        const values: Record<string, SqlValue> = {}
        for (const spec of columns) {
          values[spec.column] = columnValue(random, spec, sources, dirty && random.chance(0.3))
        }
        const names = Object.keys(values)
        if (earlier === undefined) {
          statement(
            `INSERT INTO ${table} (id, ${names.join(', ')}) VALUES (?, ${names.map(() => '?').join(', ')})`,
          ).run(sqlKey, ...Object.values(values))
        } else {
          statement(
            `UPDATE ${table} SET ${names.map((name) => `${name} = ?`).join(', ')} WHERE id = ?`,
          ).run(...Object.values(values), sqlKey)
        }
        if (earlier === undefined ? random.chance(0.35) : random.chance(0.5)) {
          statement('DELETE FROM custom_fields WHERE object_id = ?').run(sqlKey)
          for (const [name, value] of customValues(random)) {
            statement(
              'INSERT OR REPLACE INTO custom_fields(object_id, name, value) VALUES (?, ?, ?)',
            ).run(sqlKey, name, value)
          }
        }
        touched.push(this.id(type, key))
        this.records.set(this.id(type, key), {
          ...(earlier ?? {
            type,
            key,
            sqlKey,
            readInFull: false,
            row: {},
            custom: [],
            expectation: { good: false, columns: [] },
          }),
        })
      }
    })()
    for (const id of touched) this.readBack(this.records.get(id)!)
    return [...new Set(touched)]
  }

  /** The record's row and custom fields as SQLite stores them, and what must follow. */
  private readBack(record: FuzzRecord): void {
    record.readInFull = false
    const { row, custom } = readRecord(record)
    record.row = compact(row) as FuzzRecord['row']
    record.custom = compact(custom)
    if (record.sqlKey instanceof Buffer) {
      record.expectation = { good: false, columns: ['id'] }
      return
    }
    record.expectation = expectRecord(record.type, row!, custom, {
      resolve: (type, key) => this.records.get(this.id(type, key))?.objectId,
      self: INSTANCE,
      maxBlobBytes: MAX_BLOB_BYTES,
    })
    const expectation = record.expectation
    if (!expectation.good) return
    // A reference to no record leaves the field as the object had it.
    const kept = Object.fromEntries(
      expectation.unresolved.flatMap((field) => {
        const value = record.object?.fields[field]
        return value === undefined ? [] : [[field, value]]
      }),
    )
    const fields = compact({ ...expectation.fields, ...kept }) as Record<string, unknown>
    record.object = { fields, custom: compact(expectation.custom) }
  }
}

/** The record's row and custom fields as SQLite stores them now. */
function readRecord(record: Pick<FuzzRecord, 'type' | 'sqlKey'>) {
  const row = statement(`SELECT * FROM ${TABLES[record.type].table} WHERE id = ?`).get(
    record.sqlKey,
  ) as Record<string, StoredValue> | undefined
  const custom = (
    statement('SELECT name, value FROM custom_fields WHERE object_id = ? ORDER BY name').all(
      record.sqlKey,
    ) as { name: StoredValue; value: StoredValue }[]
  ).map(({ name, value }): [StoredValue, StoredValue] => [name, value])
  return { row, custom }
}

/** The links the daemon keeps, record id (table, key) → object id. */
async function linksByRecord(): Promise<Map<string, ObjectId>> {
  const links = new Map<string, ObjectId>()
  for (const type of OBJECT_TYPES) {
    const prefix = `local/link/${type}/`
    for await (const [key, value] of store.scanSyncState(prefix)) {
      links.set(
        `${TABLES[type].table}\u0000${key.slice(prefix.length)}`,
        new TextDecoder().decode(value) as ObjectId,
      )
    }
  }
  return links
}

/** What is wrong after a round, each as one line; empty when all is well. */
async function problemsAfterRound(
  fuzzer: RowsFuzzer,
  random: Random,
  touched: readonly string[],
  all: boolean,
): Promise<string[]> {
  const problems: string[] = []
  const records = fuzzer.records
  // Bad rows: exactly the ones the oracle calls bad, each blamed on a bad column.
  const reported = new Map(local!.badRows().map((bad) => [`${bad.table}\u0000${bad.key}`, bad]))
  for (const [id, record] of records) {
    const bad = reported.get(id)
    const { expectation } = record
    if (expectation.good && bad !== undefined)
      problems.push(`${show(id)} reads well but is reported: ${bad.problem}`)
    // A key of bytes is found when the table is read in full (first run, housekeeping).
    const shows = !(record.sqlKey instanceof Buffer) || record.readInFull
    if (!expectation.good && bad === undefined && shows) {
      problems.push(
        `${show(id)} is not reported; bad columns ${String(expectation.columns)}: ${showRow(record)}`,
      )
    }
    if (!expectation.good && bad !== undefined && !expectation.columns.includes(bad.column)) {
      problems.push(
        `${show(id)} blamed on ${bad.column} (${bad.problem}), bad: ${String(expectation.columns)}`,
      )
    }
  }
  for (const id of reported.keys())
    if (!records.has(id)) problems.push(`${show(id)} reported, never written`)
  // One object for every record that read well, and no other.
  const links = await linksByRecord()
  for (const [id, record] of records) {
    const linked = links.get(id)
    if (record.object !== undefined && linked === undefined)
      problems.push(`${show(id)} has no object`)
    if (record.object === undefined && linked !== undefined)
      problems.push(`${show(id)} never read well, has an object`)
    if (record.objectId !== undefined && linked !== record.objectId)
      problems.push(`${show(id)} changed object`)
    record.objectId = linked
  }
  for (const id of links.keys())
    if (!records.has(id)) problems.push(`${show(id)}: a link to no record written`)
  for (const type of OBJECT_TYPES) {
    const expected = [...records.values()].filter(
      (r) => r.type === type && r.object !== undefined,
    ).length
    const counted = await store.count(type)
    if (counted !== expected) problems.push(`${counted} ${type} objects, expected ${expected}`)
    const rows = (
      statement(`SELECT count(*) AS n FROM ${TABLES[type].table}`).get() as { n: number }
    ).n
    const written = [...records.values()].filter((r) => r.type === type).length
    if (rows !== written) problems.push(`${rows} rows in ${TABLES[type].table}, written ${written}`)
  }
  // Objects and rows: the round's records and a sample of the earlier ones (all at the end).
  const ids = all
    ? [...records.keys()]
    : [...touched, ...Array.from({ length: SAMPLE }, () => random.pick([...records.keys()]))]
  for (const id of new Set(ids)) problems.push(...(await recordProblems(id, records.get(id)!)))
  return problems
}

/** What is wrong with one record's object and row. */
async function recordProblems(id: string, record: FuzzRecord): Promise<string[]> {
  const problems: string[] = []
  const now = readRecord(record)
  const row = compact(now.row) as FuzzRecord['row'] | undefined
  if (!sameValue(row, record.row)) {
    const changed = Object.keys(record.row).filter(
      (column) => !sameValue(row?.[column], record.row[column]),
    )
    const was = Object.fromEntries(changed.map((column) => [column, record.row[column]]))
    problems.push(`${show(id)}: the row was changed from ${brief(was)} to ${brief(row)}`)
  }
  if (!sameValue(compact(now.custom), record.custom)) {
    problems.push(`${show(id)}: its custom fields were changed`)
  }
  if (record.object === undefined || record.objectId === undefined) return problems
  const object = await store.get(record.objectId)
  if (object === undefined || object.deleted)
    return [...problems, `${show(id)}: its object is gone`]
  const held = { fields: compact(object.fields), custom: compact(object.custom) }
  if (!sameValue(held, record.object)) {
    problems.push(
      `${show(id)}: object ${brief(held)}, expected ${brief(record.object)} from ${showRow(record)}`,
    )
  }
  const sha = record.object.fields.sha256
  if (typeof sha === 'string' && !(await store.blobs.has(sha)))
    problems.push(`${show(id)}: its content is not held`)
  return problems
}

function sameValue(a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b)
    return true
  } catch {
    return false
  }
}

function show(id: string): string {
  return JSON.stringify(id.replace('\u0000', ' '))
}

/** JSON with long texts and bytes cut short, for messages. */
function brief(value: unknown): string {
  return JSON.stringify(value, (_key, each: unknown) => {
    if (each instanceof Buffer || (each as { type?: string })?.type === 'Buffer') {
      return `<bytes>`
    }
    if (typeof each === 'string' && each.length > 80) {
      return `<${each.length} chars: ${each.slice(0, 20)}…>`
    }
    return each
  })
}

function showRow(record: FuzzRecord): string {
  return brief({ row: record.row, custom: record.custom })
}

describe(`fuzzing the SQLite local system with rows another program writes (seed ${SEED})`, () => {
  it(
    `reports each of ${ROWS} random rows that can't be read, and takes the others in unaltered`,
    async () => {
      const random = createRandom(SEED)
      const fuzzer = new RowsFuzzer(random)
      let written = 0
      for (let round = 0; written < ROWS; round++) {
        const count = Math.min(ROWS_PER_ROUND, ROWS - written)
        const touched = fuzzer.writeRound(count)
        written += count
        // The first round is there before the daemon's first run, which reads every table;
        // the others come while it runs, through the change log. The last ends with
        // housekeeping, which reads every table again.
        if (local === undefined) {
          local = new LocalSync({
            store,
            connector: new SqliteConnector(path),
            mapping: mappingFromConfig(undefined),
            instanceId: INSTANCE,
            pollMs: 60_000,
          })
          await local.start()
          fuzzer.readInFull()
        }
        await local.settled()
        const last = written >= ROWS
        if (last) {
          await local.housekeeping()
          fuzzer.readInFull()
        }
        const problems = await problemsAfterRound(fuzzer, random, touched, last)
        expect(
          problems.slice(0, 20),
          `seed ${SEED}, round ${round}: ${problems.length} problems`,
        ).toEqual([])
      }
    },
    Math.max(60_000, ROWS * 10),
  )
})
