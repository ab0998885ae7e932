// The worker thread of QuickReader: reads the packed batches it is sent, in order.
import { parentPort } from 'node:worker_threads'
import { readPacked, type PackedBatch } from './quick-read.ts'

parentPort!.on('message', (batch: PackedBatch) => {
  parentPort!.postMessage({ id: batch.id, reads: readPacked(batch) })
})
