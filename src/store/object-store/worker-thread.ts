// The store's worker thread (store-worker.ts): reads a peer's batches and encodes new
// facets, each request answered in the order it came.
import { parentPort } from 'node:worker_threads'
import { ChangeSigner } from '../authorship.ts'
import { encodeNewFacets, packBytes, type EncodeReply, type EncodeRequest } from './new-facets.ts'
import { readPacked, type PackedBatch } from './quick-read.ts'

/** The signer of the last key seen: a store sends the same key with every page. */
let signer: { raw: string; signer: ChangeSigner } | undefined

function signerOf(key: EncodeRequest['key']): ChangeSigner | undefined {
  if (key === undefined) return undefined
  const raw = Buffer.from(key.raw).toString('hex')
  if (signer?.raw !== raw) signer = { raw, signer: new ChangeSigner(key) }
  return signer.signer
}

function encode(request: EncodeRequest): void {
  let reply: EncodeReply
  try {
    const made = encodeNewFacets(request.facets, request.actor, signerOf(request.key))
    reply = { id: request.id, ...packBytes(made) }
  } catch (error) {
    // Said back, not thrown (the worker stays): the store makes this page the main
    // thread's way, which fails as it always did.
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) }
  }
  parentPort!.postMessage(reply, 'bytes' in reply ? [reply.bytes.buffer] : [])
}

parentPort!.on('message', (request: PackedBatch | EncodeRequest) => {
  if (request.kind === 'encode') encode(request)
  else parentPort!.postMessage({ id: request.id, reads: readPacked(request) })
})
