import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import {
  customFacet,
  facetId,
  isFacetName,
  isObjectId,
  newObjectId,
  parseFacetId,
  validateNewObject,
  validatePatch,
} from '../../src/model/index.ts'

function refusalOf(run: () => unknown): { code: string; message: string; path: unknown } {
  try {
    run()
  } catch (error) {
    if (isObjectSyncError(error)) {
      return { code: error.code, message: error.message, path: error.details?.path }
    }
    throw error
  }
  throw new Error('expected a refusal')
}

describe('ids', () => {
  it('object ids are 26 Crockford characters and sort by creation time', () => {
    const earlier = newObjectId(1_700_000_000_000)
    const later = newObjectId(1_700_000_000_001)
    expect(isObjectId(earlier)).toBe(true)
    expect(earlier < later).toBe(true)
    expect(isObjectId('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(true)
    expect(isObjectId('01ARZ3NDEKTSV4RRFFQ69G5FAU')).toBe(false) // no U in Crockford base32
    expect(isObjectId('01ARZ3NDEKTSV4RRFFQ69G5FA')).toBe(false)
    expect(isObjectId('01ARZ3NDEKTSV4RRFFQ69G5FAI')).toBe(false)
  })

  it('object ids made in one millisecond differ (the random part crosses pool refills)', () => {
    const ids = Array.from({ length: 1000 }, () => newObjectId(1_700_000_000_000))
    expect(new Set(ids).size).toBe(ids.length)
    expect(new Set(ids.map((id) => id.slice(10))).size).toBe(ids.length)
    expect(ids.every(isObjectId)).toBe(true)
  })

  it('facet ids round-trip, and anything malformed parses to undefined', () => {
    const id = newObjectId()
    expect(parseFacetId(facetId(id, customFacet('partner-fields')))).toEqual({
      object: id,
      facet: 'custom:partner-fields',
    })
    fc.assert(
      fc.property(fc.string(), (value) => {
        const parsed = parseFacetId(value)
        if (parsed !== undefined) expect(facetId(parsed.object, parsed.facet)).toBe(value)
      }),
    )
    expect(isFacetName('custom:a/b')).toBe(false)
    expect(() => customFacet('a b')).toThrow(TypeError)
  })
})

describe('validation', () => {
  it('accepts each canonical type with its fields', () => {
    expect(
      validateNewObject('person', { fields: { firstName: 'A', lastName: 'B', roles: ['x'] } }),
    ).toBeTruthy()
    expect(
      validateNewObject('organization', { fields: { name: 'Acme', categories: ['partner'] } }),
    ).toBeTruthy()
    expect(
      validateNewObject('transaction', {
        fields: { type: 'donation', date: '2024-01-31', amount: '-10.5', externalIds: { a: '1' } },
      }),
    ).toBeTruthy()
    expect(
      validateNewObject('file', { fields: { name: 'cv.pdf', size: 10, sha256: 'a'.repeat(64) } }),
    ).toBeTruthy()
  })

  it('names the field and what was expected', () => {
    const cases: [() => unknown, string, string][] = [
      [
        () =>
          validateNewObject('transaction', {
            fields: { type: 'd', date: '2024-01-01', amount: '1,5' },
          }),
        'transaction.fields.amount',
        'decimal',
      ],
      [
        () => validateNewObject('file', { fields: { name: 'x', size: -1 } }),
        'file.fields.size',
        'non-negative',
      ],
      [
        () => validateNewObject('file', { fields: { name: 'x', sha256: 'ABC' } }),
        'file.fields.sha256',
        'sha256',
      ],
      [
        () =>
          validateNewObject('person', {
            fields: { firstName: 'A', lastName: 'B', organizationId: 'acme' },
          }),
        'person.fields.organizationId',
        'object id',
      ],
      [
        () =>
          validateNewObject('person', {
            fields: { firstName: 'A', lastName: 'B' },
            custom: { n: 2 ** 60 },
          }),
        'person.custom.n',
        '2^53',
      ],
      [
        () => validateNewObject('person', { fields: { firstName: 'A', lastName: 'B' }, extra: 1 }),
        'person.extra',
        'unknown field',
      ],
      [
        () => validatePatch('organization', { fields: { name: null } }),
        'organization.fields.name',
        '',
      ],
      [
        () => validatePatch('person', { custom: { '': 'x' } }),
        'person.custom[""]',
        'custom field name',
      ],
      [
        () =>
          validateNewObject('person', {
            fields: { firstName: 'A', lastName: 'B', roles: ['ok', 3] },
          }),
        'person.fields.roles[1]',
        'string',
      ],
    ]
    for (const [run, path, expected] of cases) {
      const refusal = refusalOf(run)
      expect(refusal.code).toBe('INVALID_OBJECT')
      expect(refusal.path).toBe(path)
      expect(refusal.message).toContain(expected)
    }
  })

  it('never throws anything but INVALID_OBJECT on arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        try {
          validateNewObject('person', input)
          validatePatch('person', input)
        } catch (error) {
          expect(isObjectSyncError(error, 'INVALID_OBJECT')).toBe(true)
        }
      }),
      { numRuns: 500 },
    )
  })
})
