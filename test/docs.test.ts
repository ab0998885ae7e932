// The documentation is the contract for error codes and routes: every code in the
// catalogue is documented with its status, and the HTTP API table lists exactly the
// routes the API registers. The documentation is README.md and any docs/*.md, read as one.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createApi } from '../daemon/api/index.ts'
import { parseConfig } from '../daemon/config.ts'
import { EventHub } from '../daemon/events.ts'
import { initInstance } from '../daemon/init.ts'
import { startInstance } from '../daemon/instance.ts'
import { ERROR_CODES } from '../src/errors.ts'
import { silentLogger } from '../src/log.ts'
import { tempDir } from './helpers/stores.ts'

const root = resolve(import.meta.dirname, '..')

/** README.md and every docs/*.md, concatenated. */
function documentation(): string {
  const docs = join(root, 'docs')
  const pages = existsSync(docs)
    ? readdirSync(docs)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => join(docs, name))
    : []
  return [join(root, 'README.md'), ...pages].map((file) => readFileSync(file, 'utf8')).join('\n')
}

/**
 * The rows of every table headed `| method and path | … |`, each row's first cell split
 * into its `METHOD /path` entries (` · ` between them). Query strings, optional ones in
 * brackets too, are not part of the path: `POST /v1/blobs[?sha256=HEX]` is POST /v1/blobs.
 */
function apiTable(text: string): { entries: string[]; unreadable: string[] } {
  const table = { entries: [] as string[], unreadable: [] as string[] }
  const lines = text.split('\n')
  lines.forEach((line, index) => {
    if (!/^\|\s*method and path\s*\|/.test(line)) return
    // The header, then the |---| line, then rows until the table ends.
    for (const row of lines.slice(index + 2)) {
      if (!row.startsWith('|')) break
      const firstCell = row.split('|')[1]!
      for (const entry of firstCell.split('·').map((text) => text.trim())) {
        const route = /^`([A-Z]+) (\/[^`?[\s]*)(?:\[?\?[^`]*)?`$/.exec(entry)
        if (route === null) table.unreadable.push(entry)
        else table.entries.push(`${route[1]} ${route[2]}`)
      }
    }
  })
  return table
}

/** Every route the API registers, as `METHOD /path` (fastify's automatic HEADs left out). */
async function registeredRoutes(): Promise<string[]> {
  const dir = tempDir('docs-routes')
  await initInstance(dir, { name: 'Docs' })
  const config = parseConfig({ name: 'Docs', listen: ['/ip4/127.0.0.1/tcp/0'], api: { port: 0 } })
  const instance = await startInstance(dir, config, silentLogger)
  const events = new EventHub(instance)
  const app = createApi(instance, { token: 'docs', port: () => 0, events })
  const routes: string[] = []
  // The plugins load on ready(), so a hook added now sees every route they register.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push(`${method} ${route.url}`)
    }
  })
  try {
    await app.ready()
  } finally {
    await app.close()
    events.close()
    await instance.stop()
  }
  return routes
}

describe('the documentation', () => {
  it('documents every error code with its HTTP status', () => {
    const text = documentation()
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(text).toMatch(new RegExp(`\\| \`${code}\` +\\| ${status} +\\|`))
    }
  })

  it("lists every route of the HTTP API in its table, and only the API's routes", async () => {
    const routes = await registeredRoutes()
    const table = apiTable(documentation())
    expect(routes.length).toBeGreaterThan(15)
    expect(table.unreadable, 'entries of the API table not of the form `METHOD /path`').toEqual([])
    const documented = new Set(table.entries)
    const registered = new Set(routes)
    const undocumented = routes.filter((route) => !documented.has(route))
    expect(undocumented, 'routes missing from the API table').toEqual([])
    const unknown = table.entries.filter((entry) => !registered.has(entry))
    expect(unknown, 'entries of the API table that are no route').toEqual([])
    // Counted as `METHOD /path` entries, not rows: a row may list several routes.
    expect(table.entries.length).toBeGreaterThan(15)
  })
})
