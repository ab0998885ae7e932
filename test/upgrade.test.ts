// Data folders written by earlier versions (test/fixtures/data-folders/<version>, made by
// make.ts there and never regenerated) open with this one and sync: the store, local.db
// and its change capture, peers.json, the pair and identity keys, config.json and the
// API token, as users of that version have them. South stopped before North's last edits:
// it must receive them, and an edit made now in South's local.db must reach North's.
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../daemon/config.ts'
import { runDaemon, type Daemon } from '../daemon/run.ts'
import { silentLogger } from '../src/log.ts'
import { callApi } from './helpers/daemons.ts'
import { freePort } from './helpers/daemon-mesh.ts'
import { tempDir } from './helpers/stores.ts'
import { eventually } from './helpers/sync-nodes.ts'
import { describeStore, type StoreDescription } from './fixtures/data-folders/describe.ts'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'data-folders')

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
}

/**
 * The persons of a local.db as a person sees them: no ids, which differ per instance. A
 * delete from a peer archives the row (the default action); one deleted here is gone.
 */
function persons(dir: string): string[] {
  const db = new Database(join(dir, 'local.db'), { readonly: true })
  try {
    const rows = db
      .prepare('SELECT first_name, last_name, email, phone, title FROM persons WHERE archived = 0')
      .all() as Record<string, unknown>[]
    return rows.map((row) => JSON.stringify(row)).sort()
  } finally {
    db.close()
  }
}

const running: Daemon[] = []
afterEach(async () => {
  for (const daemon of running.splice(0)) await daemon.stop()
})

describe.each(readdirSync(FIXTURES).filter((name) => /^\d+\.\d+\.\d+$/.test(name)))(
  'a pair of data folders written by objectsync %s',
  (version) => {
    it('opens with this version, catches up and syncs both ways', async () => {
      const dirs = ['north', 'south'].map((side) => {
        const dir = join(tempDir(`upgrade-${side}`), side)
        cpSync(join(FIXTURES, version, side), dir, { recursive: true })
        return dir
      }) as [string, string]
      // A user whose addresses changed edits config.json and peers.json: the files stay
      // as that version wrote them otherwise.
      const ports = [await freePort(), await freePort()]
      dirs.forEach((dir, index) => {
        const config = readJson(join(dir, 'config.json'))
        config.listen = [`/ip4/127.0.0.1/tcp/${ports[index]}`]
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2))
        const peers = readJson(join(dir, 'peers.json')) as { peers: { addresses: string[] }[] }
        peers.peers[0]!.addresses = [`/ip4/127.0.0.1/tcp/${ports[1 - index]}`]
        writeFileSync(join(dir, 'peers.json'), JSON.stringify(peers, null, 2))
      })
      const [northDir, southDir] = dirs
      // Each store reads as that version left it: the same objects by id, the same feed.
      const expected = JSON.parse(
        readFileSync(join(FIXTURES, version, 'expected.json'), 'utf8'),
      ) as Record<'north' | 'south', StoreDescription>
      expect(await describeStore(northDir)).toEqual(expected.north)
      expect(await describeStore(southDir)).toEqual(expected.south)
      const north = {
        daemon: await runDaemon(northDir, await loadConfig(northDir), silentLogger),
        token: readFileSync(join(northDir, 'api-token'), 'utf8').trim(),
      }
      running.push(north.daemon)

      // North's store reads as it was left: Émilie deleted, Katherine added.
      const { json } = await callApi<{ items: { fields: Record<string, unknown> }[] }>(
        north,
        'GET',
        '/v1/objects?type=person&limit=100',
      )
      expect(json.items.map((item) => item.fields.firstName).sort()).toEqual([
        'Ada',
        'Alan',
        'Grace',
        'Katherine',
      ])
      const files = await callApi<{ items: { fields: { sha256: string } }[] }>(
        north,
        'GET',
        '/v1/objects?type=file&limit=10',
      )
      const blob = await north.daemon.api.inject({
        method: 'GET',
        url: `/v1/blobs/${files.json.items[0]!.fields.sha256}`,
        headers: {
          host: `127.0.0.1:${north.daemon.apiPort}`,
          authorization: `Bearer ${north.token}`,
        },
      })
      expect(blob.body).toBe('Grace Hopper: COBOL, compilers, nanoseconds.\n')

      // South, behind since it stopped, receives North's last edits into its rows.
      const southBefore = persons(southDir)
      expect(southBefore.some((row) => row.includes('Émilie'))).toBe(true)
      running.push(await runDaemon(southDir, await loadConfig(southDir), silentLogger))
      await eventually(
        () => JSON.stringify(persons(southDir)) === JSON.stringify(persons(northDir)),
        30_000,
      ).catch(() => undefined)
      expect(persons(southDir)).toEqual(persons(northDir))
      expect(persons(southDir).some((row) => row.includes('Rear Admiral'))).toBe(true)
      // South received North's objects, not new ones made from its rows.
      const southNow = await callApi<{ items: { id: string; deleted?: boolean }[] }>(
        { daemon: running[1]!, token: readFileSync(join(southDir, 'api-token'), 'utf8').trim() },
        'GET',
        '/v1/objects?type=person&limit=100',
      )
      expect(southNow.json.items.map((item) => item.id).sort()).toEqual(
        Object.keys(expected.north.persons).sort(),
      )

      // An edit made now in South's local.db, caught by the triggers that version made.
      const db = new Database(join(southDir, 'local.db'))
      db.prepare(
        "UPDATE persons SET phone = '+47 2000 0000' WHERE email = 'alan@example.org'",
      ).run()
      db.close()
      await eventually(() => persons(northDir).some((row) => row.includes('+47 2000 0000')), 30_000)
    }, 90_000)
  },
)
