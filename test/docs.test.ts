// The README is the contract for error codes: every code in the catalogue is documented
// there with its status.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../src/errors.ts'

describe('README', () => {
  it('documents every error code with its HTTP status', () => {
    const readme = readFileSync('README.md', 'utf8')
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(readme).toMatch(new RegExp(`\\| \`${code}\` +\\| ${status} +\\|`))
    }
  })
})
