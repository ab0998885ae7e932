// The stored parts of one facet — its last snapshot and the change chunks appended since —
// joined into the bytes Automerge.load reads. Loading an object, reading a facet's bytes
// and scanning facets for a first sync all assemble a facet this one way.

/** A facet's stored values, gathered from a range read of its keys. */
export interface FacetParts {
  snapshot?: Uint8Array
  /** Change chunks appended after the snapshot, in key (= append) order. */
  chunks: Uint8Array[]
}

/** Sorts one stored value of a facet into its parts by its key (`…/s` or `…/c<n>`). */
export function addFacetPart(parts: FacetParts, key: string, value: Uint8Array): void {
  if (key.endsWith('/s')) parts.snapshot = value
  else parts.chunks.push(value)
}

/**
 * The facet's bytes, snapshot first. Keys sort chunks (c…) before the snapshot (s), so
 * the parts must be gathered before they are joined. A lone part is returned as it is.
 */
export function joinFacetParts(parts: FacetParts): Uint8Array {
  const { snapshot, chunks } = parts
  if (snapshot === undefined) return concatBytes(chunks)
  return chunks.length === 0 ? snapshot : concatBytes([snapshot, ...chunks])
}

/** The parts end to end; a single part is returned without copying. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
