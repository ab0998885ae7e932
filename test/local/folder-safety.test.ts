// A folder of contact files is the user's own data: what the review of the folder
// connector found could lose it, each checked here. Edits after a restart are taken in;
// a card that stops reading, or a file half written or gone for a moment, is not a
// delete; a file with parts that don't read is not written over; a cleared e-mail leaves
// the others; a write keeps the file's mode; a renamed organization takes its persons'
// ORG along; a card without a UID keeps its key when cards move.
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  FolderConnector,
  GOOGLE_CSV_FORMAT,
  VCARD_FORMAT,
  defaultEntity,
} from '../../src/local/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import { contactFolder, startFolderSync } from '../helpers/contact-folders.ts'
import { openStore } from '../helpers/stores.ts'

const persons = defaultEntity('person')
const organizations = defaultEntity('organization')
const entities = [persons, organizations]
const ADA = '6F0E1A2B-1111-4C3D-9E8F-ABCDEF000001'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function card(uid: string | undefined, first: string, last: string, extra: string[] = []): string {
  return [
    'BEGIN:VCARD',
    'VERSION:4.0',
    ...(uid === undefined ? [] : [`UID:${uid}`]),
    `N:${last};${first};;;`,
    `FN:${first} ${last}`,
    ...extra,
    'END:VCARD',
  ].join('\r\n')
}

