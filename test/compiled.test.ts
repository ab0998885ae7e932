// The compiled JavaScript in dist/ (`npm run build`, run by `npm ci` through `prepare`),
// which bin/objectsync.js runs when it is current: a daemon started from it finds its
// status page and version (read from the package's folder, not next to the module), and
// a command answers without loading the daemon. Skipped, saying so, where nothing was built.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { tempDir } from './helpers/stores.ts'

const MAIN = 'dist/daemon/main.js'

/** The newest change to a TypeScript source (bin/objectsync.js asks the same). */
function newestSource(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return Math.max(newest, newestSource(path))
    return entry.name.endsWith('.ts') ? Math.max(newest, statSync(path).mtimeMs) : newest
  }, 0)
}

const why = !existsSync(MAIN)
  ? `no ${MAIN} (run npm run build)`
  : Math.max(newestSource('src'), newestSource('daemon')) > statSync(MAIN).mtimeMs
    ? `${MAIN} is older than the sources (run npm run build)`
    : undefined
const built = why === undefined
if (!built) console.warn(`test/compiled.test.ts skipped: ${why}`)

function compiled(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' })
}

describe.skipIf(!built)('the compiled daemon and CLI', () => {
  it('start, serve the status page, and answer status', { timeout: 60_000 }, async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string })
      .version
    expect(compiled('--version').stdout.trim()).toBe(version)
    const dir = tempDir('compiled')
    const init = compiled('init', '--dir', dir, '--name', 'Compiled office', '--listen')
    expect(init.status).toBe(2) // --listen needs an address: bad usage, as from the sources
    expect(
      compiled(
        'init',
        '--dir',
        dir,
        '--name',
        'Compiled office',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--api-port',
        '0',
      ).status,
    ).toBe(0)
    const daemon = spawn(process.execPath, [MAIN, 'start', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    onTestFinished(() => void daemon.kill('SIGKILL'))
    let output = ''
    daemon.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    daemon.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await vi.waitFor(() => expect(output).toContain('API listening'), {
      timeout: 30_000,
      interval: 50,
    })
    const started = performance.now()
    const status = compiled('status', '--dir', dir, '--json')
    const took = performance.now() - started
    expect(status.status).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ name: 'Compiled office' })
    console.log(`compiled objectsync status answered in ${Math.round(took)} ms`)
    const { apiPort } = JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8')) as {
      apiPort: number
    }
    const page = await fetch(`http://127.0.0.1:${apiPort}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<title>')
    expect((await fetch(`http://127.0.0.1:${apiPort}/status.js`)).status).toBe(200)
  })
})
