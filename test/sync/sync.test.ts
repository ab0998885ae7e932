import { decode } from 'cborg'
import { describe, expect, it } from 'vitest'
import type { ObjectId } from '../../src/model/index.ts'
import {
  createPeople,
  eventually,
  pairNodes,
  sameObjects,
  syncNode,
  type SyncNode,
} from '../helpers/sync-nodes.ts'

/** Two paired nodes, A connected to B, sharing one person that B has received. */
async function syncedPair(): Promise<{ a: SyncNode; b: SyncNode; id: ObjectId }> {
  const a = await syncNode('a')
  const b = await syncNode('b')
  await pairNodes(a, b)
  const id = (await createPeople(a.store, 1, 'p', { custom: true }))[0]!
  a.engine.connect(b.id)
  await eventually(async () => (await b.store.get(id)) !== undefined)
  return { a, b, id: id }
}

async function stopAll(...nodes: SyncNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop()))
}

describe('the sync engine', () => {
  it('first sync: each side gets every facet it lacks, with progress', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const fromA = await createPeople(a.store, 300, 'a', { custom: true })
    const fromB = await createPeople(b.store, 50, 'b', { custom: true })
    const progress: { done: number; total: number }[] = []
    b.engine.on('progress', (_, p) => progress.push({ done: p.done, total: p.total }))
    a.engine.connect(b.id)
    await eventually(async () => await sameObjects([a.store, b.store], [...fromA, ...fromB]))
    expect(progress.length).toBeGreaterThan(0)
    await eventually(() => b.engine.state(a.id).progress?.caughtUp === true)
    expect(b.engine.state(a.id)).toMatchObject({ connected: true, pendingIn: 0 })
    // Nothing that came from the other side was sent back to it.
    const session = a.engine.session(b.id)!
    expect(session.stats.facetsSent).toBe(600)
    // Live edits after the catch-up leave its progress as it ended: never done > total.
    const ended = b.engine.state(a.id).progress!
    for (let i = 0; i < 3; i++) await a.store.update(fromA[i]!, { fields: { title: `t${i}` } })
    await eventually(async () => (await b.store.get(fromA[2]!))?.fields.title === 't2')
    expect(b.engine.state(a.id).progress).toEqual(ended)
    for (const each of [...progress, ended]) expect(each.done).toBeLessThanOrEqual(each.total)
    await stopAll(a, b)
  })

  it('an offline peer shows what it has not received, and its last sync, also after a restart', async () => {
    const { a, b, id } = await syncedPair()
    await eventually(() => a.engine.state(b.id).pendingOut === 0)
    await b.stop()
    await eventually(() => !a.engine.state(b.id).connected)
    const lastSeq = a.store.lastSeq
    await a.store.update(id, { fields: { title: 'while away' } })
    const away = a.engine.state(b.id)
    expect(away.lastSyncAt).toBeDefined()
    // One waiting change, not the whole feed (lastSeq was ${lastSeq} before it).
    expect(away.pendingOut).toBe(a.store.lastSeq - lastSeq)
    expect(away.pendingOut).toBeLessThan(lastSeq)
    const waiting = away.pendingOut
    // Restarted, with the peer still away: not "never synced, out <whole feed>".
    await a.stop()
    const again = await syncNode('a', a)
    again.engine.connect(b.id)
    await eventually(() => again.engine.state(b.id).lastSyncAt !== undefined)
    expect(again.engine.state(b.id)).toMatchObject({ connected: false, pendingOut: waiting })
    await again.stop()
  })

  it('live: a local edit reaches the connected peer at once, and bursts are coalesced', async () => {
    const { a, b, id } = await syncedPair()
    const latencies: number[] = []
    for (let i = 0; i < 20; i++) {
      const started = performance.now()
      await a.store.update(id, { fields: { title: `t${i}` } })
      await eventually(async () => (await b.store.get(id))?.fields.title === `t${i}`)
      latencies.push(performance.now() - started)
    }
    latencies.sort((x, y) => x - y)
    expect(latencies[10]!).toBeLessThan(500)
    const before = a.engine.session(b.id)!.stats.batchesSent
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => a.store.update(id, { custom: { [`k${i}`]: i } })),
    )
    await eventually(async () => Object.keys((await b.store.get(id))!.custom).length === 51)
    expect(a.engine.session(b.id)!.stats.batchesSent - before).toBeLessThan(50)
    await stopAll(a, b)
  })

  it('offline edits merge on reconnect, field by field, and only what is new is sent', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const ids = await createPeople(a.store, 100, 'p', { custom: true })
    a.engine.connect(b.id)
    await eventually(() => sameObjects([a.store, b.store], ids))
    a.engine.disconnect(b.id)
    b.engine.disconnect(a.id)
    await eventually(
      () => a.engine.session(b.id) === undefined && b.engine.session(a.id) === undefined,
    )
    await a.store.update(ids[0]!, { fields: { title: 'from a' } })
    await b.store.update(ids[0]!, { fields: { phone: '+47 from b' } })
    a.engine.connect(b.id)
    await eventually(async () => {
      const [x, y] = await Promise.all([a.store.get(ids[0]!), b.store.get(ids[0]!)])
      return x?.fields.phone === '+47 from b' && y?.fields.title === 'from a'
    })
    expect(a.engine.session(b.id)!.stats.facetsSent).toBeLessThanOrEqual(2)
    await stopAll(a, b)
  })

  it('live edits from the peer are not sent back to it', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const ids = await createPeople(a.store, 30, 'p')
    a.engine.connect(b.id)
    await eventually(() => sameObjects([a.store, b.store], ids))
    await eventually(() => b.engine.state(a.id).pendingOut === 0)
    const sentBefore = b.engine.session(a.id)!.stats.facetsSent
    // Edits of records in one place: each continues the line B holds (the fast path).
    for (const [i, id] of ids.entries()) {
      await a.store.update(id, { fields: { title: `edited ${i}` } })
    }
    await eventually(async () => (await b.store.get(ids.at(-1)!))?.fields.title === 'edited 29')
    await eventually(() => b.engine.state(a.id).pendingOut === 0)
    expect(b.engine.session(a.id)!.stats.facetsSent).toBe(sentBefore)
    // B's own edit still goes to A.
    await b.store.update(ids[0]!, { fields: { phone: '+47 from b' } })
    await eventually(async () => (await a.store.get(ids[0]!))?.fields.phone === '+47 from b')
    expect(b.engine.session(a.id)!.stats.facetsSent).toBe(sentBefore + 1)
    await stopAll(a, b)
  })

  it('resumes after a restart from the saved cursor instead of resending everything', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const ids = await createPeople(a.store, 200, 'p', { custom: true })
    a.engine.connect(b.id)
    await eventually(() => sameObjects([a.store, b.store], ids))
    await eventually(() => b.engine.state(a.id).progress?.caughtUp === true)
    // a's cursor of b's feed has moved past what b received from a (told, not sent back).
    const cursorAtA = async () =>
      Number(new TextDecoder().decode(await a.store.getSyncState(`received/${b.id}`)))
    await eventually(async () => (await cursorAtA()) === b.store.lastSeq)
    const saved = { identity: b.identity, storage: b.storage, registry: b.registry }
    await b.stop()
    await a.store.update(ids[5]!, { fields: { title: 'while b was away' } })
    const b2 = await syncNode('b', saved)
    b2.engine.connect(a.id)
    await eventually(async () => (await b2.store.get(ids[5]!))?.fields.title === 'while b was away')
    const session = b2.engine.session(a.id) ?? a.engine.session(b2.id)
    expect(session).toBeDefined()
    // a sent only the changed facet to b2, not the 400 of the first sync.
    await eventually(() => (a.engine.session(b2.id)?.stats.facetsSent ?? 0) >= 1)
    expect(a.engine.session(b2.id)!.stats.facetsSent).toBeLessThan(5)
    // Nor did b2 send a back the 400 it had from a (a's cursor of b's feed had moved past
    // them), at most the edit: applied before b2's sender read where its feed ends, it is
    // in the range sent.
    await eventually(() => b2.engine.state(a.id).pendingOut === 0)
    expect(b2.engine.session(a.id)!.stats.facetsSent).toBeLessThanOrEqual(1)
    await stopAll(a, b2)
  })

  it('an interrupted first sync resumes where it stopped, and misses nothing changed meanwhile', async () => {
    // Small batches: the first sync of 600 facets takes dozens of them.
    const a = await syncNode('a', undefined, { batchBytes: 8 * 1024 })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const ids = await createPeople(a.store, 600, 'p', { custom: true })
    // Cut the first sync off once 200 facets are in (the event comes after they are saved).
    let cut = false
    b.engine.on('progress', (_, progress) => {
      if (progress.done < 200 || cut) return
      cut = true
      b.engine.disconnect(a.id)
    })
    b.engine.connect(a.id)
    await eventually(() => cut && a.engine.session(b.id) === undefined)
    const saved = { identity: b.identity, storage: b.storage, registry: b.registry }
    await b.stop()
    // Meanwhile, a changes facets on both sides of where the scan stopped.
    const sorted = [...ids].sort()
    await a.store.update(sorted[0]!, { fields: { title: 'early, already sent' } })
    await a.store.update(sorted[599]!, { fields: { title: 'late, not sent yet' } })
    const b2 = await syncNode('b', saved)
    const record = await b2.store.getSyncState(`first-sync/${a.id}`)
    expect(record).toBeDefined()
    const doneBefore = (JSON.parse(new TextDecoder().decode(record)) as { done: number }).done
    expect(doneBefore).toBeGreaterThanOrEqual(200)
    b2.engine.connect(a.id)
    await eventually(async () => {
      const [early, late] = await Promise.all([
        b2.store.get(sorted[0]!),
        b2.store.get(sorted[599]!),
      ])
      return (
        early?.fields.title === 'early, already sent' && late?.fields.title === 'late, not sent yet'
      )
    })
    await eventually(() => sameObjects([a.store, b2.store], ids))
    await eventually(() => b2.engine.state(a.id).progress?.caughtUp === true)
    // a sent the rest of the scan and the two changed facets, not all 1,200 again (each
    // person has a core and a custom facet).
    const resent = a.engine.session(b2.id)!.stats.facetsSent
    expect(resent).toBeLessThanOrEqual(1200 - doneBefore + 2)
    expect(b2.engine.state(a.id).progress?.done).toBeGreaterThanOrEqual(1200)
    // Once complete, the cursor takes over and the resume record is gone.
    expect(await b2.store.getSyncState(`first-sync/${a.id}`)).toBeUndefined()
    expect(Number(new TextDecoder().decode(await b2.store.getSyncState(`received/${a.id}`)))).toBe(
      a.store.lastSeq,
    )
    await stopAll(a, b2)
  })

  it('a resume token made for another scope starts the first sync over', async () => {
    const a = await syncNode('a', undefined, { batchBytes: 8 * 1024 })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const ids = await createPeople(a.store, 100, 'p', { custom: true })
    const token = JSON.stringify({ seq: a.store.lastSeq, source: 1, after: undefined, scope: '[]' })
    await b.store.putSyncState(
      `first-sync/${a.id}`,
      new TextEncoder().encode(JSON.stringify({ token, done: 50 })),
    )
    b.engine.connect(a.id)
    await eventually(() => sameObjects([a.store, b.store], ids))
    // All 200 facets (a core and a custom one per person), as if no token had been sent.
    expect(a.engine.session(b.id)!.stats.facetsSent).toBe(200)
    await stopAll(a, b)
  })

  it('regression: a session closed at one end ends at the other, and the dialer comes back', async () => {
    const { a, b, id } = await syncedPair()
    const first = a.engine.session(b.id)!
    first.close()
    await eventually(
      () =>
        b.engine.session(a.id) !== undefined &&
        a.engine.session(b.id) !== first &&
        a.engine.session(b.id) !== undefined,
    )
    await a.store.update(id, { fields: { title: 'after the drop' } })
    await eventually(async () => (await b.store.get(id))?.fields.title === 'after the drop')
    await stopAll(a, b)
  })

  it('both sides dialling at once still sync both ways, on a stable session', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const id = (await createPeople(a.store, 1, 'p', { custom: true }))[0]!
    a.engine.connect(b.id)
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(id)) !== undefined)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const [sessionA, sessionB] = [a.engine.session(b.id), b.engine.session(a.id)]
    expect(sessionA).toBeDefined()
    expect(sessionB).toBeDefined()
    await b.store.update(id, { fields: { title: 'from b' } })
    await eventually(async () => (await a.store.get(id))?.fields.title === 'from b')
    // Stable: neither side replaced its session meanwhile.
    expect(a.engine.session(b.id)).toBe(sessionA)
    expect(b.engine.session(a.id)).toBe(sessionB)
    await stopAll(a, b)
  })

  it('relays through the middle of a line: A–B–C, A and C not paired', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    const c = await syncNode('c')
    await pairNodes(a, b)
    await pairNodes(b, c)
    b.engine.connect(a.id)
    b.engine.connect(c.id)
    const id = (await createPeople(a.store, 1, 'p', { custom: true }))[0]!
    await eventually(async () => (await c.store.get(id)) !== undefined)
    await c.store.update(id, { fields: { title: 'from c' } })
    await eventually(async () => (await a.store.get(id))?.fields.title === 'from c')
    await stopAll(a, b, c)
  })

  it('a triangle A–B–C–A converges and then falls quiet: no loops, no storms', async () => {
    const nodes = [await syncNode('a'), await syncNode('b'), await syncNode('c')]
    const [a, b, c] = nodes as [SyncNode, SyncNode, SyncNode]
    await pairNodes(a, b)
    await pairNodes(b, c)
    await pairNodes(c, a)
    a.engine.connect(b.id)
    b.engine.connect(c.id)
    c.engine.connect(a.id)
    const ids = [
      ...(await createPeople(a.store, 20, 'a', { custom: true })),
      ...(await createPeople(c.store, 20, 'c', { custom: true })),
    ]
    await b.store.update(ids[0]!, { fields: { title: 'b' } }).catch(() => undefined)
    await eventually(() => sameObjects([a.store, b.store, c.store], ids))
    const seqs = () => nodes.map((node) => node.store.lastSeq)
    const settled = seqs()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(seqs()).toEqual(settled)
    await stopAll(...nodes)
  })

  it('five instances, in a line and then a ring, converge on concurrent edits', async () => {
    const nodes: SyncNode[] = []
    for (const name of ['a', 'b', 'c', 'd', 'e']) nodes.push(await syncNode(name))
    for (let i = 0; i + 1 < nodes.length; i++) await pairNodes(nodes[i]!, nodes[i + 1]!)
    for (let i = 0; i + 1 < nodes.length; i++) nodes[i]!.engine.connect(nodes[i + 1]!.id)
    const ids = await createPeople(nodes[0]!.store, 10, 'p', { custom: true })
    await eventually(async () => await sameObjects([nodes[0]!.store, nodes[4]!.store], ids))
    // Everyone edits the same objects at once; the ends of the line are then joined.
    await Promise.all(
      nodes.map((node, i) =>
        node.store.update(ids[i]!, { fields: { title: `from ${node.name}` } }),
      ),
    )
    await Promise.all(
      nodes.map((node) => node.store.update(ids[9]!, { fields: { phone: node.name } })),
    )
    await pairNodes(nodes[4]!, nodes[0]!)
    nodes[4]!.engine.connect(nodes[0]!.id)
    await eventually(async () => {
      for (const node of nodes.slice(1))
        if (!(await sameObjects([nodes[0]!.store, node.store], ids))) return false
      return true
    }, 10_000)
    // Whichever writes were concurrent, all five show the same one of them.
    const last = (await nodes[2]!.store.get(ids[9]!))!
    expect(['a', 'b', 'c', 'd', 'e']).toContain(last.fields.phone)
    for (let i = 0; i < 5; i++)
      expect((await nodes[i]!.store.get(ids[i]!))!.fields.title).toBe(`from ${nodes[i]!.name}`)
    await stopAll(...nodes)
  })

  it('a quiet session ticks, and one whose peer falls silent is closed', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b', undefined, { heartbeatMs: 20 })
    await pairNodes(a, b)
    const seen: boolean[] = []
    b.engine.on('peer', (state) => seen.push(state.connected))
    // A raw channel that reads what b sends and says nothing: b's session must hear ticks
    // go out, and then give up on the silent peer.
    const channel = await a.links.connect(b.id)
    const heard: unknown[] = []
    const reading = (async () => {
      for await (const payload of channel) heard.push(decode(payload))
    })().catch(() => {})
    await eventually(() => seen.join() === 'true,false', 2000)
    expect(heard).toContainEqual({ t: 'tick' })
    await reading
    await stopAll(a, b)
  })

  it('a peer that breaks the protocol has its session closed and nothing applied', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const seen: boolean[] = []
    b.engine.on('peer', (state) => seen.push(state.connected))
    await a.store.create({ type: 'person', fields: { firstName: 'x', lastName: 'y' } })
    const channel = await a.links.connect(b.id)
    await channel.send(new Uint8Array([0xff, 0x00, 0x13]))
    // The session opened, then closed on the bad message.
    await eventually(() => seen.join() === 'true,false')
    expect(b.store.lastSeq).toBe(0)
    await stopAll(a, b)
  })
})
