// The side asked for file content: a manifest for content named by a file object the
// peer shares, then the chunks of content whose manifest it asked for — each request
// checked again, as the file may have been deleted or left the scope meanwhile.
import type { ObjectId } from '../../model/index.ts'
import { refusal, type BlobComponents } from './blob-sharing.ts'
import type { Transfer } from './transfer-stats.ts'

/** Content whose manifest this session sent, and its transfer while chunks go out. */
interface ServedContent {
  object: ObjectId
  size: number
  chunks: number
  /** Chunks sent in the open transfer. */
  sent: number
  transfer: Transfer | undefined
}

export class BlobServer {
  /** Content whose manifest this session sent: the only content it serves chunks of. */
  private readonly served = new Map<string, ServedContent>()

  constructor(private readonly components: BlobComponents) {}

  /** The session ended: what was going out ends with it (the peer counts what it lacks). */
  close(): void {
    for (const content of this.served.values()) this.endTransfer(content, 'done')
  }

  async serveManifest(sha: string, id: ObjectId): Promise<void> {
    const { store, send, logger, peer } = this.components
    // The peer fetches one content at a time: asking for another, it is done with the last.
    for (const content of this.served.values()) this.endTransfer(content, 'done')
    const refused = await refusal(this.components, sha, id)
    const manifest = refused === undefined ? await store.blobs.manifest(sha) : undefined
    if (manifest === undefined) {
      const reason = refused ?? 'the content is not held here'
      logger.info({ peer, object: id, sha256: sha, reason }, 'file content not served')
      await send({ t: 'blob-none', sha256: sha, reason })
      return
    }
    const { size, chunks } = manifest
    this.served.set(sha, { object: id, size, chunks: chunks.length, sent: 0, transfer: undefined })
    await send({
      t: 'blob-manifest',
      sha256: sha,
      size,
      chunkBytes: manifest.chunkBytes,
      chunks: Buffer.concat(chunks.map((chunk) => Buffer.from(chunk, 'hex'))),
    })
  }

  async serveChunk(sha: string, index: number): Promise<void> {
    const { store, send, stats } = this.components
    const content = this.served.get(sha)
    // Checked again for every chunk: the file may have been deleted or left the scope.
    const refused =
      content === undefined
        ? 'no manifest of it was asked for'
        : await refusal(this.components, sha, content.object)
    const data = refused === undefined ? await store.blobs.readChunk(sha, index) : undefined
    if (data === undefined) {
      // A failure of ours (gone, out of scope, a chunk of it missing), not a chunk the
      // peer made up: a peer can't inflate the count by asking for index 10^9.
      const ours = refused !== undefined || (index >= 0 && index < (content?.chunks ?? 0))
      if (content !== undefined && ours) this.endTransfer(content, 'failed')
      if (refused !== undefined) this.served.delete(sha)
      await send({
        t: 'blob-none',
        sha256: sha,
        reason: refused ?? `chunk ${index} of it is not held here`,
      })
      return
    }
    await send({ t: 'chunk', sha256: sha, index, data })
    stats.chunksSent++
    this.chunkSent(sha, content!, data.length)
  }

  private chunkSent(sha: string, content: ServedContent, bytes: number): void {
    // A transfer that went quiet was ended by the ledger; what the peer asks now is another.
    if (content.transfer === undefined || content.transfer.ended) {
      content.sent = 0
      content.transfer = this.components.transfers.begin(this.components.peer, {
        file: content.object,
        sha256: sha,
        direction: 'out',
        size: content.size,
      })
    }
    content.transfer.moved(bytes)
    // Every chunk once: the whole content went out (a peer resuming asks for fewer, and
    // its transfer ends when it asks for other content, or falls silent).
    if (++content.sent >= content.chunks) this.endTransfer(content, 'done')
  }

  private endTransfer(content: ServedContent, outcome: 'done' | 'failed'): void {
    content.transfer?.end(outcome)
    content.transfer = undefined
  }
}
