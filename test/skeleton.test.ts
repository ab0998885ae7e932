import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../src/log.ts'
import { ERROR_CODES, ObjectSyncError, isObjectSyncError } from '../src/errors.ts'

describe('the skeleton', () => {
  it('has Promise.withResolvers on Node 20, from the polyfill loaded in setup', async () => {
    const withResolvers = (
      Promise as unknown as {
        withResolvers: <T>() => { promise: Promise<T>; resolve: (value: T) => void }
      }
    ).withResolvers
    const { promise, resolve } = withResolvers.call(Promise) as {
      promise: Promise<number>
      resolve: (value: number) => void
    }
    resolve(42)
    expect(await promise).toBe(42)
  })

  it('the polyfill defines withResolvers where it is missing', () => {
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "delete Promise.withResolvers; await import('./src/polyfill.ts'); const r = Promise.withResolvers(); r.resolve(7); console.log(await r.promise)",
        '--input-type=module',
      ],
      { encoding: 'utf8' },
    )
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('7')
  })

  it('the objectsync executable prints its version and refuses unknown commands with exit 2', () => {
    const version = spawnSync(process.execPath, ['bin/objectsync.js', '--version'], {
      encoding: 'utf8',
    })
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    expect(version.status).toBe(0)
    expect(version.stdout.trim()).toBe(pkg.version)
    const unknown = spawnSync(process.execPath, ['bin/objectsync.js', 'frobnicate'], {
      encoding: 'utf8',
    })
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'frobnicate'")
  })

  it('logs JSON lines with a namespace per part', () => {
    const lines: Record<string, unknown>[] = []
    const logger = createLogger({
      destination: {
        write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
      },
    })
    logger.child('store').child('cache').warn({ id: 'x' }, 'evicted')
    logger.debug('below the level')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({
      ns: 'objectsync:store:cache',
      id: 'x',
      msg: 'evicted',
      level: 40,
    })
  })

  it('errors carry a stable code, the HTTP status of the catalogue, and a cause', () => {
    const cause = new Error('disk on fire')
    const error = new ObjectSyncError('STORE_IO', 'could not write', { cause })
    expect(error.code).toBe('STORE_IO')
    expect(error.status).toBe(ERROR_CODES.STORE_IO.status)
    expect(error.cause).toBe(cause)
    expect(isObjectSyncError(error, 'STORE_IO')).toBe(true)
    expect(isObjectSyncError(error, 'STORE_CLOSED')).toBe(false)
    expect(isObjectSyncError(new Error('plain'))).toBe(false)
  })
})
