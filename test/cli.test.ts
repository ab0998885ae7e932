import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodePairKey } from '../src/crypto/index.ts'
import { tempDir } from './helpers/stores.ts'

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/objectsync.js', ...args], { encoding: 'utf8' })
}

/** The store's files and when each was last written: unchanged when it was never opened. */
function storeFiles(dir: string) {
  return readdirSync(join(dir, 'store')).map((file) => [
    file,
    statSync(join(dir, 'store', file)).mtimeMs,
  ])
}

describe('objectsync keygen', () => {
  it('writes a 32-byte pair key, mode 0600, and prints where', () => {
    const dir = tempDir('keygen')
    const result = cli('keygen', 'keys/partner.key', '--dir', dir, '--json')
    expect(result.status).toBe(0)
    const file = join(dir, 'keys/partner.key')
    expect(JSON.parse(result.stdout)).toEqual({ file })
    expect(decodePairKey(readFileSync(file, 'utf8'))).toHaveLength(32)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('refuses to overwrite an existing key file, leaving it as it was', () => {
    const dir = tempDir('keygen')
    const file = join(dir, 'pair.key')
    writeFileSync(file, 'the key the partner already holds\n')
    const result = cli('keygen', 'pair.key', '--dir', dir)
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('refusing to overwrite')
    expect(readFileSync(file, 'utf8')).toBe('the key the partner already holds\n')
  })

  it('exits 2 on bad usage', () => {
    expect(cli('keygen', '--no-such-flag').status).toBe(2)
    // Checked before the daemon is asked (none runs here): a bad lifetime is bad usage.
    const dir = tempDir('invite-usage')
    for (const lifetime of ['2weeks', '0m', '400d']) {
      const invite = cli('invite', '--expires', lifetime, '--dir', dir)
      expect(invite.status).toBe(2)
      expect(invite.stderr).toContain('expected a duration of at most a year')
    }
  })
})

describe('objectsync init --listen', () => {
  it('writes the addresses given (repeatable) into config.json, and refuses bad ones', () => {
    const dir = tempDir('init-listen')
    const made = cli(
      'init',
      '--dir',
      dir,
      '--listen',
      '/ip4/127.0.0.1/tcp/7401',
      '--listen',
      '/ip6/::1/tcp/7401',
      '--json',
    )
    expect(made.status).toBe(0)
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { listen: unknown }
    expect(config.listen).toEqual(['/ip4/127.0.0.1/tcp/7401', '/ip6/::1/tcp/7401'])
    const other = tempDir('init-listen-bad')
    const bad = cli('init', '--dir', other, '--listen', 'localhost:7400')
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('expected a multiaddr, e.g. /ip4/127.0.0.1/tcp/7400')
    const both = cli('init', '--dir', other, '--listen', '/ip4/127.0.0.1/tcp/1', '--port', '7400')
    expect(both.status).toBe(2)
    expect(both.stderr).toContain('--port and --listen')
    expect(() => readFileSync(join(other, 'config.json'))).toThrow()
  })
})

describe('objectsync start with a port another program holds', () => {
  it('says which port and setting in one line, exits 1, and starts nothing', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const taken = (holder.address() as AddressInfo).port
    try {
      for (const [flags, setting] of [
        [['--listen', `/ip4/127.0.0.1/tcp/${taken}`, '--api-port', '0'], 'config.json listen.0'],
        [['--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', String(taken)], 'config.json api.port'],
      ] as const) {
        const dir = tempDir('port-in-use')
        expect(cli('init', '--dir', dir, ...flags).status).toBe(0)
        const storeBefore = storeFiles(dir)
        const started = cli('start', '--dir', dir)
        expect(started.status).toBe(1)
        expect(started.stdout).toBe('') // no "instance started" or any other log line
        expect(started.stderr.trim().split('\n')).toEqual([
          expect.stringContaining(
            `127.0.0.1:${taken} is in use by another program; change ${setting}`,
          ),
        ])
        expect(existsSync(join(dir, 'daemon.json'))).toBe(false)
        expect(storeFiles(dir)).toEqual(storeBefore) // the store was never opened
      }
    } finally {
      holder.close()
    }
  })
})

describe('objectsync start with a bad memory setting in the environment', () => {
  it.each([
    [
      'OBJECTSYNC_HEAP_GROWING_PERCENT',
      'fifty',
      "must be a whole number from 0 (V8's own heap growth) to 1000",
    ],
    [
      'OBJECTSYNC_MALLOC_TRIM_MS',
      'often',
      'must be a whole number of milliseconds from 0 (no trimming) to 3600000',
    ],
  ])('names %s, exits 2, and opens nothing', (variable, value, expected) => {
    const dir = tempDir('memory-setting')
    expect(cli('init', '--dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0').status).toBe(0)
    const before = storeFiles(dir)
    const started = spawnSync(process.execPath, ['bin/objectsync.js', 'start', '--dir', dir], {
      encoding: 'utf8',
      env: { ...process.env, [variable]: value },
      timeout: 15_000, // a daemon that started anyway is killed, and the test fails
    })
    expect(started.status).toBe(2)
    expect(started.stderr.trim()).toBe(`objectsync: ${variable} ${expected}, not "${value}"`)
    expect(existsSync(join(dir, 'daemon.json'))).toBe(false)
    expect(storeFiles(dir)).toEqual(before) // the store was never opened
  })
})

describe('objectsync init', () => {
  it('says how to start the instance as this user runs objectsync', () => {
    const installed = tempDir('bin')
    writeFileSync(join(installed, 'objectsync'), '#!/bin/sh\n', { mode: 0o755 })
    const start = (path: string, npmCommand?: string) => {
      const dir = tempDir('init-advice')
      const made = spawnSync(process.execPath, ['bin/objectsync.js', 'init', '--dir', dir], {
        encoding: 'utf8',
        env: { ...process.env, PATH: path, npm_command: npmCommand ?? '' },
      })
      expect(made.status).toBe(0)
      return made.stdout.trim().split('\n').at(-1)
    }
    const plain = '/usr/bin:/bin'
    expect(start(plain)).toMatch(/^Start it with: npx objectsync start --dir /)
    expect(start(`${installed}:${plain}`)).toMatch(/^Start it with: objectsync start --dir /)
    expect(start(`${installed}:${plain}`, 'exec')).toMatch(/^Start it with: npx objectsync start/)
  })
})
