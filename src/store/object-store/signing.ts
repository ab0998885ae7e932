// Signing what this instance writes (store/authorship.ts): a new facet's change, an edit
// appended to a line, and a change made on a loaded document. Without an identity key
// (tests with made-up instance ids) changes stay unsigned.
import * as A from '@automerge/automerge'
import type { FacetId } from '../../model/index.ts'
import { ChangeSigner, type IdentityKey } from '../authorship.ts'
import type { Doc } from '../facet-doc.ts'
import { genesisPrefix } from '../facet-doc/read-created.ts'
import { concatBytes } from './facet-parts.ts'

export class LocalSigning {
  private readonly signer: ChangeSigner | undefined

  constructor(
    key: IdentityKey | undefined,
    /** This store session's Automerge actor. */
    private readonly actor: string,
  ) {
    this.signer = key === undefined ? undefined : new ChangeSigner(key)
  }

  /** A local change (one change chunk of `facet`) with its authorship proof. */
  change(facet: FacetId, change: Uint8Array): Promise<Uint8Array> {
    return this.signer === undefined ? Promise.resolve(change) : this.signer.sign(facet, change)
  }

  /** A new facet's bytes (its genesis, then the change that writes it), the change signed. */
  async newFacet(facet: FacetId, bytes: Uint8Array): Promise<Uint8Array> {
    if (this.signer === undefined) return bytes
    const at = genesisPrefix(bytes)?.prefix.change.length
    if (at === undefined) throw new TypeError(`the new facet ${facet} has no genesis to sign after`)
    return concatBytes([bytes.subarray(0, at), await this.signer.sign(facet, bytes.subarray(at))])
  }

  /**
   * The document with its last local change (`doc`, changed from `before`) replaced by the
   * same change signed, and that change. The signed document is loaded afresh from what
   * `before` holds: a fork would share `before`'s unchanged inner objects, which point at
   * the handle `doc` shares with `before` — freed by the caller once `before` is no longer
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
    const fork = A.clone(before, { actor: this.actor })
    const saved = A.save(fork)
    A.free(fork)
    return {
      doc: A.loadIncremental(A.load<never>(saved, { actor: this.actor }), signed),
      change: signed,
    }
  }
}