describe('the folder connector and the user data it holds', () => {
  it('takes in edits made after a restart (its change log starts over with the cursor)', async () => {
    const folder = contactFolder('vcards')
    const store = await openStore(new MemoryStorage(), { instanceId: 'a' as InstanceId })
    const start = () => startFolderSync(folder, store, 'a' as InstanceId)
    const titleOfMargaret = async () =>
      (await store.list('person')).items.find((person) => person.fields.firstName === 'Margaret')
        ?.fields.title
    const edit = (title: string) => {
      const file = join(folder, 'thunderbird-margaret.vcf')
      writeFileSync(file, readFileSync(file, 'utf8').replace(/TITLE:.*/, `TITLE:${title}`))
    }
    let local = await start()
    for (const title of ['One', 'Two', 'Three']) {
      edit(title)
      await local.settled()
      expect(await titleOfMargaret()).toBe(title)
    }
    await local.stop()
    edit('While stopped')
    local = await start()
    await local.settled()
    expect(await titleOfMargaret()).toBe('While stopped')
    edit('After the restart')
    await local.settled()
    expect(await titleOfMargaret()).toBe('After the restart')
    await local.stop()
  })

  it('keeps the records of a card that stops reading, and does not write over its file', async () => {
    const folder = contactFolder('vcards')
    const connector = new FolderConnector(folder, VCARD_FORMAT, 0)
    await connector.open(entities)
    const file = join(folder, 'apple-contacts.vcf')
    const whole = readFileSync(file, 'utf8')
    // Cut short: the last card loses its END line.
    writeFileSync(file, whole.slice(0, whole.lastIndexOf('END:VCARD')))
    expect(await connector.changesSince(0)).toEqual([])
    expect(await connector.read(persons, '6F0E1A2B-3333-4C3D-9E8F-ABCDEF000003')).toMatchObject({
      first_name: 'Charles',
    })
    expect(connector.badRows().map((bad) => bad.problem)).toEqual([
      'apple-contacts.vcf, line 29: a card with no END:VCARD',
    ])
    const ada = (await connector.read(persons, ADA))!
    await expect(connector.write(persons, ADA, { ...ada, title: 'Chief' })).rejects.toThrow(
      "not writing apple-contacts.vcf: it has parts that don't read",
    )
    expect(readFileSync(file, 'utf8')).toBe(whole.slice(0, whole.lastIndexOf('END:VCARD')))
    // Mended: it is written again, whole.
    writeFileSync(file, whole)
    await connector.changesSince(0)
    await connector.write(persons, ADA, { ...ada, title: 'Chief' })
    expect(readFileSync(file, 'utf8').match(/BEGIN:VCARD/g)).toHaveLength(3)
    await connector.close()
  })

  it('waits for a file gone for a moment, and takes a file gone for good as deletes', async () => {
    const folder = contactFolder('vcards')
    const connector = new FolderConnector(folder, VCARD_FORMAT, 300)
    await connector.open(entities)
    const file = join(folder, 'thunderbird-margaret.vcf')
    const text = readFileSync(file, 'utf8')
    rmSync(file)
    expect(await connector.changesSince(0)).toEqual([])
    writeFileSync(file, text) // an editor's save: deleted, then made again
    await sleep(400)
    expect(await connector.changesSince(0)).toEqual([])
    expect(await connector.read(persons, '8a4e9f1c-0b7e-4c1a-9b2d-3e4f5a6b7c8d')).toBeDefined()
    rmSync(file)
    await connector.changesSince(0)
    await sleep(400)
    const changes = await connector.changesSince(0)
    expect(changes.map((change) => `${change.table}/${change.key}`)).toContain(
      'persons/8a4e9f1c-0b7e-4c1a-9b2d-3e4f5a6b7c8d',
    )
    expect(await connector.read(persons, '8a4e9f1c-0b7e-4c1a-9b2d-3e4f5a6b7c8d')).toBeUndefined()
    // Every file gone at once is a folder unmounted, not an address book deleted.
    for (const name of ['apple-contacts.vcf', 'nextcloud-grace.vcf']) rmSync(join(folder, name))
    await expect(connector.changesSince(0)).rejects.toThrow('holds no contact files any more')
    expect(await connector.read(persons, ADA)).toBeDefined()
    await connector.close()
  })

  it("clears a field's first value and keeps the others; keeps the file's mode", async () => {
    const folder = contactFolder('vcards')
    const file = join(folder, 'two-mails.vcf')
    writeFileSync(
      file,
      card('two', 'Kai', 'Holm', ['EMAIL:kai@work.example', 'EMAIL:kai@home.example']),
    )
    chmodSync(file, 0o600)
    const connector = new FolderConnector(folder, VCARD_FORMAT, 0)
    await connector.open(entities)
    const kai = (await connector.read(persons, 'two'))!
    expect(kai.email).toBe('kai@work.example')
    const [written] = await connector.writeMany(persons, [
      { key: 'two', row: { ...kai, email: null }, unchanged: () => true },
    ])
    // Read back, the field is empty (not the next value), and the other value is there.
    expect(written).toMatchObject({ row: { email: null } })
    expect(readFileSync(file, 'utf8')).toContain('kai@home.example')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    await connector.close()
  })

  it("takes a renamed organization's persons along, and keeps keys of cards without a UID", async () => {
    const folder = contactFolder('vcards')
    const file = join(folder, 'no-uids.vcf')
    const fnOnly = ['BEGIN:VCARD', 'VERSION:3.0', 'UID:fn-only', 'FN:Ines van Irgens', 'END:VCARD']
    writeFileSync(
      file,
      [card(undefined, 'Una', 'One'), card(undefined, 'Tor', 'Two'), ...fnOnly].join('\r\n'),
    )
    const connector = new FolderConnector(folder, VCARD_FORMAT, 0)
    await connector.open(entities)
    const acme = '6F0E1A2B-2222-4C3D-9E8F-ABCDEF000002'
    await connector.write(organizations, acme, {
      ...(await connector.read(organizations, acme))!,
      name: 'Acme Group',
    })
    const apple = readFileSync(join(folder, 'apple-contacts.vcf'), 'utf8')
    expect(apple).toContain('ORG:Acme Group;Research')
    expect((await connector.read(persons, ADA))!.organization_id).toBe(acme)
    expect(await connector.changesSince(0)).toEqual([])
    // Keyed by file and name: a card put above them changes no key.
    const keys = async () => {
      const found: string[] = []
      for await (const row of connector.readAll(persons)) found.push(String(row.id))
      return found.filter((key) => key.startsWith('no-uids#')).sort()
    }
    expect(await keys()).toEqual(['no-uids#Tor Two', 'no-uids#Una One'])
    // A card with a formatted name only: its last word is the last name.
    expect(await connector.read(persons, 'fn-only')).toMatchObject({
      first_name: 'Ines van',
      last_name: 'Irgens',
    })
    writeFileSync(file, [card(undefined, 'Zoe', 'Zero'), readFileSync(file, 'utf8')].join('\r\n'))
    const changes = await connector.changesSince(0)
    expect(changes.map((change) => change.key)).toEqual(['no-uids#Zoe Zero'])
    // Written, a card keeps its key as its UID.
    const una = (await connector.read(persons, 'no-uids#Una One'))!
    await connector.write(persons, 'no-uids#Una One', { ...una, title: 'Chair' })
    expect(readFileSync(file, 'utf8')).toContain('UID:no-uids#Una One')
    expect(await connector.read(persons, 'no-uids#Una One')).toMatchObject({ title: 'Chair' })
    await connector.close()
  })
})

