// The whole-daemon crash campaign (issue 18): two real daemons (the CLI, `objectsync
// start`), paired, each beside its SQLite local system, while a writer inserts and updates
// rows in each local.db the whole time and the daemons are killed with SIGKILL at random
// moments and started again. Afterwards both local systems hold exactly the same rows,
// every row and value SQLite acknowledged to a writer is there, and no row is twice.
//
//   npm run test:chaos                 100 cycles (CHAOS_CYCLES), a seed chosen and printed
//   CHAOS_SEED=123 npm run test:chaos  the same schedule again
// `npm test` runs a short campaign (3 cycles).
import { describe, expect, it } from 'vitest'
import { createMeshDaemon, pairMesh, startDaemon, stopDaemon } from './helpers/daemon-mesh.ts'
import { LocalWriter, expectConverged } from './helpers/local-rows.ts'
import { seededRandom } from './helpers/random.ts'

const CYCLES = Number(process.env.CHAOS_CYCLES ?? 3)
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))

describe('the whole-daemon crash campaign', () => {
  it(
    `ends with the same rows on both sides, every acknowledged write in them, none twice (${CYCLES} cycles, seed ${SEED})`,
    async () => {
      // One generator for the schedule and one per writer: the seed replays both.
      const next = seededRandom(SEED)
      process.stdout.write(`chaos campaign: ${CYCLES} cycles, CHAOS_SEED=${SEED}\n`)
      const sides = [
        await createMeshDaemon('north', 'chaos'),
        await createMeshDaemon('south', 'chaos'),
      ] as const
      pairMesh(sides)
      const writers = sides.map(
        (side, index) =>
          new LocalWriter(side, seededRandom(SEED + 1 + index), {
            label: 'chaos',
            everyMs: 15,
            insertShare: 0.4,
          }),
      )
      try {
        await Promise.all(sides.map((side) => startDaemon(side)))
        for (const writer of writers) writer.start()
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          await new Promise((resolve) => setTimeout(resolve, 200 + next() * 1_300))
          const victim = sides[next() < 0.5 ? 0 : 1]
          await stopDaemon(victim, 'SIGKILL')
          await new Promise((resolve) => setTimeout(resolve, next() * 500))
          await startDaemon(victim)
        }
        for (const writer of writers) writer.stop()
        await expectConverged(sides, writers, `seed ${SEED}`, 60_000)
        expect(sides[0].starts + sides[1].starts).toBe(CYCLES + 2)
      } finally {
        for (const writer of writers) writer.stop()
        await Promise.all(sides.map((side) => stopDaemon(side, 'SIGKILL')))
        for (const writer of writers) writer.close()
      }
    },
    120_000 + CYCLES * 10_000,
  )
})
