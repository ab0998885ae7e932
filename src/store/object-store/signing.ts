// Signing what this instance writes (store/authorship.ts): a new facet's change, an edit
// appended to a line, and a change made on a loaded document. Without an identity key
// (tests with made-up instance ids) changes stay unsigned.
import * as A from '@automerge/automerge'
import type { FacetId } from '../../model/index.ts'
import { ChangeSigner, type IdentityKey } from '../authorship.ts'
import type { Doc } from '../facet-doc.ts'
import { concatBytes } from './facet-parts.ts'
import { genesisEnd } from './new-facets.ts'

export class LocalSigning {
  private readonly signer: ChangeSigner | undefined
  /** Who writes: what the store's worker needs to make and sign new facets itself. */
  readonly writer: { actor: string; key: IdentityKey | undefined }

  constructor(
    key: IdentityKey | undefined,
    /** This store session's Automerge actor. */
    private readonly actor: string,
  ) {
    this.signer = key === undefined ? undefined : new ChangeSigner(key)
    // Its bytes only: the key libp2p hands over is a class the worker could not receive.
    this.writer = {
      actor,
      key: key === undefined ? undefined : { type: key.type, raw: Uint8Array.from(key.raw) },
    }
  }

  /** A local change (one change chunk of `facet`) with its authorship proof. */
  change(facet: FacetId, change: Uint8Array): Promise<Uint8Array> {
    return this.signer === undefined ? Promise.resolve(change) : this.signer.sign(facet, change)
  }

  /** A new facet's bytes (its genesis, then the change that writes it), the change signed. */
  async newFacet(facet: FacetId, bytes: Uint8Array): Promise<Uint8Array> {
    if (this.signer === undefined) return bytes
    const at = genesisEnd(facet, bytes)
    return concatBytes([bytes.subarray(0, at), await this.signer.sign(facet, bytes.subarray(at))])
  }

  /**
   * `change` made on `doc` — on a fork of it when changes are signed, so that `doc` stays as
   * it is until lastChange applies the signed change to it. A fork left unchanged
   * (undefined) is freed.
   */
  edit<T extends Doc | undefined>(doc: Doc, change: (doc: Doc) => T): T {
    if (this.signer === undefined) return change(doc)
    const fork = A.clone(doc, { actor: this.actor })
    let edited: T
    try {
      edited = change(fork)
    } catch (error) {
      A.free(fork)
      throw error
    }
    if (edited === undefined) A.free(fork)
    return edited
  }

  /**
   * The document with its last local change (`doc`, changed from `before`) replaced by the
   * same change signed, and that change. The caller frees `doc` once `before` is no longer
   * read.
   */
  async lastChange(
    facet: FacetId,
    before: Doc,
    doc: Doc,
  ): Promise<{ doc: Doc; change: Uint8Array }> {
    const change = A.getLastLocalChange(doc)!
    if (this.signer === undefined) return { doc, change }
    const signed = await this.signer.sign(facet, change)
    try {
      // Made on a fork (edit): `before` takes the signed change as it would have taken the
      // unsigned one, and keeps its handle.
      return { doc: A.loadIncremental(before, signed), change: signed }
    } catch (error) {
      if (!(error instanceof RangeError)) throw error // not an outdated `before`
    }
    // Made on `before` itself, which now shares its handle with `doc`: loaded afresh. A fork
    // would share `before`'s unchanged inner objects, which point at that handle.
    const fork = A.clone(before, { actor: this.actor })
    const saved = A.save(fork)
    A.free(fork)
    return {
      doc: A.loadIncremental(A.load<never>(saved, { actor: this.actor }), signed),
      change: signed,
    }
  }
}
