import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodePairKey } from '../src/crypto/index.ts'
import { tempDir } from './helpers/stores.ts'

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/objectsync.js', ...args], { encoding: 'utf8' })
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
