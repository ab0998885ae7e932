// A small run of `npm run bench`: every system on 1,000 persons (the floor, objectsync
// store to store and rows to rows, automerge-repo, PouchDB), then three daemons editing
// and a cold start. Figures are not judged here (the machines are shared and noisy), only
// that each part runs to the end
// and reports what it measured.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

describe('npm run bench, small', () => {
  it('prints one table with every system and the ratios, and writes its JSON', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/all.ts',
        '--count',
        '1000',
        '--sql-count',
        '200',
        '--edits',
        '10',
        '--mesh-objects',
        '20',
        '--mesh-rounds',
        '2',
        '--timeout-minutes',
        '2',
      ],
      { encoding: 'utf8', timeout: 280_000 },
    )
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const out = run.stdout
    // Each system's row: its name, then its seconds — at 1,000 persons every one finishes.
    for (const system of [
      'floor (seal, TCP, LevelDB)',
      'objectsync',
      'objectsync, SQLite → SQLite',
      'automerge-repo',
      'PouchDB over HTTP',
    ]) {
      const row = out.split('\n').find((line) => line.startsWith(`  ${system} `))
      expect(row, system).toBeDefined()
      const seconds = Number(
        row!
          .slice(2 + 28)
          .trim()
          .split(/\s+/)[0],
      )
      expect(seconds, system).toBeGreaterThan(0)
    }
    expect(out).toMatch(/^ {2}objectsync \/ floor\s+\d+(\.\d+)?×/m)
    expect(out).toMatch(/edit p50 \/ p99, objectsync\s+\d+(\.\d+)? \/ \d+(\.\d+)? ms/)
    expect(out).toMatch(/edit p50 \/ p99, automerge-repo\s+\d+(\.\d+)? \/ \d+(\.\d+)? ms/)
    expect(out).toMatch(/edits replicated across 3 daemons \(120\)\s+\d+ \/s/)
    expect(out).toMatch(/cold start with 1000 persons\s+\d/)
    const file = /^written to (.*)$/m.exec(out)?.[1]
    expect(file).toBeDefined()
    const json = JSON.parse(readFileSync(file!, 'utf8')) as {
      figures: { firstSyncs: { persons: number }[]; mesh: { meshEdits: number } }
    }
    expect(json.figures.firstSyncs.map((entry) => entry.persons)).toEqual([1000])
    expect(json.figures.mesh.meshEdits).toBe(120)
  }, 300_000)
})
