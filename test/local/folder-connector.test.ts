// The vCard folder connector beyond the conformance suite: real exported files (Apple
// Contacts 3.0, Nextcloud and Thunderbird 4.0) read as persons and organizations, written
// back with every property objectsync doesn't model untouched and in the card's own
// version, bad files as bad rows naming the file and line (the rest still read), the
// daemon's own writes never reported as changes, and a watcher that wakes the reader.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import {
  FolderConnector,
  GOOGLE_CSV_FORMAT,
  defaultEntity,
  type LocalRow,
} from '../../src/local/index.ts'
import { contactFolder } from '../helpers/contact-folders.ts'

const persons = defaultEntity('person')
const organizations = defaultEntity('organization')
const entities = [persons, organizations]

async function all(connector: FolderConnector, entity = persons): Promise<LocalRow[]> {
  const rows: LocalRow[] = []
  for await (const row of connector.readAll(entity)) rows.push(row)
  return rows.sort((a, b) =>
    String(a.last_name ?? a.name).localeCompare(String(b.last_name ?? b.name)),
  )
}

describe('a folder of vCard files', () => {
  it('reads exported cards as persons and organizations, with groups and custom fields', async () => {
    const connector = new FolderConnector(contactFolder('vcards'))
    await connector.open(entities)
    const people = await all(connector)
    expect(people.map((row) => `${String(row.first_name)} ${String(row.last_name)}`)).toEqual([
      'Charles Babbage',
      'Margaret Hamilton',
      'Grace Hopper',
      'Ada Lovelace',
    ])
    const ada = people.find((row) => row.first_name === 'Ada')!
    expect(ada).toMatchObject({
      id: '6F0E1A2B-1111-4C3D-9E8F-ABCDEF000001',
      email: 'ada@acme.example',
      phone: '+47 400 00 001',
      birthday: '1815-12-10',
      title: 'Analyst',
      // ORG names the company card (X-ABShowAs:COMPANY).
      organization_id: '6F0E1A2B-2222-4C3D-9E8F-ABCDEF000002',
    })
    const grace = people.find((row) => row.first_name === 'Grace')!
    expect(grace).toMatchObject({ phone: '+1-202-555-0100', birthday: '1906-12-09' })
    expect(await connector.readCustom(String(grace.id))).toEqual({ level: 'gold' })
    expect(await connector.groupsOf(String(grace.id))).toEqual(['Board', 'Volunteers'])
    // An organization only named by ORG is one too, keyed by its name.
    const companies = await all(connector, organizations)
    expect(companies.map((row) => row.name)).toEqual([
      'Acme AS',
      'Analytical Engines Ltd',
      'Apollo Guidance',
    ])
    expect(companies[0]).toMatchObject({ website: 'https://acme.example' })
    const babbage = people.find((row) => row.first_name === 'Charles')!
    expect(babbage.organization_id).toBe('org:Analytical Engines Ltd')
    expect(connector.badRows()).toEqual([])
    await connector.close()
  })

  it("writes back only what it models, in the card's version, keeping the rest", async () => {
    const folder = contactFolder('vcards')
    const connector = new FolderConnector(folder)
    await connector.open(entities)
    const key = '6F0E1A2B-1111-4C3D-9E8F-ABCDEF000001'
    const before = (await connector.read(persons, key))!
    const [written] = await connector.writeMany(persons, [
      {
        key,
        row: { ...before, title: 'Chief Analyst', phone: null },
        custom: { level: 'silver' },
        unchanged: (now) => now.row !== undefined,
      },
    ])
    expect(written).toMatchObject({ row: { title: 'Chief Analyst', phone: null } })
    const text = readFileSync(join(folder, 'apple-contacts.vcf'), 'utf8')
    expect(text).toContain('TITLE:Chief Analyst')
    expect(text).not.toContain('TEL')
    expect(text).toContain('X-OBJECTSYNC-CUSTOM;NAME=level:silver')
    // What objectsync does not model is as it was, in the 3.0 card it was.
    for (const kept of [
      'VERSION:3.0',
      'X-SOCIALPROFILE',
      'ITEM1.ADR',
      'ITEM1.X-ABADR:no',
      'NOTE:Met at the conference\\, in Oslo',
      'X-ABUID',
      'ORG:Acme AS;Research',
    ]) {
      expect(text).toContain(kept)
    }
    // The file's other cards are untouched.
    expect(text).toContain('FN:Charles Babbage')
    expect(text.match(/BEGIN:VCARD/g)).toHaveLength(3)
    // Its own write is not a change; another program's is.
    expect(await connector.changesSince(0)).toEqual([])
    writeFileSync(
      join(folder, 'thunderbird-margaret.vcf'),
      readFileSync(join(folder, 'thunderbird-margaret.vcf'), 'utf8').replace('Director', 'Lead'),
    )
    const changes = await connector.changesSince(0)
    expect(changes.map((change) => `${change.table}/${change.key}`)).toEqual([
      'persons/8a4e9f1c-0b7e-4c1a-9b2d-3e4f5a6b7c8d',
    ])
    // A new record is a card of its own, vCard 4.0; its removal removes the file.
    await connector.write(persons, 'new-person', { first_name: 'Nora', last_name: 'Lie' })
    const made = readFileSync(join(folder, 'new-person.vcf'), 'utf8')
    expect(made).toContain('VERSION:4.0')
    expect(made).toContain('N:Lie;Nora;;;')
    expect(made).toContain('FN:Nora Lie')
    await connector.remove(persons, 'new-person')
    expect(readdirSync(folder)).not.toContain('new-person.vcf')
    expect(readdirSync(folder).filter((name) => name.includes('objectsync-writing'))).toEqual([])
    await connector.close()
  })

  it('reports bad files as bad rows with the file and line, and reads the rest', async () => {
    const folder = contactFolder('vcards')
    writeFileSync(
      join(folder, 'broken.vcf'),
      [
        'BEGIN:VCARD',
        'VERSION:4.0',
        'UID:fine-1',
        'N:Fine;Frida;;;',
        'FN:Frida Fine',
        'END:VCARD',
        'BEGIN:VCARD',
        'VERSION:2.1',
        'N:Old;Otto',
        'END:VCARD',
        'BEGIN:VCARD',
        'VERSION:4.0',
        'N:Cut;Carl;;;',
        '',
      ].join('\r\n'),
    )
    writeFileSync(
      join(folder, 'latin1.vcf'),
      Buffer.from('BEGIN:VCARD\r\nFN:J\xf8rgen\r\n', 'latin1'),
    )
    const connector = new FolderConnector(folder)
    await connector.open(entities)
    expect(
      connector
        .badRows()
        .map((bad) => bad.problem)
        .sort(),
    ).toEqual([
      'broken.vcf, line 11: a card with no END:VCARD',
      'broken.vcf, line 7: vCard version "2.1": objectsync reads 3.0 and 4.0',
      'latin1.vcf, line 1: not UTF-8 text (save it as UTF-8)',
    ])
    expect((await all(connector)).map((row) => row.first_name)).toContain('Frida')
    expect(await all(connector)).toHaveLength(5)
    await connector.close()
  })

  it('wakes its listener when another program changes a file', async () => {
    const folder = contactFolder('vcards')
    const connector = new FolderConnector(folder)
    await connector.open(entities)
    const woken = vi.fn()
    connector.onChanges(woken)
    // chokidar is ready a moment after open.
    await vi.waitFor(
      () => {
        writeFileSync(join(folder, `touch-${Date.now()}.vcf`), '')
        expect(woken).toHaveBeenCalled()
      },
      { timeout: 10_000, interval: 200 },
    )
    await connector.close()
  })
})

