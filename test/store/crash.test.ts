// kill -9 at random points: every write the store acknowledged must be there after
// reopening, and the feed and the documents must agree. CRASH_RUNS sets the number of
// runs (20 in `npm test`, 200 with `npm run test:crash`).
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { FacetId, ObjectId } from '../../src/model/index.ts'
import { LevelStorage } from '../../src/store/index.ts'
import { runTs, waitForLine } from '../helpers/child.ts'
import { openStore, tempDir } from '../helpers/stores.ts'

const RUNS = Number(process.env.CRASH_RUNS ?? 20)
const PARALLEL = 2

async function crashOnce(run: number): Promise<{ acked: number }> {
  const dir = join(tempDir(`crash-${run}`), 'store')
  const child = runTs('test/fixtures/crash-writer.ts', [dir, String(1 + (run % 6))])
  const acked = new Map<ObjectId, number>()
  let pending = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      const [word, id, n] = line.split(' ')
      if (word === 'ack')
        acked.set(id as ObjectId, Math.max(acked.get(id as ObjectId) ?? 0, Number(n)))
    }
  })
  await waitForLine(child, (line) => line === 'ready')
  // From right after opening up to ~0.5 s of writing, different each run.
  await new Promise((resolve) => setTimeout(resolve, (run * 37) % 500))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited

  const store = await openStore(new LevelStorage(dir))
  try {
    for (const [id, n] of acked) {
      const object = await store.get(id)
      expect(object, `acknowledged object ${id} (run ${run})`).toBeDefined()
      expect(object!.custom.n as number, `object ${id} (run ${run})`).toBeGreaterThanOrEqual(n)
      if (n > 0) expect(object!.fields.title).toBe(`t${object!.custom.n as number}`)
    }
    // The feed and the documents agree: the feed is gap-free, names only facets that
    // exist, and names every facet of every object.
    const feed = await store.readFeed(0, 1_000_000)
    expect(feed.map((entry) => entry.seq)).toEqual(feed.map((_, i) => i + 1))
    expect(store.lastSeq).toBe(feed.length)
    const fedFacets = new Set(feed.map((entry) => entry.facet))
    const objects = new Set(feed.map((entry) => entry.object))
    const all = await store.list('person', { limit: 1000, includeDeleted: true })
    expect(all.corrupt).toEqual([])
    expect(new Set(all.items.map((item) => item.id))).toEqual(objects)
    for (const id of objects) {
      const facets = await store.facetsOf(id)
      for (const facet of facets) expect(fedFacets.has(`${id}/${facet}` as FacetId)).toBe(true)
    }
    for (const facet of fedFacets) {
      const [id, name] = facet.split('/') as [ObjectId, string]
      expect(await store.facetsOf(id)).toContain(name)
    }
  } finally {
    await store.close()
  }
  return { acked: acked.size }
}

describe('crash safety', () => {
  it(
    `keeps every acknowledged write across ${RUNS} kill -9s at random points`,
    async () => {
      let next = 0
      let objects = 0
      const lanes = Array.from({ length: PARALLEL }, async () => {
        while (next < RUNS) objects += (await crashOnce(next++)).acked
      })
      await Promise.all(lanes)
      // The runs wrote something: a test that killed every child before its first write
      // would prove nothing.
      expect(objects).toBeGreaterThan(RUNS)
    },
    Math.max(60_000, RUNS * 4_000),
  )
})
