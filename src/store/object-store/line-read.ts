// A received facet that is a line of changes past its created form (facet-doc/linear.ts),
// read on the store's worker thread ahead of the batch it came in, so that extending the
// line held here (remote-documents.ts extendLine) need not decode it on the main thread.
// A catch-up or a peer's bulk edit is nearly all such facets, and decoding each spent
// about a fifth of the receiver's main thread while its worker stood idle.
//
// The worker reads every change in Automerge's own form (readLinearFacet with nothing
// taken as stored): stricter than the main thread, which reads the part it holds as it
// is. A line the worker can't read that way is read on the main thread as before.
import type { FieldValue } from '../../model/index.ts'
import { readLinearFacet, type LinearFacet } from '../facet-doc/linear.ts'
import { OpIds } from '../facet-doc/op-ids.ts'

/** Lines of more changes are read on the main thread (they are compacted there anyway). */
const MAX_CHANGES = 32

/** A facet read as a line ahead of its batch, with its fields where each change ends. */
export interface LineRead {
  line: LinearFacet
  /** The fields where each change ends (`line.ends`, index for index). */
  fieldsAtEnds: Record<string, FieldValue>[]
}

/** A LineRead as it crosses between threads: its op ids as entries (OpIds is a class). */
export interface WireLine {
  line: Omit<LinearFacet, 'fieldOps' | 'metaOps'> & {
    fieldOps: [string, string][]
    metaOps: [string, string][]
  }
  fieldsAtEnds: Record<string, FieldValue>[]
}

/** The facet as a line of at least two changes, for the wire; undefined when it is not. */
export function readLineForWire(bytes: Uint8Array): WireLine | undefined {
  const fieldsAtEnds: Record<string, FieldValue>[] = []
  let line: LinearFacet | undefined
  try {
    line = readLinearFacet(bytes, {
      onChange: (facet) => {
        // A longer line is not read on: the main thread reads it.
        if (fieldsAtEnds.length === MAX_CHANGES) throw new RangeError('a long line')
        fieldsAtEnds.push({ ...facet.fields })
      },
    })
  } catch {
    return undefined // read on the main thread (which says what is wrong, if anything)
  }
  if (line === undefined || line.ends.length < 2) {
    return undefined
  }
  const { fieldOps, metaOps, ...rest } = line
  return {
    line: { ...rest, fieldOps: fieldOps.entries(), metaOps: metaOps.entries() },
    fieldsAtEnds,
  }
}

export function lineFromWire(wire: WireLine): LineRead {
  const { fieldOps, metaOps, ...rest } = wire.line
  return {
    line: { ...rest, fieldOps: OpIds.of(fieldOps), metaOps: OpIds.of(metaOps) },
    fieldsAtEnds: wire.fieldsAtEnds,
  }
}

export function isLineRead(read: unknown): read is LineRead {
  return typeof read === 'object' && read !== null && 'fieldsAtEnds' in read
}

/**
 * The line read ahead as readLinearFacet reads it with `fieldsAt: storedUpTo`: its fields
 * where the bytes held here end. Undefined when no change ends there. Each LineRead is
 * used once: the line is kept as the facet's (views.ts grownLines).
 */
export function lineStoredUpTo(read: LineRead, storedUpTo: number): LinearFacet | undefined {
  const at = read.line.ends.indexOf(storedUpTo)
  if (at < 0) return undefined
  read.line.fieldsAt = read.fieldsAtEnds[at]
  return read.line
}
