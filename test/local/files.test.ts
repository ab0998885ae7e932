// File rows of the SQLite local system: the bytes in files.content go to the blob store,
// travel as a blob, and are written into the other instance's files table.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStorage, type StorageOp } from '../../src/store/index.ts'
import { localNode } from '../helpers/local-nodes.ts'
import { eventually, pairNodes } from '../helpers/sync-nodes.ts'

type FileRow = {
  id: string
  person_id: string | null
  kind: string
  name: string
  content: Buffer | null
}

describe('files in the SQLite local system', () => {
  it("makes a new file row's object and its link in one write: a failed write leaves neither", async () => {
    // The first write that links a file fails, as a full disk or a crash would end it.
    const storage = new MemoryStorage()
    const write = storage.write.bind(storage)
    let failed = 0
    storage.write = (ops: readonly StorageOp[]) => {
      if (failed === 0 && ops.some((op) => op.key.startsWith('s/local/link/file/'))) {
        failed++
        return Promise.reject(new Error('disk full'))
      }
      return write(ops)
    }
    const a = await localNode('a', { node: { storage } })
    a.sql
      .prepare("INSERT INTO files(id, kind, name, content) VALUES ('f1', 'resume', 'cv.pdf', ?)")
      .run(randomBytes(1000))
    await a.local.settled()
    expect(failed).toBe(1)
    expect((await a.node.store.list('file')).items).toHaveLength(0)
    // The row changes again and is taken in: one object, not a second beside a first.
    a.sql.prepare("UPDATE files SET name = 'cv-2.pdf' WHERE id = 'f1'").run()
    await eventually(async () => (await a.node.store.list('file')).items.length > 0)
    await a.local.settled()
    const files = (await a.node.store.list('file')).items
    expect(files.map((file) => file.fields.name)).toEqual(['cv-2.pdf'])
  })

  it('a file written at A appears byte for byte at B, and a new version comes back', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    const content = randomBytes(2 * 1024 * 1024 + 11)
    a.sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('p1', 'Ola', 'Hansen')")
      .run()
    a.sql
      .prepare(
        "INSERT INTO files(id, person_id, kind, name, media_type, content) VALUES ('f1', 'p1', 'resume', 'cv.pdf', 'application/pdf', ?)",
      )
      .run(content)
    const fileAtB = () => b.sql.prepare('SELECT * FROM files').get() as FileRow | undefined
    await eventually(() => fileAtB()?.content != null, 10_000)
    const row = fileAtB()!
    expect(row.content!.equals(content)).toBe(true)
    expect(row).toMatchObject({ kind: 'resume', name: 'cv.pdf' })
    // The owner is B's own row for the same person.
    const owner = b.sql.prepare('SELECT id FROM persons').get() as { id: string }
    expect(row.person_id).toBe(owner.id)
    const [file] = (await a.node.store.list('file')).items
    expect(file!.fields).toMatchObject({ size: content.length, kind: 'resume' })

    // A new version written at B reaches A's row.
    const second = randomBytes(300 * 1024)
    b.sql.prepare('UPDATE files SET content = ? WHERE id = ?').run(second, row.id)
    const fileAtA = () =>
      a.sql.prepare("SELECT content FROM files WHERE id = 'f1'").get() as FileRow
    await eventually(() => fileAtA().content!.equals(second), 10_000)
    expect((await a.node.store.get(file!.id))!.fields.size).toBe(second.length)
  })

  it('refuses a file over files.maxBytes where it is added, naming the row, and keeps nothing', async () => {
    const a = await localNode('a', { blobs: { maxBytes: 1024 * 1024 } })
    a.sql
      .prepare("INSERT INTO files(id, kind, name, content) VALUES ('big', 'resume', 'big.pdf', ?)")
      .run(randomBytes(1024 * 1024 + 1))
    a.sql
      .prepare(
        "INSERT INTO files(id, kind, name, content) VALUES ('small', 'resume', 'small.pdf', ?)",
      )
      .run(randomBytes(1000))
    await eventually(async () => (await a.node.store.list('file')).items.length === 1, 3000)
    await a.local.settled()
    expect(a.local.badRows()).toEqual([
      expect.objectContaining({
        table: 'files',
        key: 'big',
        column: 'content',
        problem: expect.stringContaining('larger than the limit of 1048576 bytes (files.maxBytes)'),
      }),
    ])
    expect((await a.node.store.list('file')).items[0]!.fields.name).toBe('small.pdf')
    // Only the small file's content is held: nothing of the big one was written.
    const held: string[] = []
    for await (const [key] of a.node.storage.range({ gte: 'b/b/', lt: 'b/b/\uffff' }))
      held.push(key)
    expect(held).toHaveLength(1)
    const chunks: string[] = []
    for await (const [key] of a.node.storage.range({ gte: 'b/c/', lt: 'b/c/\uffff' })) {
      chunks.push(key)
    }
    expect(chunks).toHaveLength(1)
  })
})
