// Authorship proofs (src/store/authorship.ts): what a signer writes verifies for its own
// id, its facet and its bytes only; Automerge reads the signed change as the same change
// with a message; changes asked for at once are signed together; and a store's changes
// carry their authors' proofs through edits, merges and deletes.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { createIdentity } from '../../src/net/index.ts'
import {
  ChangeSigner,
  PROOF_PREFIX,
  provesAuthor,
  withMessage,
} from '../../src/store/authorship.ts'
import type { FacetId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import {
  encodeNewFacet,
  mergeFacetDoc,
  readFacetDoc,
  type Doc,
  type FacetDoc,
} from '../../src/store/facet-doc.ts'
import { LocalSigning } from '../../src/store/object-store/signing.ts'
import { anna, openStore, ship } from '../helpers/stores.ts'

/** A change of its own document per i (unsigned, as a store makes it). */
function changeOf(i: number): Uint8Array {
  const doc = A.change(A.init<{ n?: number }>({ actor: 'ab'.repeat(8) }), { time: 1 }, (draft) => {
    draft.n = i
  })
  return A.getLastLocalChange(doc)!
}

function proofOf(change: Uint8Array): Buffer {
  const message = A.decodeChange(change).message!
  expect(message.startsWith(PROOF_PREFIX)).toBe(true)
  return Buffer.from(message.slice(PROOF_PREFIX.length), 'base64url')
}

describe('authorship proofs', () => {
  it('verify for the signer, the facet and the bytes signed, in trees of every size', async () => {
    const { id, privateKey } = await createIdentity()
    const other = await createIdentity()
    const signer = new ChangeSigner(privateKey)
    for (const size of [1, 2, 3, 63, 64, 65, 130]) {
      const unsigned = Array.from({ length: size }, (_, i) => ({
        facet: `f${i}`,
        change: changeOf(i),
      }))
      const signed = signer.signAll(unsigned)
      signed.forEach((change, i) => {
        expect(provesAuthor(`f${i}`, change, id)).toBe(true)
        // Another instance's id, another facet (a signed change replayed into another
        // object's facet, which shares the genesis), the change without its proof.
        expect(provesAuthor(`f${i}`, change, other.id)).toBe(false)
        expect(provesAuthor(`f${i + 1}`, change, id)).toBe(false)
        expect(provesAuthor(`f${i}`, unsigned[i]!.change, id)).toBe(false)
      })
      // The same change with another change's proof.
      if (size > 1) {
        const borrowed = withMessage(unsigned[0]!.change, A.decodeChange(signed[1]!).message!)
        expect(provesAuthor('f0', borrowed, id)).toBe(false)
      }
      // At most 64 changes a tree: a path of at most 6 nodes of 16 bytes.
      const lastTree = size % 64 || 64
      expect(proofOf(signed.at(-1)!).length).toBe(2 + 64 + Math.ceil(Math.log2(lastTree)) * 16)
    }
  })

  it('are refused when any byte of the proof or of the change is changed', async () => {
    const { id, privateKey } = await createIdentity()
    const signed = new ChangeSigner(privateKey).signAll(
      [0, 1, 2, 3, 4].map((i) => ({ facet: 'f', change: changeOf(i) })),
    )[2]!
    const proof = proofOf(signed)
    for (let at = 0; at < proof.length; at++) {
      const bent = Buffer.from(proof)
      bent[at]! ^= 1
      const change = withMessage(signed, PROOF_PREFIX + bent.toString('base64url'))
      expect(provesAuthor('f', change, id)).toBe(false)
    }
    expect(provesAuthor('f', withMessage(signed, `${PROOF_PREFIX}AAAA`), id)).toBe(false)
    // The proof in another encoding (characters base64url skips): a twin, refused.
    for (const tail of ['=', '!!', ' ']) {
      const twin = withMessage(signed, A.decodeChange(signed).message! + tail)
      expect(provesAuthor('f', twin, id)).toBe(false)
    }
    expect(provesAuthor('f', withMessage(signed, 'not a proof'), id)).toBe(false)
    // A different value under the same proof: the change is another.
    const other = withMessage(changeOf(9), A.decodeChange(signed).message!)
    expect(provesAuthor('f', other, id)).toBe(false)
    // Not a change at all, and an author that is no peer id: false, not a throw.
    expect(provesAuthor('f', new Uint8Array([1, 2, 3]), id)).toBe(false)
    expect(provesAuthor('f', signed, 'finance')).toBe(false)
  })

  it('leave the change as Automerge reads it, with the proof as its message', async () => {
    const { privateKey } = await createIdentity()
    let doc = A.from<{ n: number }>({ n: 0 }, { actor: 'cd'.repeat(8) })
    const before = A.clone(doc, { actor: 'cd'.repeat(8) })
    doc = A.change(doc, { time: 7 }, (draft) => {
      draft.n = 1
    })
    const unsigned = A.getLastLocalChange(doc)!
    const [signed] = new ChangeSigner(privateKey).signAll([{ facet: 'f', change: unsigned }])
    const read = A.decodeChange(signed!)
    expect(A.decodeChange(unsigned).message).toBeNull()
    expect(read.message).toMatch(new RegExp(`^${PROOF_PREFIX}[A-Za-z0-9_-]+$`))
    expect({ ...read, message: null, hash: '' }).toEqual({
      ...A.decodeChange(unsigned),
      hash: '',
    })
    // Applied in place of the unsigned change, and edited after, as the store does.
    const [applied] = A.applyChanges(before, [signed!])
    const next = A.change(applied, (draft) => {
      draft.n = 2
    })
    expect(A.load<{ n: number }>(A.save(next)).n).toBe(2)
    expect(A.decodeChange(A.getLastLocalChange(next)!).seq).toBe(3)
  })

  it('sign the changes asked for in one turn together, under one signature', async () => {
    const { id, privateKey } = await createIdentity()
    const signer = new ChangeSigner(privateKey)
    const signed = await Promise.all(
      Array.from({ length: 10 }, (_, i) => signer.sign(`f${i}`, changeOf(i))),
    )
    const signatures = new Set(
      signed.map((change) => proofOf(change).subarray(2, 66).toString('hex')),
    )
    expect(signatures.size).toBe(1)
    signed.forEach((change, i) => expect(provesAuthor(`f${i}`, change, id)).toBe(true))
    // A turn later: a tree of its own.
    const later = await signer.sign('g', changeOf(11))
    expect(proofOf(later).length).toBe(2 + 64)
    expect(provesAuthor('g', later, id)).toBe(true)
  })

  it('need an Ed25519 key', () => {
    expect(() => new ChangeSigner({ type: 'RSA', raw: new Uint8Array(64) })).toThrow(TypeError)
  })
})

describe('a store that signs its changes', () => {
  it('takes a peer change into an object it merged (a root-level change) and edits it again', async () => {
    // A merge changes the document's root only; the signed document must not keep inner
    // objects pointing at the unsigned one's freed handle (found by the identity property).
    const [north, south] = [await createIdentity(), await createIdentity()]
    const a = await openStore(new MemoryStorage(), {
      instanceId: north.id,
      identityKey: north.privateKey,
    })
    const b = await openStore(new MemoryStorage(), {
      instanceId: south.id,
      identityKey: south.privateKey,
    })
    const x = await a.create({ type: 'person', fields: { ...anna, email: 'anna@example.org' } })
    const y = await a.create({ type: 'person', fields: { ...anna, email: 'anna@example.org' } })
    await ship(a, b)
    const survivor = await a.merge(x.id, y.id)
    const merged = survivor === x.id ? y.id : x.id
    await b.update(merged, { fields: { title: 'from south' } })
    await b.update(merged, { fields: { roles: ['donor'] } })
    const [bytes] = [await b.getFacetBytes(`${merged}/core` as FacetId)]
    await expect(a.applyRemoteDocument(`${merged}/core` as FacetId, bytes!)).resolves.toMatchObject(
      { changed: true },
    )
    await a.delete(merged)
    await ship(a, b)
    for (const store of [a, b]) {
      expect((await store.get(merged))!.fields).toMatchObject({
        title: 'from south',
        roles: ['donor'],
      })
    }
    // Each change is proven by whoever made it.
    const facetBytes = await a.getFacetBytes(`${merged}/core` as FacetId)
    const doc = A.load(facetBytes!)
    const authors = A.getAllChanges(doc)
      .slice(1) // the genesis, shared by every facet and signed by no one
      .map((change) =>
        [north.id, south.id].find((id) => provesAuthor(`${merged}/core`, change, id)),
      )
    expect(authors).toEqual([north.id, north.id, south.id, south.id, north.id])
  })
})

describe('signing a change made on a loaded document', () => {
  for (const where of ['on a fork (edit)', 'in place'] as const) {
    it(`leaves a document that reads after the unsigned one is freed (made ${where})`, async () => {
      const { id, privateKey } = await createIdentity()
      const signing = new LocalSigning(privateKey, 'ab'.repeat(16))
      const before = A.load<FacetDoc>(
        encodeNewFacet('person', anna, { at: 1, by: id }, 'cd'.repeat(16)),
        {
          actor: 'ab'.repeat(16),
        },
      )
      // A change of the root only: `meta` and `fields` stay the inner objects they were.
      const change = (doc: Doc) =>
        mergeFacetDoc(doc, { into: '01AAAAAAAAAAAAAAAAAAAAAAAA' }, { at: 2, by: id })
      const edited = where === 'in place' ? change(before) : signing.edit(before, change)
      const signed = await signing.lastChange('f' as FacetId, before, edited)
      A.free(edited)
      expect(A.getConflicts(signed.doc.meta as unknown as Doc, 'firstName')).toBeUndefined()
      expect(readFacetDoc(signed.doc).fields.firstName).toBe('Anna')
      expect(provesAuthor('f', signed.change, id)).toBe(true)
      expect(A.getLastLocalChange(signed.doc) ?? A.getAllChanges(signed.doc).at(-1)).toEqual(
        signed.change,
      )
    })
  }
})
