// Byte buffers: read as a stream of parts, compared.

/**
 * The first `count` bytes of `chunks`, removed from them: a view of the first part when
 * it holds them all, else a copy across parts. The caller makes sure there are enough.
 */
export function takeBytes(chunks: Uint8Array[], count: number): Uint8Array {
  const first = chunks[0]!
  if (first.length >= count) {
    if (first.length === count) chunks.shift()
    else chunks[0] = first.subarray(count)
    return first.subarray(0, count)
  }
  const out = new Uint8Array(count)
  let filled = 0
  while (filled < count) {
    const chunk = chunks[0]!
    const part = Math.min(chunk.length, count - filled)
    out.set(chunk.subarray(0, part), filled)
    filled += part
    if (part === chunk.length) chunks.shift()
    else chunks[0] = chunk.subarray(part)
  }
  return out
}

/** Whether `bytes` begin with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false
  return Buffer.from(bytes.buffer, bytes.byteOffset, prefix.length).equals(prefix)
}
