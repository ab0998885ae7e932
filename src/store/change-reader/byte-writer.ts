// The byte writer the change writer encodes with: the inverse of byte-cursor.ts, LEB128
// integers and UTF-8 strings in the canonical form Automerge writes, into a buffer that
// grows as needed and is reused from one change to the next.

const utf8 = new TextEncoder()

// A buffer grown past this for a large change is dropped at the next reset.
const KEPT_SIZE = 64 * 1024

/** Thrown inside the writer when a change leaves the narrow form; never escapes it. */
export class NotWritable extends Error {}

export class ByteWriter {
  bytes = new Uint8Array(1024)
  length = 0

  reset(): void {
    this.length = 0
    if (this.bytes.length > KEPT_SIZE) this.bytes = new Uint8Array(1024)
  }

  written(): Uint8Array {
    return this.bytes.subarray(0, this.length)
  }

  private room(size: number): void {
    if (this.length + size <= this.bytes.length) return
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + size))
    grown.set(this.written())
    this.bytes = grown
  }

  byte(value: number): void {
    this.room(1)
    this.bytes[this.length++] = value
  }

  /** Unsigned LEB128 of a safe integer (at most 8 bytes). */
  uleb(value: number): void {
    this.room(8)
    let rest = value
    while (rest >= 0x80) {
      this.bytes[this.length++] = (rest % 128) | 0x80
      rest = Math.floor(rest / 128)
    }
    this.bytes[this.length++] = rest
  }

  /** Signed LEB128 of a safe integer: as few bytes as keep the sign bit right. */
  sleb(value: number): void {
    this.room(10)
    let rest = value
    for (;;) {
      // `& 0x7f` takes the low bits of the two's complement even past 32 bits (ToInt32 is
      // modulo 2^32); division by 128 is exact, and floor shifts negatives arithmetically.
      const low = rest & 0x7f
      rest = Math.floor(rest / 128)
      if ((rest === 0 && (low & 0x40) === 0) || (rest === -1 && (low & 0x40) !== 0)) {
        this.bytes[this.length++] = low
        return
      }
      this.bytes[this.length++] = low | 0x80
    }
  }

  append(bytes: Uint8Array): void {
    this.room(bytes.length)
    this.bytes.set(bytes, this.length)
    this.length += bytes.length
  }

  /**
   * Lowercase hex (an actor or a hash) as its bytes, decoded in place: an edit's
   * dependencies and actors differ from one change to the next, so a cache of them
   * misses. Refuses an empty or odd-length text and any other character.
   */
  hex(text: string): void {
    const { length } = text
    if (length === 0 || length % 2 !== 0) throw new NotWritable()
    this.room(length / 2)
    const { bytes } = this
    let at = this.length
    for (let i = 0; i < length; i += 2) {
      bytes[at++] = nibble(text.charCodeAt(i)) * 16 + nibble(text.charCodeAt(i + 1))
    }
    this.length = at
  }

  /** `text` as UTF-8, given its size from utf8Size; ASCII (the most of it) without a call. */
  utf8(text: string, size: number): void {
    this.room(size)
    if (size === text.length) {
      const { bytes, length } = this
      for (let i = 0; i < size; i++) bytes[length + i] = text.charCodeAt(i)
    } else {
      utf8.encodeInto(text, this.bytes.subarray(this.length))
    }
    this.length += size
  }
}

/** The value of a lowercase hex digit's character code. */
function nibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30 // 0-9
  if (code >= 0x61 && code <= 0x66) return code - 0x57 // a-f
  throw new NotWritable()
}

/**
 * The UTF-8 size of `text`. A lone surrogate has none: Automerge refuses it (the JSON
 * encodeChange parses cannot carry one), so a change holding one is not written here.
 */
export function utf8Size(text: string): number {
  let size = text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) size += 1
    else if (code < 0xd800 || code > 0xdfff) size += 2
    else if (code < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 2 // a surrogate pair: two UTF-16 units, four bytes
      i++
    } else {
      throw new NotWritable()
    }
  }
  return size
}
