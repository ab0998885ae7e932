// `objectsync demo`: three instances pair, two edit one person while disconnected, and
// every SQLite file ends up with both edits — in process and through the real executable;
// and the demo leaves nothing behind, also when it fails midway.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, expect, it, onTestFinished } from 'vitest'
import { runDemo } from '../daemon/demo.ts'

// The demo waits at most 20 s for each sync; three instances start and stop in a few.
const DEMO_TIMEOUT_MS = 60_000

/** What each SQLite file must hold once south's phone and east's email have merged. */
const MERGED = {
  first_name: 'Ada',
  last_name: 'Lovelace',
  email: 'ada.lovelace@example.org', // east's edit
  phone: '+44 20 7946 0999', // south's edit
  title: 'Analyst',
}

const STEPS = [
  /^1\. Making three instances \(north, south, east\) in .*objectsync-demo-/,
  /^2\. Starting them on loopback$/,
  /^3\. Pairing each with the other two/,
  /^4\. North adds Ada Lovelace with SQL/,
  /^5\. Stopping south and east/,
  /^6\. While disconnected, each changes a different field/,
  /^7\. Starting south and east again/,
  /^8\. The merged row, read from each instance's SQLite file$/,
]

/** The temporary folder, as the first step names it. */
function rootOf(lines: readonly string[]): string {
  return / in (\S+)$/.exec(lines[0] ?? '')![1]!
}

describe('objectsync demo', () => {
  it(
    'merges the two offline edits field by field into every SQLite file, then cleans up',
    async () => {
      const lines: string[] = []
      const result = await runDemo({ say: (line) => lines.push(line) })

      const steps = lines.filter((line) => /^\d+\. /.test(line))
      expect(steps).toHaveLength(STEPS.length)
      STEPS.forEach((step, index) => expect(steps[index]).toMatch(step))
      expect(lines).toContain('   south sets phone to +44 20 7946 0999')
      expect(lines).toContain('   east sets email to ada.lovelace@example.org')
      expect(Object.keys(result.rows)).toEqual(['north', 'south', 'east'])
      for (const row of Object.values(result.rows)) expect(row).toMatchObject(MERGED)
      // Local ids are each local system's own; every other column is synced.
      const synced = Object.values(result.rows).map(({ id: _id, ...fields }) => fields)
      expect(synced[1]).toEqual(synced[0])
      expect(synced[2]).toEqual(synced[0])

      expect(rootOf(lines)).toBe(result.root)
      expect(existsSync(result.root)).toBe(false)
      expect(lines.at(-1)).toBe(`Stopped the three instances and removed ${result.root}.`)
    },
    DEMO_TIMEOUT_MS,
  )

  it(
    'stops the instances and removes its folder when a step fails',
    async () => {
      const lines: string[] = []
      const say = (line: string) => {
        if (line.startsWith('5. ')) throw new Error('the narrator tripped')
        lines.push(line)
      }
      await expect(runDemo({ say })).rejects.toThrow(
        /^the demo failed at step 5 \("Stopping south and east.*"\): the narrator tripped$/,
      )
      expect(existsSync(rootOf(lines))).toBe(false)
    },
    DEMO_TIMEOUT_MS,
  )

  it(
    'stops when its signal is aborted (Ctrl-C in the CLI), and cleans up',
    async () => {
      const lines: string[] = []
      const interrupted = new AbortController()
      const say = (line: string) => {
        lines.push(line)
        if (line.startsWith('4. ')) interrupted.abort(new Error('interrupted'))
      }
      await expect(runDemo({ say, signal: interrupted.signal })).rejects.toThrow(
        /^the demo was interrupted at step 4$/,
      )
      expect(existsSync(rootOf(lines))).toBe(false)
    },
    DEMO_TIMEOUT_MS,
  )

  it(
    'runs through the real executable, ending with the merged rows, exit code 0',
    async () => {
      const child = spawn(process.execPath, ['bin/objectsync.js', 'demo'])
      onTestFinished(() => {
        child.kill('SIGKILL')
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))

      expect(stderr).toBe('')
      expect(code).toBe(0)
      const lines = stdout.trimEnd().split('\n')
      const root = rootOf(lines)
      const merged = /Ada Lovelace, email ada\.lovelace@example\.org, phone \+44 20 7946 0999/
      expect(lines.slice(-5)).toEqual([
        "8. The merged row, read from each instance's SQLite file",
        expect.stringMatching(new RegExp(`^   north: +${merged.source}`)),
        expect.stringMatching(new RegExp(`^   south: +${merged.source}`)),
        expect.stringMatching(new RegExp(`^   east: +${merged.source}`)),
        `Stopped the three instances and removed ${root}.`,
      ])
      expect(existsSync(root)).toBe(false)
    },
    DEMO_TIMEOUT_MS,
  )
})
