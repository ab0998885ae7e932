// The side asked for file content: a manifest for content named by a file object the
// peer shares, then the chunks of content whose manifest it asked for — each request
// checked again, as the file may have been deleted or left the scope meanwhile.
import type { ObjectId } from '../../model/index.ts'
import { refusal, type BlobComponents } from './blob-sharing.ts'

export class BlobServer {
  /** Content whose manifest this session sent: the only content it serves chunks of. */
  private readonly served = new Map<string, ObjectId>()

  constructor(private readonly components: BlobComponents) {}

  async serveManifest(sha: string, id: ObjectId): Promise<void> {
    const { store, send, logger, peer } = this.components
    const refused = await refusal(this.components, sha, id)
    const manifest = refused === undefined ? await store.blobs.manifest(sha) : undefined
    if (manifest === undefined) {
      const reason = refused ?? 'the content is not held here'
      logger.info({ peer, object: id, sha256: sha, reason }, 'file content not served')
      await send({ t: 'blob-none', sha256: sha, reason })
      return
    }
    this.served.set(sha, id)
    await send({
      t: 'blob-manifest',
      sha256: sha,
      size: manifest.size,
      chunkBytes: manifest.chunkBytes,
      chunks: Buffer.concat(manifest.chunks.map((chunk) => Buffer.from(chunk, 'hex'))),
    })
  }

  async serveChunk(sha: string, index: number): Promise<void> {
    const { store, send, stats } = this.components
    const object = this.served.get(sha)
    // Checked again for every chunk: the file may have been deleted or left the scope.
    const refused =
      object === undefined
        ? 'no manifest of it was asked for'
        : await refusal(this.components, sha, object)
    const data = refused === undefined ? await store.blobs.readChunk(sha, index) : undefined
    if (data === undefined) {
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
  }
}
