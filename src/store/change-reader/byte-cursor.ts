// The byte cursor the change reader decodes with: LEB128 integers and strings, each
// refusing any encoding Automerge would not write (a redundant byte, a sign bit to
// spare), so that what it reads is what Automerge would save again.

// ignoreBOM: a string that starts with U+FEFF keeps it, as Automerge keeps it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const ASCII = {
  decode: (bytes: Uint8Array, start: number, end: number): string =>
    String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]),
}

/** Thrown inside the reader when the bytes leave the narrow form; never escapes it. */
export class NotReadable extends Error {}

export class Cursor {
  offset: number
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.offset = start
  }

  get done(): boolean {
    return this.offset >= this.end
  }

  byte(): number {
    if (this.offset >= this.end) throw new NotReadable()
    return this.bytes[this.offset++]!
  }

  /** Unsigned LEB128, up to 2^53. */
  uleb(): number {
    let result = 0
    for (let shift = 0; shift < 53; shift += 7) {
      const byte = this.byte()
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) {
        // A redundant trailing zero byte is not the canonical encoding Automerge writes.
        if (byte === 0 && shift > 0) throw new NotReadable()
        if (!Number.isSafeInteger(result)) throw new NotReadable()
        return result
      }
    }
    throw new NotReadable()
  }

  /** Signed LEB128, within the safe integers. */
  sleb(): number {
    let result = 0
    for (let shift = 0; shift < 49; shift += 7) {
      const byte = this.byte()
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) {
        if (shift > 0) this.refuseRedundantSign(byte)
        return byte & 0x40 ? result - 2 ** (shift + 7) : result
      }
    }
    return this.longSleb(result)
  }

  /** The rest of a signed LEB128 longer than 7 bytes, in BigInt to keep the low bits exact. */
  private longSleb(low: number): number {
    let result = BigInt(low)
    for (let shift = 49n; shift < 63n; shift += 7n) {
      const byte = this.byte()
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) {
        this.refuseRedundantSign(byte)
        if (byte & 0x40) result -= 1n << (shift + 7n)
        const value = Number(result)
        if (!Number.isSafeInteger(value)) throw new NotReadable()
        return value
      }
    }
    throw new NotReadable()
  }

  /** A last byte holding only sign bits is not the canonical encoding: refuse it. */
  private refuseRedundantSign(last: number): void {
    if (last !== 0 && last !== 0x7f) return
    const before = this.bytes[this.offset - 2]!
    if ((last === 0) === ((before & 0x40) === 0)) throw new NotReadable()
  }

  /** Moves past the next `length` bytes (as take, without making a view of them). */
  skip(length: number): void {
    if (length > this.end - this.offset) throw new NotReadable()
    this.offset += length
  }

  take(length: number): Uint8Array {
    if (length > this.end - this.offset) throw new NotReadable()
    const slice = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return slice
  }

  string(): string {
    return this.text(this.uleb())
  }

  /** The next `length` bytes in hex (an actor id, a hash). */
  hex(length: number): string {
    const bytes = this.take(length)
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
  }

  /** UTF-8, strict; short ASCII (most keys and values) without a TextDecoder call. */
  text(length: number): string {
    if (length > this.end - this.offset) throw new NotReadable()
    const start = this.offset
    this.offset += length
    if (length <= 64) {
      // Read in place: a subarray per string costs more than the string. (Measured in a
      // first sync: a Buffer per cursor and toString('latin1') took twice as long.)
      const { bytes } = this
      let i = start
      while (i < start + length && bytes[i]! < 0x80) i++
      if (i === start + length) return ASCII.decode(bytes, start, start + length)
    }
    try {
      return utf8.decode(this.bytes.subarray(start, start + length))
    } catch {
      throw new NotReadable()
    }
  }
}
