// The sync messages on the wire: batches are deflated, and whatever a peer sends is
// checked before anything of it is used.
import { deflateRawSync } from 'node:zlib'
import { encode } from 'cborg'
import { describe, expect, it } from 'vitest'
import type { FacetId, ObjectId } from '../../src/model/index.ts'
import {
  MAX_INFLATED_BYTES,
  decodeMessage,
  encodeMessage,
  type SyncMessage,
} from '../../src/sync/messages.ts'

const facet = (i: number) => `01JD${String(i).padStart(22, '0')}/core` as FacetId

describe('sync messages', () => {
  it('deflates a batch, and it decodes to the same batch', () => {
    const items: [FacetId, Uint8Array][] = Array.from({ length: 200 }, (_, i) => [
      facet(i),
      new TextEncoder().encode(`{"firstName":"Anna","by":"12D3KooWSameInstance","n":${i}}`),
    ])
    const message = { t: 'batch' as const, items, upTo: 7, resume: '{"seq":7}' }
    const bytes = encodeMessage(message)
    expect(bytes.length).toBeLessThan(encode(message).length / 3)
    expect(decodeMessage(bytes)).toEqual(message)
  })

  it('leaves small batches and other messages as they are', () => {
    const small = { t: 'batch' as const, items: [], upTo: 3 }
    expect(encodeMessage(small)).toEqual(encode(small))
    expect(decodeMessage(encodeMessage({ t: 'want', after: 5 }))).toEqual({ t: 'want', after: 5 })
  })

  it('refuses a batch that inflates past the limit, without inflating it all', () => {
    const bomb = deflateRawSync(new Uint8Array(MAX_INFLATED_BYTES + 1024))
    expect(bomb.length).toBeLessThan(10_000)
    expect(decodeMessage(encode({ t: 'z', d: bomb }))).toBe(
      `compressed batch that does not inflate within ${MAX_INFLATED_BYTES} bytes`,
    )
  })

  it('refuses compressed data that is not a plain batch, naming why', () => {
    const z = (value: unknown) => encode({ t: 'z', d: deflateRawSync(encode(value)) })
    expect(decodeMessage(encode({ t: 'z', d: new Uint8Array([1, 2, 3]) }))).toMatch(
      /does not inflate/,
    )
    expect(decodeMessage(encode({ t: 'z', d: 'text' }))).toBe('compressed batch without data')
    expect(decodeMessage(z({ t: 'want', after: 1 }))).toBe('compressed message that is not a batch')
    expect(decodeMessage(z({ t: 'z', d: new Uint8Array(0) }))).toBe(
      'in a compressed batch: a compressed message inside a compressed message',
    )
    expect(decodeMessage(z({ t: 'batch', items: [['nope', new Uint8Array(1)]], upTo: 0 }))).toBe(
      'in a compressed batch: batch with a malformed item',
    )
  })

  it('refuses malformed resume tokens', () => {
    expect(decodeMessage(encode({ t: 'want', after: 0, resume: 5 }))).toBe(
      'want with a malformed resume token',
    )
    expect(
      decodeMessage(encode({ t: 'batch', items: [], upTo: 0, resume: 'x'.repeat(2000) })),
    ).toBe('batch with a malformed resume token')
  })

  it('carries file content messages, and refuses malformed ones with the reason', () => {
    const sha = 'ab'.repeat(32)
    const object = '01JD0000000000000000000001' as ObjectId
    const valid: SyncMessage[] = [
      { t: 'blob-get', sha256: sha, object },
      { t: 'blob-manifest', sha256: sha, size: 5, chunkBytes: 262144, chunks: new Uint8Array(32) },
      { t: 'blob-none', sha256: sha, reason: 'not shared' },
      { t: 'chunk-get', sha256: sha, index: 3 },
      { t: 'chunk', sha256: sha, index: 3, data: new Uint8Array([1, 2, 3]) },
    ]
    for (const message of valid) expect(decodeMessage(encodeMessage(message))).toEqual(message)
    const refused: [unknown, string][] = [
      [{ t: 'blob-get', sha256: 'AB', object }, 'blob-get without a sha256 and an object id'],
      [
        { t: 'blob-get', sha256: sha, object: '../x' },
        'blob-get without a sha256 and an object id',
      ],
      [
        { t: 'blob-manifest', sha256: sha, size: 5, chunkBytes: 1024, chunks: new Uint8Array(31) },
        'blob-manifest without a sha256, sizes and 32-byte chunk hashes',
      ],
      [
        { t: 'blob-manifest', sha256: sha, size: -1, chunkBytes: 1024, chunks: new Uint8Array(0) },
        'blob-manifest without a sha256, sizes and 32-byte chunk hashes',
      ],
      [
        { t: 'blob-none', sha256: sha, reason: 'x'.repeat(501) },
        'blob-none without a sha256 and a short reason',
      ],
      [{ t: 'chunk-get', sha256: sha, index: 1.5 }, 'chunk-get without a sha256 and an index'],
      [
        { t: 'chunk', sha256: sha, index: 0, data: 'text' },
        'chunk without a sha256, an index and data',
      ],
    ]
    for (const [message, reason] of refused) expect(decodeMessage(encode(message))).toBe(reason)
  })
})
