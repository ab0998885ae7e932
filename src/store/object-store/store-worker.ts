// The store's second core. A receiving first sync spends most of its time checking and
// decoding facets (quick-read.ts), a catch-up decoding the lines it extends (line-read.ts),
// and a local table taken in at first start most of its time encoding and signing new
// facets (new-facets.ts), all on the one JavaScript thread beside storing them. All of
// it depends on its input alone, so large batches go to one
// worker thread: a peer's batch is read there while the batch before it is applied, a
// page of new rows encoded while the next page is read. Small batches (live edits) are
// done at once: a round trip to the worker would only add latency. If the worker fails
// or exits, what it held is done here, and every later batch too: a broken worker costs
// speed, never a batch.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../../log.ts'
import type { FacetId } from '../../model/index.ts'
import type { IdentityKey } from '../authorship.ts'
import { unpackBytes, type EncodeReply, type EncodeRequest, type NewFacet } from './new-facets.ts'
import {
  fromWire,
  packBatch,
  quickRead,
  type QuickReadResult,
  type WireRead,
} from './quick-read.ts'

/** Batches of at least this many facets go to the worker. */
export const WORKER_MIN_ITEMS = 128
/**
 * A worker idle this long is stopped, and started again for the next large batch (≈ 0.1 s):
 * its heap (≈ 30–60 MB) is the daemon's only while a first sync or a table read needs it.
 */
const IDLE_STOP_MS = 1_000

type Items = readonly (readonly [FacetId, Uint8Array])[]

/** A request the worker holds: what to do with its answer, and how to do it here instead. */
interface Pending {
  answer: (reply: unknown) => void
  here: () => void
}

export function readInline(items: Items): QuickReadResult[] {
  return items.map(([facet, bytes]) => quickRead(facet, bytes))
}

export class StoreWorker {
  private worker: Worker | undefined
  /** Set once the worker failed or the store closed: everything is done here. */
  private inlineOnly: boolean
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  private idleTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly log: Logger,
    /** False: never start a worker. */
    useWorker = true,
  ) {
    this.inlineOnly = !useWorker
  }

  /** Per item, its quick read (in the order given). */
  read(items: Items): Promise<QuickReadResult[]> {
    if (this.inlineOnly || items.length < WORKER_MIN_ITEMS) {
      return Promise.resolve(readInline(items))
    }
    const id = this.nextId++
    const batch = packBatch(id, items)
    return this.request(
      id,
      batch,
      [batch.bytes.buffer],
      (reply) => (reply as { reads: WireRead[] }).reads.map(fromWire),
      () => readInline(items),
    )
  }

  /**
   * The new facets' bytes, encoded and signed (new-facets.ts) on the worker; `here` makes
   * them on this thread instead (a small page, no worker, or one that could not).
   */
  encode(
    facets: NewFacet[],
    writer: { actor: string; key: IdentityKey | undefined },
    here: () => Promise<Uint8Array[]>,
  ): Promise<Uint8Array[]> {
    if (this.inlineOnly || facets.length < WORKER_MIN_ITEMS) return here()
    const id = this.nextId++
    const request: EncodeRequest = { kind: 'encode', id, facets, ...writer }
    return this.request(
      id,
      request,
      [],
      (reply) => {
        const made = reply as EncodeReply
        return 'error' in made ? here() : unpackBytes(made.bytes, made.ends)
      },
      here,
    )
  }

  private request<T>(
    id: number,
    message: unknown,
    transfer: ArrayBuffer[],
    answer: (reply: unknown) => T | Promise<T>,
    here: () => T | Promise<T>,
  ): Promise<T> {
    clearTimeout(this.idleTimer)
    return new Promise<T>((resolve, reject) => {
      const settle = (make: () => T | Promise<T>) => {
        try {
          resolve(make())
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)))
        }
      }
      this.pending.set(id, {
        answer: (reply) => settle(() => answer(reply)),
        here: () => settle(here),
      })
      try {
        const worker = this.worker ?? this.start()
        worker.postMessage(message, transfer)
      } catch (error) {
        // No worker to be had, or the message could not be sent: this and every later
        // request is done here, and a worker started is stopped.
        this.pending.delete(id)
        if (this.worker !== undefined) this.fail(this.worker, error)
        else {
          this.inlineOnly = true
          this.log.warn({ err: error }, 'no store worker; reading and encoding on the main thread')
        }
        settle(here)
      }
    })
  }

  /** Stops the worker; what it still held is done here. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer)
    this.inlineOnly = true
    const worker = this.worker
    this.worker = undefined
    this.doPendingHere()
    await worker?.terminate()
  }

  /** How many requests wait on the worker (for tests). */
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
      resourceLimits: { maxYoungGenerationSizeMb: 16 },
    })
    // The worker never keeps the process alive: the store closes it, and a process that
    // ends without closing the store must still end.
    worker.unref()
    worker.on('message', (reply: { id: number }) => {
      const waiting = this.pending.get(reply.id)
      if (waiting === undefined) return
      this.pending.delete(reply.id)
      waiting.answer(reply)
      if (this.pending.size === 0) this.stopWhenIdle(worker)
    })
    worker.on('error', (error) => this.fail(worker, error))
    worker.on('exit', (code) => this.fail(worker, new Error(`the worker exited (${code})`)))
    this.worker = worker
    return worker
  }

  private stopWhenIdle(worker: Worker): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.worker !== worker || this.pending.size > 0) return
      this.worker = undefined // its exit is no failure
      void worker.terminate()
    }, IDLE_STOP_MS)
    this.idleTimer.unref()
  }

  private fail(worker: Worker, error: unknown): void {
    if (this.worker !== worker) return
    this.worker = undefined
    this.inlineOnly = true
    this.log.warn(
      { err: error },
      'the store worker failed; reading and encoding on the main thread',
    )
    this.doPendingHere()
    void worker.terminate()
  }

  private doPendingHere(): void {
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const { here } of pending) here()
  }
}

/**
 * The worker's script and options. Built, it is the .js beside this module; run from the
 * TypeScript sources (tests, benchmarks through tsx), the .ts, loaded through tsx.
 */
function workerEntry(): [string | URL, { eval?: boolean }] {
  const compiled = new URL('./worker-thread.js', import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return [compiled, {}]
  const source = new URL('./worker-thread.ts', import.meta.url).href
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
