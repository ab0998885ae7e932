// The dependency rules of DESIGN.md's layout, checked on the source: each folder of src/
// imports only the layers below it, only through their index, and nothing in src/
// imports the daemon. A new import that breaks a rule fails here with the file and line.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '..')
const src = join(root, 'src')

/** Which layers each layer may not import (anything not listed is allowed). */
const FORBIDDEN: Record<string, string[]> = {
  model: ['crypto', 'store', 'net', 'sync', 'local'],
  crypto: ['store', 'net', 'sync', 'local'],
  store: ['net', 'sync', 'local'],
  net: ['store', 'sync', 'local'],
  sync: ['local'],
  local: ['net', 'sync'],
}

interface Import {
  file: string
  line: number
  specifier: string
  target: string
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

const IMPORT =
  /(?:^|\s)(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8')
  const found: Import[] = []
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2]!
    if (!specifier.startsWith('.')) continue
    const line = text.slice(0, match.index).split('\n').length
    found.push({ file, line, specifier, target: resolve(dirname(file), specifier) })
  }
  return found
}

/** The top folder of src/ a path is in ('' for files directly in src/), or 'outside'. */
function layerOf(path: string): string {
  const rel = relative(src, path)
  if (rel.startsWith('..')) return 'outside'
  const parts = rel.split(sep)
  return parts.length === 1 ? '' : parts[0]!
}

const isCliCommand = (file: string) =>
  relative(join(root, 'daemon', 'cli'), file).split(sep).length === 1 &&
  !relative(join(root, 'daemon', 'cli'), file).startsWith('..')

const where = (i: Import) => `${relative(root, i.file)}:${i.line} imports ${i.specifier}`

const allImports = sourceFiles(src).flatMap(importsOf)
const daemonImports = sourceFiles(join(root, 'daemon')).flatMap(importsOf)

describe('the import rules of the layout', () => {
  it('finds the imports it checks', () => {
    // Guards the checker itself: a broken pattern would find nothing and pass.
    expect(allImports.length).toBeGreaterThan(100)
    expect(daemonImports.length).toBeGreaterThan(20)
    expect(
      allImports.some((i) => layerOf(i.file) === 'sync' && layerOf(i.target) === 'store'),
    ).toBe(true)
  })

  it('nothing under src/ imports daemon/ or anything outside src/', () => {
    expect(allImports.filter((i) => layerOf(i.target) === 'outside').map(where)).toEqual([])
  })

  it('each layer imports only the layers below it', () => {
    const broken = allImports.filter((i) =>
      (FORBIDDEN[layerOf(i.file)] ?? []).includes(layerOf(i.target)),
    )
    expect(broken.map(where)).toEqual([])
  })

  it('code outside a folder of src/ imports only its index', () => {
    const broken = allImports.filter((i) => {
      const from = layerOf(i.file)
      const to = layerOf(i.target)
      return to !== '' && to !== from && relative(join(src, to), i.target) !== 'index.ts'
    })
    expect(broken.map(where)).toEqual([])
  })

  it('the daemon imports each folder of src/ only through its index', () => {
    const broken = daemonImports.filter((i) => {
      const to = layerOf(i.target)
      if (to === '' || to === 'outside' || relative(join(src, to), i.target) === 'index.ts') {
        return false
      }
      // The CLI's commands may take a leaf of src/ (a file importing nothing) directly, so
      // that a command answers without loading the folder (src/model's index loads zod).
      return !(isCliCommand(i.file) && importsOf(i.target).length === 0)
    })
    expect(broken.map(where)).toEqual([])
  })

  it('lets the CLI take only leaves of src/ directly', () => {
    const cli = join(root, 'daemon', 'cli', 'options.ts')
    const leaf = join(src, 'model', 'duration.ts')
    const notLeaf = join(src, 'model', 'validate.ts')
    expect(isCliCommand(cli) && importsOf(leaf).length === 0).toBe(true)
    expect(importsOf(notLeaf).length).toBeGreaterThan(0)
    expect(isCliCommand(join(root, 'daemon', 'api', 'schemas.ts'))).toBe(false)
  })

  it('the checker catches an import that breaks a rule', () => {
    const fake: Import = {
      file: join(src, 'store', 'x.ts'),
      line: 1,
      specifier: '../sync/index.ts',
      target: join(src, 'sync', 'index.ts'),
    }
    expect((FORBIDDEN[layerOf(fake.file)] ?? []).includes(layerOf(fake.target))).toBe(true)
  })

  it("the local sync's dry run is write-free by its imports", () => {
    // plan.ts must not reach the row writer or the projector, directly or through another
    // module of the folder: then nothing it can call writes to the local system.
    const folder = join(src, 'local', 'local-sync')
    const plan = join(folder, 'plan.ts')
    const reached = new Set<string>([plan])
    const queue = [plan]
    for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
      for (const { target } of importsOf(file)) {
        if (dirname(target) !== folder || reached.has(target)) continue
        reached.add(target)
        queue.push(target)
      }
    }
    const names = [...reached].map((file) => relative(folder, file))
    // Guards the walk itself: plan's own imports (decide, the snapshot) are found.
    expect(names).toEqual(expect.arrayContaining(['projection.ts', 'row-snapshot.ts']))
    expect(names).not.toContain('row-writer.ts')
    expect(names).not.toContain('projector.ts')
  })
})
