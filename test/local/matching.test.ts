// Matching tables: which local records an arriving object may be.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { FieldValue, ObjectType } from '../../src/model/index.ts'
import { MatchIndex, normalizeText } from '../../src/local/matching.ts'

describe('matching', () => {
  it('normalizes case, spacing and Unicode forms of names', () => {
    expect(normalizeText('  ÅSE   Berg ')).toBe(normalizeText('åse berg'))
    expect(normalizeText('Ａｎｎａ')).toBe('anna') // full-width letters
    expect(normalizeText('A\u030Ase')).toBe(normalizeText('\u00C5se')) // combining ring vs Å
    expect(normalizeText('Ase')).not.toBe(normalizeText('Åse'))
  })

  it('matches persons by name, refined by email and birthday', () => {
    const index = new MatchIndex()
    index.put({
      type: 'person',
      key: 'a',
      fields: { firstName: 'Anna', lastName: 'Berg', email: 'anna@x.org' },
    })
    index.put({ type: 'person', key: 'o1', fields: { firstName: 'Ole', lastName: 'Hansen' } })
    index.put({
      type: 'person',
      key: 'o2',
      fields: { firstName: 'OLE', lastName: 'hansen', birthday: '1970-01-01' },
    })
    const keys = (fields: Record<string, string>) =>
      index
        .find('person', { firstName: '', lastName: '', ...fields })
        .map((c) => c.key)
        .sort()
    expect(keys({ firstName: ' anna ', lastName: 'BERG' })).toEqual(['a'])
    expect(keys({ firstName: 'Anna', lastName: 'Berg', email: 'other@x.org' })).toEqual([])
    expect(keys({ firstName: 'Anna', lastName: 'Bergh' })).toEqual([])
    // Two Ole Hansens: ambiguous, unless the birthday picks one.
    expect(keys({ firstName: 'Ole', lastName: 'Hansen' })).toEqual(['o1', 'o2'])
    expect(keys({ firstName: 'Ole', lastName: 'Hansen', birthday: '1970-01-01' })).toEqual(['o2'])
    expect(keys({ firstName: 'Ole', lastName: 'Hansen', birthday: '1980-01-01' })).toEqual(['o1'])
    index.remove('person', 'a')
    expect(keys({ firstName: 'Anna', lastName: 'Berg' })).toEqual([])
  })

  it('matches organizations by org number, then by name', () => {
    const index = new MatchIndex()
    index.put({ type: 'organization', key: 'n', fields: { name: 'Acme AS', orgNumber: '123' } })
    index.put({ type: 'organization', key: 'm', fields: { name: 'Other' } })
    expect(
      index.find('organization', { name: 'Renamed', orgNumber: '123' }).map((c) => c.key),
    ).toEqual(['n'])
    expect(index.find('organization', { name: 'acme as' }).map((c) => c.key)).toEqual(['n'])
    expect(index.find('organization', { name: 'Acme AS', orgNumber: '999' })).toEqual([])
    expect(index.find('organization', { name: 'other' }).map((c) => c.key)).toEqual(['m'])
  })

  it('matches transactions on every field but instance-local ids', () => {
    const index = new MatchIndex()
    const gift = { type: 'donation', date: '2026-01-01', amount: '10.00', currency: 'NOK' }
    index.put({ type: 'transaction', key: 't', fields: { ...gift, externalIds: { a: 'D1' } } })
    expect(
      index.find('transaction', { ...gift, externalIds: { b: 'X9' } }).map((c) => c.key),
    ).toEqual(['t'])
    expect(index.find('transaction', { ...gift, currency: 'SEK' })).toEqual([])
  })

  it('finds the same records whatever the index keys hash to (collisions included)', () => {
    const text = (...values: string[]) => fc.option(fc.constantFrom(...values), { nil: undefined })
    const fieldsOf: Record<
      Exclude<ObjectType, 'file'>,
      fc.Arbitrary<Record<string, FieldValue | undefined>>
    > = {
      person: fc.record({
        firstName: text('Anna', ' anna', 'Ole'),
        lastName: text('Berg', 'Hansen'),
        email: text('a@x.org', 'b@x.org'),
        birthday: text('1970-01-01'),
      }),
      organization: fc.record({ name: text('Acme', 'ACME ', 'Beta'), orgNumber: text('1', '2') }),
      transaction: fc.record({
        type: text('donation'),
        date: text('2024-01-01'),
        amount: text('10', '20'),
        personId: text('p1', 'p2'),
        externalIds: text('x1'),
      }),
    }
    const typed = (type: Exclude<ObjectType, 'file'>) =>
      fc.record({
        op: fc.constantFrom('put', 'remove', 'find'),
        type: fc.constant(type),
        key: fc.constantFrom('k1', 'k2', 'k3'),
        fields: fieldsOf[type].map(
          (fields) =>
            Object.fromEntries(
              Object.entries(fields).filter(([, value]) => value !== undefined),
            ) as Record<string, FieldValue>,
        ),
      })
    const step = fc.oneof(typed('person'), typed('organization'), typed('transaction'))
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const indexes = [
          new MatchIndex(),
          new MatchIndex(undefined, () => 7),
          new MatchIndex(undefined, (indexed) => indexed.length % 2),
        ]
        for (const { op, type, key, fields } of steps) {
          if (op === 'put') for (const index of indexes) index.put({ type, key, fields })
          if (op === 'remove') for (const index of indexes) index.remove(type, key)
          if (op === 'find') {
            const [expected, ...others] = indexes.map((index) =>
              index
                .find(type, fields)
                .map((candidate) => `${candidate.type}/${candidate.key}`)
                .sort(),
            )
            for (const found of others) expect(found).toEqual(expected)
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
