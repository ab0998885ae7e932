// Mapping: conversions both ways, rows that can't be read (with the column named), and
// configuration errors naming the file, the path and what was expected.
import { describe, expect, it } from 'vitest'
import {
  RowProblem,
  mappingFromConfig,
  readField,
  writeField,
  type FieldMapping,
  type ReferenceResolver,
} from '../../src/local/index.ts'

const refs: ReferenceResolver = {
  self: 'me',
  toObject: (key) => (key === 'local-7' ? 'OBJECT7' : undefined),
  toLocal: (id) => (id === 'OBJECT7' ? 'local-7' : undefined),
}

function field(overrides: Partial<FieldMapping>): FieldMapping {
  return {
    field: 'f',
    column: 'c',
    type: 'text',
    format: 'yyyy-MM-dd',
    values: undefined,
    default: undefined,
    ...overrides,
  }
}

describe('field conversions', () => {
  it('round-trips every conversion', () => {
    const cases: [Partial<FieldMapping>, string | number, unknown][] = [
      [{ type: 'text' }, 'Anna', 'Anna'],
      [{ type: 'number' }, 42, 42],
      [{ type: 'decimal' }, '12.50', '12.50'],
      [{ type: 'boolean' }, 1, true],
      [{ type: 'date', format: 'dd.MM.yyyy' }, '31.12.1990', '1990-12-31'],
      [{ type: 'date', format: 'MM/dd/yyyy' }, '02/03/2001', '2001-02-03'],
      [{ type: 'list' }, 'donor,partner', ['donor', 'partner']],
      [{ type: 'text', values: { m: 'male', f: 'female' } }, 'm', 'male'],
      [{ type: 'boolean', values: { J: 'true', N: 'false' } }, 'J', true],
      [{ type: 'boolean', values: { J: 'true', N: 'false' } }, 'N', false],
      [{ type: 'list', values: { K: 'customer', L: 'supplier' } }, 'K,L', ['customer', 'supplier']],
      [{ type: 'reference' }, 'local-7', 'OBJECT7'],
      [{ type: 'external-id' }, 'D-17', { me: 'D-17' }],
    ]
    for (const [overrides, local, canonical] of cases) {
      const mapping = field(overrides)
      expect(readField(mapping, local, refs)).toEqual(canonical)
      expect(writeField(mapping, readField(mapping, local, refs), refs)).toEqual(local)
    }
  })

  it('uses the default for an empty column, and leaves it unset without one', () => {
    expect(readField(field({ default: 'unknown' }), null, refs)).toBe('unknown')
    expect(readField(field({}), '', refs)).toBeUndefined()
  })

  it('names the column and what was expected when a value can not be read', () => {
    const problems: [Partial<FieldMapping>, string, RegExp][] = [
      [
        { column: 'BirthDate', type: 'date', format: 'dd.MM.yyyy' },
        '1990-12-31',
        /BirthDate: expected a date as dd.MM.yyyy, got "1990-12-31"/,
      ],
      [
        { column: 'BirthDate', type: 'date', format: 'dd.MM.yyyy' },
        '31.02.1990',
        /BirthDate: expected a date/,
      ],
      [
        { column: 'Gender', values: { m: 'male' } },
        'x',
        /Gender: "x" is not in the value map \(m\)/,
      ],
      [{ column: 'Amount', type: 'decimal' }, '12,50', /Amount: expected a decimal number/],
      [{ column: 'Active', type: 'boolean' }, 'maybe', /Active: expected a boolean/],
      [{ column: 'Age', type: 'number' }, '4.5', /Age: expected a whole number/],
    ]
    for (const [overrides, local, message] of problems) {
      const read = () => readField(field(overrides), local, refs)
      expect(read).toThrow(RowProblem)
      expect(read).toThrow(message)
    }
  })
})

