// Changes whose run-length columns claim more rows than any facet holds (a "zip bomb":
// five bytes can name a billion ops) are refused before Automerge decodes them, on every
// path a peer's bytes take into the store.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import {
  ACTION,
  INSERT,
  KEY_STR,
  PRED_COUNT,
  VALUE_META,
} from '../../src/store/change-reader/change-format.ts'
import {
  MAX_FACET_ROWS,
  maxFacetRows,
  oversizedColumns,
} from '../../src/store/change-reader/row-count.ts'
import { encodeNewFacet } from '../../src/store/facet-doc.ts'
import { genesis } from '../../src/store/facet-doc/layout.ts'
import { uleb, withColumn } from '../helpers/change-bytes.ts'
import { openStore } from '../helpers/stores.ts'

/** Signed LEB128 of a non-negative number. */
function sleb(value: number): number[] {
  const bytes = uleb(value)
  // A last byte with bit 6 set would read as negative: one more byte holds the sign.
  if (bytes[bytes.length - 1]! & 0x40) {
    bytes[bytes.length - 1]! |= 0x80
    bytes.push(0)
  }
  return bytes
}

/** A change of `ops` ops (each "set k = null" on the root), its columns all runs. */
function bomb(ops: number): Uint8Array {
  let change = A.encodeChange({
    actor: 'cc',
    seq: 1,
    startOp: 1,
    time: 0,
    message: null,
    deps: [],
    ops: [{ action: 'set', obj: '_root', key: 'k', value: null, pred: [] }],
  } as unknown as Parameters<typeof A.encodeChange>[0])
  const run = sleb(ops)
  change = withColumn(change, KEY_STR, [...run, 1, 0x6b]) // 'k'
  change = withColumn(change, ACTION, [...run, 1]) // set
  change = withColumn(change, VALUE_META, [...run, 0]) // null
  if (hasColumn(change, PRED_COUNT)) change = withColumn(change, PRED_COUNT, [...run, 0])
  if (hasColumn(change, INSERT)) change = withColumn(change, INSERT, uleb(ops)) // all false
  return change
}

function hasColumn(change: Uint8Array, spec: number): boolean {
  try {
    withColumn(change, spec, [])
    return true
  } catch {
    return false
  }
}

describe('columns that claim too many rows', () => {
  it('counts what Automerge would decode, and refuses past the bound', () => {
    // The same shape, small: Automerge decodes every op the columns claim.
    const small = bomb(1000)
    expect(A.decodeChange(small).ops).toHaveLength(1000)
    expect(oversizedColumns(small)).toBeUndefined()
    const large = bomb(2 ** 30)
    expect(large.length).toBeLessThan(120)
    expect(oversizedColumns(large)).toContain(
      `more than ${maxFacetRows(large.length).toLocaleString('en')} rows for ${large.length} bytes`,
    )
    // The bound grows with the bytes, up to MAX_FACET_ROWS; it is summed over the chunks.
    expect(maxFacetRows(100)).toBe(10_400)
    expect(maxFacetRows(4 * 2 ** 20)).toBe(MAX_FACET_ROWS)
    const over = bomb(200_000) // the review's: 76 bytes, 150 MB in decodeChange
    expect(oversizedColumns(over)).toBeDefined()
    const half = bomb(6_000)
    expect(oversizedColumns(half)).toBeUndefined()
    expect(oversizedColumns(Uint8Array.from([...half, ...half]))).toBeDefined()
    // Automerge also loads "bundles" (chunk type 3), which can claim as much: refused.
    const bundle = Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 3, 0])
    expect(oversizedColumns(bundle)).toContain('type 3')
    // A record's long history, saved as one document, passes.
    let doc = A.from<{ title: string; n: number }>({ title: '', n: 0 })
    for (let i = 0; i < 3000; i++) {
      doc = A.change(doc, (d) => {
        d.title = `title ${i}`
        d.n = i
      })
    }
    const saved = A.save(doc)
    expect(oversizedColumns(saved)).toBeUndefined()
    expect(
      oversizedColumns(Uint8Array.from([...saved, ...A.getAllChanges(doc).flatMap((c) => [...c])])),
    ).toBeUndefined()
    // Bytes it can't read are left to Automerge, which refuses them.
    expect(oversizedColumns(Uint8Array.from([1, 2, 3]))).toBeUndefined()
  })

  it('is refused by the store on every path from a peer, quickly and with the reason', async () => {
    const store = await openStore(new MemoryStorage())
    const facet = '01M972FMPNS3AC3BZZPXYE0KG0/core' as FacetId
    const from = '12D3KooWPeer' as InstanceId
    const change = bomb(2 ** 30)
    const started = performance.now()
    const failures = [
      await store.applyRemoteChanges(facet, [change], from).catch((error: unknown) => error),
      await store
        .applyRemoteDocument(facet, Uint8Array.from([...genesis('person').change, ...change]), from)
        .catch((error: unknown) => error),
      ...(await store.applyRemoteDocuments(
        [[facet, Uint8Array.from([...genesis('person').change, ...change])]],
        undefined,
        from,
      )),
    ]
    for (const failure of failures) {
      expect(isObjectSyncError(failure, 'INVALID_CHANGES')).toBe(true)
    }
    expect((failures[0] as Error).message).toMatch(/more than [\d,]+ rows for \d+ bytes/)
    expect(performance.now() - started).toBeLessThan(5_000)
    // Nothing was stored, and a well-formed facet still goes in.
    expect(await store.get('01M972FMPNS3AC3BZZPXYE0KG0' as ObjectId)).toBeUndefined()
    const fine = encodeNewFacet(
      'person',
      { firstName: 'A', lastName: 'B' },
      { by: from, at: 1 },
      'ab',
    )
    const [applied] = await store.applyRemoteDocuments([[facet, fine]], undefined, from)
    expect(isObjectSyncError(applied)).toBe(false)
    await store.close()
  })
})
