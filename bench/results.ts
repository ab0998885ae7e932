// Where every benchmark leaves its figures: JSON under bench/results/ (git-ignored), with
// the machine they were measured on.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'

export const machine = { cores: cpus().length, node: process.version }

export function writeResults(name: string, figures: unknown): void {
  mkdirSync('bench/results', { recursive: true })
  const file = join(
    'bench/results',
    `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  )
  writeFileSync(file, JSON.stringify({ machine, figures }, null, 2))
  process.stdout.write(`written to ${file}\n`)
}