describe('the folder connector across restarts and refused writes', () => {
  it('takes nothing for a delete at a start where the folder is empty or a file is cut short', async () => {
    const folder = contactFolder('vcards')
    const store = await openStore(new MemoryStorage(), { instanceId: 'a' as InstanceId })
    const run = async (between: () => void) => {
      between()
      const local = await startFolderSync(folder, store, 'a' as InstanceId)
      await local.settled()
      await local.stop()
      return (await store.list('person')).items.map((person) => person.fields.firstName).sort()
    }
    const everyone = ['Ada', 'Charles', 'Grace', 'Margaret']
    expect(await run(() => {})).toEqual(everyone)
    const saved = new Map(
      ['apple-contacts.vcf', 'nextcloud-grace.vcf', 'thunderbird-margaret.vcf'].map((name) => [
        name,
        readFileSync(join(folder, name), 'utf8'),
      ]),
    )
    // Unmounted (empty) while stopped: every contact stays.
    expect(await run(() => saved.forEach((_, name) => rmSync(join(folder, name))))).toEqual(
      everyone,
    )
    // A file cut short while stopped: the card that no longer reads stays.
    const apple = saved.get('apple-contacts.vcf')!
    expect(
      await run(() => {
        saved.forEach((text, name) => writeFileSync(join(folder, name), text))
        writeFileSync(
          join(folder, 'apple-contacts.vcf'),
          apple.slice(0, apple.lastIndexOf('END:VCARD')),
        )
      }),
    ).toEqual(everyone)
    // Mended, with Margaret's card deleted for real meanwhile: that delete is taken.
    expect(
      await run(() => {
        writeFileSync(join(folder, 'apple-contacts.vcf'), apple)
        rmSync(join(folder, 'thunderbird-margaret.vcf'))
      }),
    ).toEqual(['Ada', 'Charles', 'Grace'])
  })

  it('takes back what a refused batch changed in memory, so it is never written later', async () => {
    const folder = contactFolder('vcards')
    writeFileSync(
      join(folder, 'broken.vcf'),
      [card('kai', 'Kai', 'Holm'), 'BEGIN:VCARD', 'VERSION:2.1', 'N:Old;Otto', 'END:VCARD'].join(
        '\r\n',
      ),
    )
    const connector = new FolderConnector(folder, VCARD_FORMAT, 0)
    await connector.open(entities)
    const ada = (await connector.read(persons, ADA))!
    const kai = (await connector.read(persons, 'kai'))!
    await expect(
      connector.writeMany(persons, [
        { key: ADA, row: { ...ada, title: 'DIRTY' }, unchanged: () => true },
        { key: 'kai', row: { ...kai, title: 'Skipper' }, unchanged: () => true },
      ]),
    ).rejects.toThrow("not writing broken.vcf: it has parts that don't read")
    expect(await connector.read(persons, ADA)).toMatchObject({ title: 'Analyst' })
    const charles = '6F0E1A2B-3333-4C3D-9E8F-ABCDEF000003'
    await connector.write(persons, charles, {
      ...(await connector.read(persons, charles))!,
      title: 'Inventor',
    })
    const apple = readFileSync(join(folder, 'apple-contacts.vcf'), 'utf8')
    expect(apple).toContain('TITLE:Inventor')
    expect(apple).not.toContain('DIRTY')
    await connector.close()
  })

  it('keeps the key of a Google contact keyed by its e-mail when the e-mail is written', async () => {
    const folder = contactFolder('google-csv')
    const connector = new FolderConnector(folder, GOOGLE_CSV_FORMAT, 0)
    await connector.open(entities)
    const ada = (await connector.read(persons, 'ada@acme.example'))!
    const [written] = await connector.writeMany(persons, [
      { key: 'ada@acme.example', row: { ...ada, email: 'ada@new.example' }, unchanged: () => true },
    ])
    expect(written).toMatchObject({ row: { id: 'ada@acme.example', email: 'ada@new.example' } })
    expect(await connector.read(persons, 'ada@acme.example')).toMatchObject({
      email: 'ada@new.example',
    })
    expect(await connector.changesSince(0)).toEqual([])
    await connector.close()
  })
})

describe('organizations named by persons only', () => {
  it('keep their key however a later card spells the name', async () => {
    const folder = contactFolder()
    writeFileSync(join(folder, 'b.vcf'), card('bob', 'Bob', 'Berg', ['ORG:ACME']))
    const connector = new FolderConnector(folder, VCARD_FORMAT, 0)
    await connector.open(entities)
    expect((await connector.read(persons, 'bob'))!.organization_id).toBe('org:ACME')
    writeFileSync(join(folder, 'a.vcf'), card('ann', 'Ann', 'Aas', ['ORG:Acme ']))
    const changes = await connector.changesSince(0)
    expect(changes.map((change) => `${change.table}/${change.key}`)).toEqual(['persons/ann'])
    expect((await connector.read(persons, 'ann'))!.organization_id).toBe('org:ACME')
    await connector.close()
  })
})
