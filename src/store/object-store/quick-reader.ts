// Quick reads of a peer's batches on a second core. A receiving first sync spends most of
// its time checking and decoding facets (quick-read.ts) and then storing and projecting
// them, all on the one JavaScript thread. The decoding depends on the bytes alone, so a
// batch is handed to one worker thread as it arrives and read there while the batch
// before it is applied. Small batches (live edits) are read at once: a round trip to the
// worker would only add latency. If the worker fails or exits, what it held is read here
// and every later batch too: a broken worker costs speed, never a batch.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../../log.ts'
import type { FacetId } from '../../model/index.ts'
import {
  fromWire,
  packBatch,
  quickRead,
  type QuickReadResult,
  type WireRead,
} from './quick-read.ts'

/** Batches of at least this many facets are read on the worker. */
export const WORKER_MIN_ITEMS = 128

type Items = readonly (readonly [FacetId, Uint8Array])[]

interface Pending {
  items: Items
  resolve: (reads: QuickReadResult[]) => void
}

export function readInline(items: Items): QuickReadResult[] {
  return items.map(([facet, bytes]) => quickRead(facet, bytes))
}

export class QuickReader {
  private worker: Worker | undefined
  /** Set once the worker failed or the reader closed: everything is read here. */
  private inlineOnly: boolean
  private nextId = 0
  private readonly pending = new Map<number, Pending>()

  constructor(
    private readonly log: Logger,
    /** False: never start a worker (tests, and a store that receives little). */
    useWorker = true,
  ) {
    this.inlineOnly = !useWorker
  }

  /** Per item, its quick read (in the order given). */
  read(items: Items): Promise<QuickReadResult[]> {
    if (this.inlineOnly || items.length < WORKER_MIN_ITEMS) {
      return Promise.resolve(readInline(items))
    }
    const worker = this.worker ?? this.start()
    const id = this.nextId++
    const batch = packBatch(id, items)
    return new Promise((resolve) => {
      this.pending.set(id, { items, resolve })
      worker.postMessage(batch, [batch.bytes.buffer])
    })
  }

  /** Stops the worker; what it still held is read here. */
  async close(): Promise<void> {
    this.inlineOnly = true
    const worker = this.worker
    this.worker = undefined
    this.readPendingHere()
    await worker?.terminate()
  }

  /** How many batches wait on the worker (for tests). */
  get waiting(): number {
    return this.pending.size
  }

  /** Whether a worker is running (for tests). */
  get started(): boolean {
    return this.worker !== undefined
  }

  /** Ends the worker as a crash would (for tests). */
  async killWorkerForTest(): Promise<void> {
    await this.worker?.terminate()
  }

  private start(): Worker {
    const [script, options] = workerEntry()
    // Its young generation small: what it allocates lives for one batch, and every MB of
    // heap it keeps counts against the daemon's memory.
    const worker = new Worker(script, {
      ...options,
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    })
    // The worker never keeps the process alive: the store closes it, and a process that
    // ends without closing the store must still end.
    worker.unref()
    worker.on('message', ({ id, reads }: { id: number; reads: WireRead[] }) => {
      const waiting = this.pending.get(id)
      if (waiting === undefined) return
      this.pending.delete(id)
      waiting.resolve(reads.map(fromWire))
    })
    worker.on('error', (error) => this.fail(worker, error))
    worker.on('exit', (code) => this.fail(worker, new Error(`the worker exited (${code})`)))
    this.worker = worker
    return worker
  }

  private fail(worker: Worker, error: unknown): void {
    if (this.worker !== worker) return
    this.worker = undefined
    this.inlineOnly = true
    this.log.warn({ err: error }, 'the facet reading worker failed; reading on the main thread')
    this.readPendingHere()
    void worker.terminate()
  }

  private readPendingHere(): void {
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const { items, resolve } of pending) resolve(readInline(items))
  }
}

/**
 * The worker's script and options. Built, it is the .js beside this module; run from the
 * TypeScript sources (tests, benchmarks through tsx), the .ts, loaded through tsx.
 */
function workerEntry(): [string | URL, { eval?: boolean }] {
  const compiled = new URL('./quick-read-worker.js', import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return [compiled, {}]
  const source = new URL('./quick-read-worker.ts', import.meta.url).href
  // tsx's ESM entry, as its package's exports name it for `import` (resolving from here
  // through require would give its CommonJS build, which can't register from a worker).
  const require = createRequire(import.meta.url)
  const manifest = require.resolve('tsx/package.json')
  const { exports } = require(manifest) as {
    exports: Record<string, { import: { default: string } }>
  }
  const tsx = new URL(exports['./esm/api']!.import.default, pathToFileURL(manifest)).href
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}) })`
  return [boot, { eval: true }]
}