describe('mapping configuration', () => {
  it('keeps the default schema for entities it does not name, and reads the ones it does', () => {
    const mapping = mappingFromConfig({
      person: {
        table: 'Employees',
        key: 'EmployeeID',
        fields: {
          firstName: 'FirstName',
          lastName: 'LastName',
          birthday: { column: 'BirthDate', type: 'date', format: 'dd.MM.yyyy' },
        },
      },
    })
    expect(mapping.get('person')).toMatchObject({
      table: 'Employees',
      key: 'EmployeeID',
      customFieldsTable: false,
    })
    expect(mapping.get('person')!.fields.find((f) => f.field === 'birthday')).toMatchObject({
      format: 'dd.MM.yyyy',
      type: 'date',
    })
    expect(mapping.get('organization')).toMatchObject({ table: 'organizations', key: 'id' })
  })

  it('reads row filters that tell apart the entities of one table', () => {
    const mapping = mappingFromConfig({
      person: {
        table: 'res_partner',
        key: 'id',
        where: { is_company: false, type: 'contact' },
        fields: { firstName: 'firstname', lastName: 'lastname' },
      },
      organization: {
        table: 'res_partner',
        key: 'id',
        where: { is_company: true },
        fields: { name: 'name' },
      },
    })
    expect(mapping.get('person')!.where).toEqual({ is_company: false, type: 'contact' })
    expect(mapping.get('organization')!.where).toEqual({ is_company: true })
    expect(mapping.get('transaction')!.where).toEqual({})
  })

  it('stops with the file, the path and what was expected', () => {
    const partner = {
      table: 'res_partner',
      key: 'id',
      fields: { firstName: 'firstname', lastName: 'lastname' },
    }
    const bad: [unknown, string][] = [
      [
        { planet: { table: 'P', key: 'id', fields: {} } },
        'config.json: local.entities.planet: expected an object type (person, organization, transaction, file)',
      ],
      [
        {
          person: {
            table: 'E',
            key: 'id',
            fields: { firstName: 'F', lastName: 'L', shoeSize: 'S' },
          },
        },
        'config.json: local.entities.person.fields.shoeSize: person has no field shoeSize',
      ],
      [
        {
          person: {
            table: 'E',
            key: 'id',
            fields: { firstName: 'F', lastName: { column: 'L', type: 'colour' } },
          },
        },
        'config.json: local.entities.person.fields.lastName.type: ',
      ],
      [
        {
          person: {
            table: 'E',
            key: 'id',
            fields: {
              firstName: 'F',
              lastName: 'L',
              birthday: { column: 'B', format: 'dd.MM.yy' },
            },
          },
        },
        'config.json: local.entities.person.fields.birthday.format: expected a date format with yyyy, MM and dd',
      ],
      [
        { person: { table: 'E', key: 'id', fields: { firstName: 'F' } } },
        'config.json: local.entities.person.fields: expected a mapping for the required field lastName',
      ],
      [
        { person: { table: 'bad table', key: 'id', fields: {} } },
        'config.json: local.entities.person.table: expected a table or column name',
      ],
      [
        { person: { ...partner, where: { is_company: { not: true } } } },
        'config.json: local.entities.person.where.is_company: ',
      ],
      [
        { person: { ...partner, where: { lastname: 'x' } } },
        "config.json: local.entities.person.where.lastname: the column that tells this entity's rows apart can't also be its key or a mapped field's",
      ],
      [
        { person: { ...partner, table: 'organizations' } },
        'config.json: local.entities.organization.where: person and organization are both in the table organizations; give each a "where"',
      ],
      [
        {
          person: { ...partner, where: { is_company: false } },
          organization: { table: 'res_partner', key: 'id', fields: { name: 'name' } },
        },
        'config.json: local.entities.organization.where: person and organization are both in the table res_partner',
      ],
      [
        {
          person: { ...partner, where: { is_company: false } },
          organization: {
            table: 'res_partner',
            key: 'partner_id',
            where: { is_company: true },
            fields: { name: 'name' },
          },
        },
        'config.json: local.entities.organization.key: person and organization are both in the table res_partner, so they have one key column (id)',
      ],
      [
        {
          person: { ...partner, where: { kind: 'person' } },
          organization: {
            table: 'res_partner',
            key: 'id',
            where: { is_company: true },
            fields: { name: 'name', categories: 'kind' },
          },
        },
        "config.json: local.entities.person.where.kind: organization maps the column kind, which tells person's rows apart in res_partner",
      ],
    ]
    for (const [entities, message] of bad) {
      expect(() => mappingFromConfig(entities)).toThrow(
        expect.objectContaining({
          code: 'INVALID_CONFIG',
          message: expect.stringContaining(message),
        }),
      )
    }
  })
})