describe('a folder of Google Contacts CSV exports', () => {
  it("reads today's and the older export: persons, a company contact, labels, custom fields", async () => {
    const connector = new FolderConnector(contactFolder('google-csv'), GOOGLE_CSV_FORMAT)
    await connector.open(entities)
    const people = await all(connector)
    expect(people.map((row) => row.first_name)).toEqual(['Margaret', 'Grace', 'Ada'])
    const ada = people.find((row) => row.first_name === 'Ada')!
    expect(ada).toMatchObject({
      id: 'ada@acme.example',
      last_name: 'Lovelace',
      // The first of " ::: " values.
      email: 'ada@acme.example',
      phone: '+47 400 00 001',
      birthday: '1815-12-10',
      title: 'Analyst',
      organization_id: 'org:Acme AS',
    })
    expect(await connector.readCustom('ada@acme.example')).toEqual({ level: 'gold' })
    // Google's own labels ("* myContacts", "* starred") are no groups.
    expect(await connector.groupsOf('ada@acme.example')).toEqual(['Board'])
    expect(await connector.groupsOf('grace@navy.example')).toEqual(['Volunteers'])
    // A birthday without a year is none to objectsync (a date has one).
    expect(people.find((row) => row.first_name === 'Grace')!.birthday).toBeNull()
    const margaret = people.find((row) => row.first_name === 'Margaret')!
    expect(margaret).toMatchObject({ title: 'Director', organization_id: 'org:Apollo Guidance' })
    const companies = await all(connector, organizations)
    expect(companies).toEqual([
      expect.objectContaining({ id: 'org:Acme AS', email: 'post@acme.example' }),
      expect.objectContaining({ id: 'org:Apollo Guidance', name: 'Apollo Guidance' }),
    ])
    expect(connector.badRows()).toEqual([])
    await connector.close()
  })

  it('writes back every column and line as they were but the ones it models', async () => {
    const folder = contactFolder('google-csv')
    const connector = new FolderConnector(folder, GOOGLE_CSV_FORMAT)
    await connector.open(entities)
    const before = (await connector.read(persons, 'ada@acme.example'))!
    await connector.writeMany(persons, [
      {
        key: 'ada@acme.example',
        row: { ...before, title: 'Chief Analyst', phone: null },
        custom: { level: 'silver', since: '2019' },
        unchanged: (now) => now.row !== undefined,
      },
    ])
    await connector.changeGroups('ada@acme.example', { join: ['Partners'] })
    const grace = (await connector.read(persons, 'grace@navy.example'))!
    await connector.write(persons, 'grace@navy.example', { ...grace, title: 'Admiral' })
    await connector.write(persons, '01JNEWPERSON0000000000000A', {
      first_name: 'Nora',
      last_name: 'Lie',
      email: 'nora@acme.example',
    })
    const text = readFileSync(join(folder, 'contacts.csv'), 'utf8')
    expect(text.startsWith('\ufeff')).toBe(true)
    const reread = new FolderConnector(folder, GOOGLE_CSV_FORMAT)
    await reread.open(entities)
    expect(await reread.read(persons, 'ada@acme.example')).toMatchObject({
      title: 'Chief Analyst',
      phone: null,
      email: 'ada@acme.example',
    })
    expect(await reread.readCustom('ada@acme.example')).toEqual({ level: 'silver', since: '2019' })
    expect(await reread.groupsOf('ada@acme.example')).toEqual(['Board', 'Partners'])
    // What objectsync doesn't model is as it was: the second e-mail, the address, the
    // multi-line note, Google's own labels.
    for (const kept of [
      'ada.lovelace@home.example',
      '"Storgata 1\n0155 Oslo\nNorway"',
      '"Met at the conference,\nin Oslo ""twice"""',
      '* myContacts ::: Board ::: Partners',
      'Grace,,Hopper,,,,,,,,,Admiral,,--12-09,',
    ]) {
      expect(text).toContain(kept)
    }
    // A new person is a line of its own, keyed by the column objectsync adds.
    expect(await reread.read(persons, '01JNEWPERSON0000000000000A')).toMatchObject({
      first_name: 'Nora',
      email: 'nora@acme.example',
    })
    expect((await all(reread)).map((row) => row.first_name).sort()).toEqual([
      'Ada',
      'Grace',
      'Margaret',
      'Nora',
    ])
    expect(await connector.changesSince(0)).toEqual([])
    await reread.close()
    await connector.close()
  })

  it('reports a file that is not a Google Contacts CSV, or does not parse, with its line', async () => {
    const folder = contactFolder('google-csv')
    writeFileSync(join(folder, 'other.csv'), 'Date,Amount\r\n2026-01-01,100\r\n')
    writeFileSync(join(folder, 'cut.csv'), 'First Name,Last Name\r\nAda,Lovelace\r\n"Cut,Off\r\n')
    writeFileSync(
      join(folder, 'nameless.csv'),
      'First Name,Last Name,Notes\r\n,,just a note\r\nKai,Holm,\r\n',
    )
    const connector = new FolderConnector(folder, GOOGLE_CSV_FORMAT)
    await connector.open(entities)
    expect(
      connector
        .badRows()
        .map((bad) => bad.problem)
        .sort(),
    ).toEqual([
      expect.stringMatching(/^cut\.csv, line 4: Quote Not Closed/),
      'other.csv, line 1: not a Google Contacts CSV: its header has no "First Name" nor "Organization Name"',
    ])
    // A contact with no name is a person all the same (the mapping reports it, as a bad
    // row of the local sync): its line stays, and its file is written as any other.
    expect(await connector.read(persons, 'nameless#1')).toMatchObject({ first_name: '' })
    const kai = (await connector.read(persons, 'Kai Holm'))!
    await connector.write(persons, 'Kai Holm', { ...kai, title: 'Skipper' })
    const nameless = readFileSync(join(folder, 'nameless.csv'), 'utf8')
    expect(nameless).toContain(',,just a note')
    expect(await connector.read(persons, 'Kai Holm')).toMatchObject({ title: 'Skipper' })
    await connector.close()
  })
})
