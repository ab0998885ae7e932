// The byte streams the peer link runs over, and the queue behind them. A reader that
// falls behind pauses the sender instead of buffering without bound: libp2p's own
// async iterator buffers everything it is sent, and a 4 MiB-frame burst to a slow
// reader would otherwise grow memory until the process dies.
import type { InstanceId } from '../model/index.ts'

export interface ByteStream extends AsyncIterable<Uint8Array> {
  /** Resolves once the transport has taken the bytes; waits while its buffer is full. */
  send(bytes: Uint8Array): Promise<void>
  /** Ends our side after what was sent is delivered. */
  close(): Promise<void>
  /** Ends both sides at once, discarding anything in flight. */
  abort(reason: Error): void
}

export type StreamHandler = (stream: ByteStream, remote: InstanceId) => void

// Pause the remote once 1 MiB waits unread; resume below 256 KiB.
export const HIGH_WATER_BYTES = 1 << 20
export const LOW_WATER_BYTES = 256 << 10

/**
 * Chunks received and not yet read. `onHigh` and `onLow` fire when the unread bytes
 * cross the water marks, so the owner can pause and resume the remote sender.
 */
export class ByteQueue implements AsyncIterable<Uint8Array> {
  private chunks: Uint8Array[] = []
  private bytes = 0
  private ended = false
  private error: Error | undefined
  private wake: (() => void) | undefined
  private paused = false

  constructor(
    private readonly onHigh: () => void = () => {},
    private readonly onLow: () => void = () => {},
  ) {}

  get unreadBytes(): number {
    return this.bytes
  }

  push(chunk: Uint8Array): void {
    if (this.ended) return
    this.chunks.push(chunk)
    this.bytes += chunk.length
    if (!this.paused && this.bytes >= HIGH_WATER_BYTES) {
      this.paused = true
      this.onHigh()
    }
    this.notify()
  }

  end(error?: Error): void {
    if (this.ended) return
    this.ended = true
    this.error = error
    if (error !== undefined) {
      this.chunks = []
      this.bytes = 0
    }
    this.notify()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = this.chunks.shift()
      if (chunk !== undefined) {
        this.bytes -= chunk.length
        if (this.paused && this.bytes <= LOW_WATER_BYTES) {
          this.paused = false
          this.onLow()
        }
        yield chunk
        continue
      }
      if (this.ended) {
        if (this.error !== undefined) throw this.error
        return
      }
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
