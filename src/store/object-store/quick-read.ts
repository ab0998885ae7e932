// The quick read of a facet from a peer: a facet still in the form it was created in is
// read by decoding its one change, without loading a document (facet-doc/read-created.ts).
// It depends on nothing but the facet id and the bytes, so a first sync's batches are
// read on a worker thread (store-worker.ts) while the batch before is applied: these are
// the shapes that cross to the worker and back.
import { ObjectSyncError } from '../../errors.ts'
import { parseFacetId, type FacetId, type FacetName, type ObjectId } from '../../model/index.ts'
import { readEncodedFacet, type EncodedFacet } from '../facet-doc.ts'
import { checkFields } from '../remote-check.ts'
import { lineFromWire, readLineForWire, type LineRead, type WireLine } from './line-read.ts'
import { packBytes, unpackBytes } from './new-facets.ts'

/** A facet read without loading it, when it is still in the form it was created in. */
export interface QuickRead {
  object: ObjectId
  facet: FacetName
  content: EncodedFacet
  /** Why its fields are refused (remote-check.ts checkFields), if they are. */
  fieldsProblem: string | undefined
}

/**
 * The read, why the facet is refused, or undefined when it is not in the created form. On
 * the worker, a facet that is a line past its created form is read as one (line-read.ts).
 */
export type QuickReadResult = QuickRead | LineRead | ObjectSyncError | undefined

export function quickRead(
  facet: FacetId,
  bytes: Uint8Array,
): QuickRead | ObjectSyncError | undefined {
  const parsed = parseFacetId(facet)
  if (parsed === undefined) {
    return new ObjectSyncError('INVALID_CHANGES', `${JSON.stringify(facet)} is not a facet id`)
  }
  let content: EncodedFacet | undefined
  try {
    content = readEncodedFacet(bytes)
  } catch (error) {
    return new ObjectSyncError('INVALID_CHANGES', `the document for ${facet} could not be parsed`, {
      cause: error,
    })
  }
  if (content === undefined) return undefined
  // Checked here too: on the worker, this is the rest of what a facet costs that depends
  // on nothing but its bytes.
  const fieldsProblem = checkFields(parsed.facet, content.type, content)
  return { object: parsed.object, facet: parsed.facet, content, fieldsProblem }
}

/** A batch to read: the facet ids, and their bytes end to end in one transferred buffer. */
export interface PackedBatch {
  kind: 'read'
  id: number
  facets: FacetId[]
  /** Where each facet's bytes end in `bytes`. */
  ends: number[]
  bytes: Uint8Array<ArrayBuffer>
}

/** A result as it crosses between threads (an error as its message and its cause's). */
export type WireRead =
  { read: QuickRead } | { line: WireLine } | { refused: string; cause: string | undefined } | null

export function packBatch(
  id: number,
  items: readonly (readonly [FacetId, Uint8Array])[],
): PackedBatch {
  const { bytes, ends } = packBytes(items.map(([, each]) => each))
  return { kind: 'read', id, facets: items.map(([facet]) => facet), ends, bytes }
}

/** Reads a packed batch (on the worker). */
export function readPacked(batch: PackedBatch): WireRead[] {
  const all = unpackBytes(batch.bytes, batch.ends)
  return batch.facets.map((facet, index) => {
    const result = quickRead(facet, all[index]!)
    if (result === undefined) {
      const line = readLineForWire(all[index]!)
      return line === undefined ? null : { line }
    }
    if (result instanceof ObjectSyncError) {
      const cause = result.cause instanceof Error ? result.cause.message : undefined
      return { refused: result.message, cause }
    }
    return { read: result }
  })
}

export function fromWire(wire: WireRead): QuickReadResult {
  if (wire === null) return undefined
  if ('read' in wire) return wire.read
  if ('line' in wire) return lineFromWire(wire.line)
  const cause = wire.cause === undefined ? undefined : new Error(wire.cause)
  return new ObjectSyncError('INVALID_CHANGES', wire.refused, cause === undefined ? {} : { cause })
}
