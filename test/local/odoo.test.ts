// Two daemons over real libp2p: one beside an Odoo-shaped PostgreSQL database (persons and
// companies in one table, `res_partner`, told apart by `is_company`; integer keys from a
// sequence; a person's company in `parent_id`, a key of the same table), the other beside
// the default SQLite schema. Records sync both ways through both local systems, the rows
// each daemon inserts get the keys their database gives, and the first sync makes no
// duplicates.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../daemon/config.ts'
import { initInstance } from '../../daemon/init.ts'
import { runDaemon, type Daemon } from '../../daemon/run.ts'
import { silentLogger } from '../../src/log.ts'
import { callApi } from '../helpers/daemons.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'
import { tempDir } from '../helpers/stores.ts'

// As Odoo keeps partners (the columns objectsync maps, and some it doesn't), with the
// first and last name columns of the OCA module partner_firstname. Odoo computes `name`
// in its application code; rows other programs insert need it too, so this database
// computes it with a trigger, as docs/local-systems.md shows.
const ODOO_SCHEMA = `
CREATE TABLE res_partner (
  id serial PRIMARY KEY,
  name varchar,
  firstname varchar,
  lastname varchar,
  is_company boolean NOT NULL DEFAULT false,
  parent_id integer REFERENCES res_partner(id) ON DELETE SET NULL,
  email varchar,
  phone varchar,
  website varchar,
  vat varchar,
  function varchar,
  active boolean DEFAULT true,
  write_date timestamp DEFAULT now()
);
CREATE FUNCTION res_partner_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT NEW.is_company THEN
    NEW.name := concat_ws(' ', NEW.firstname, NEW.lastname);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER res_partner_name BEFORE INSERT OR UPDATE ON res_partner
  FOR EACH ROW EXECUTE FUNCTION res_partner_name();
`

const ODOO_ENTITIES = {
  person: {
    table: 'res_partner',
    key: 'id',
    where: { is_company: false },
    fields: {
      firstName: 'firstname',
      lastName: 'lastname',
      email: 'email',
      phone: 'phone',
      title: 'function',
      organizationId: 'parent_id',
    },
  },
  organization: {
    table: 'res_partner',
    key: 'id',
    where: { is_company: true },
    fields: { name: 'name', email: 'email', phone: 'phone', website: 'website', orgNumber: 'vat' },
  },
}

let server: TestPostgres
beforeAll(async () => {
  server = await startPostgres()
}, 60_000)
afterAll(() => server?.stop())

async function daemonIn(dir: string, name: string, local: unknown) {
  const config = parseConfig({
    name,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    api: { port: 0 },
    ...(local === undefined ? {} : { local }),
  })
  const daemon = await runDaemon(dir, config, silentLogger)
  return { daemon, token: readFileSync(join(dir, 'api-token'), 'utf8').trim() }
}

interface Partner {
  id: number
  name: string | null
  firstname: string | null
  is_company: boolean
  parent_id: number | null
  email: string | null
}

describe('an Odoo-shaped PostgreSQL database and a SQLite one', () => {
  it(
    'sync persons and companies both ways, each table keyed as its database keys it',
    { timeout: 90_000 },
    async () => {
      const url = await server.createDatabase()
      const odoo = new pg.Client({ connectionString: url })
      await odoo.connect()
      await odoo.query(ODOO_SCHEMA)
      const acme = await odoo.query<{ id: number }>(
        "INSERT INTO res_partner(name, is_company, vat) VALUES ('Acme AS', true, 'NO 912 345 678') RETURNING id",
      )
      await odoo.query(
        "INSERT INTO res_partner(firstname, lastname, parent_id, function) VALUES ('Ada', 'Lovelace', $1, 'Analyst')",
        [acme.rows[0]!.id],
      )
      const northDir = tempDir('odoo-north')
      const southDir = tempDir('odoo-south')
      await initInstance(northDir, { name: 'north', local: 'postgres', localUrl: url })
      await initInstance(southDir, { name: 'south' })
      const north = await daemonIn(northDir, 'north', {
        kind: 'postgres',
        url,
        entities: ODOO_ENTITIES,
      })
      let south: { daemon: Daemon; token: string } | undefined
      const crm = new Database(join(southDir, 'local.db'))
      crm.pragma('busy_timeout = 5000')
      try {
        south = await daemonIn(southDir, 'south', undefined)
        const invite = await callApi<{ token: string }>(north, 'POST', '/v1/invites', {
          body: { expires: '10m' },
        })
        const paired = await callApi(south, 'POST', '/v1/pair', {
          body: { token: invite.json.token },
        })
        expect(paired.status).toBe(201)

        // Odoo's records reach the SQLite tables, the person still at her company.
        const southRows = () => ({
          organizations: crm.prepare('SELECT id, name, org_number FROM organizations').all() as {
            id: string
            name: string
            org_number: string | null
          }[],
          persons: crm
            .prepare('SELECT id, first_name, organization_id, title, email FROM persons')
            .all() as {
            id: string
            first_name: string
            organization_id: string | null
            title: string | null
            email: string | null
          }[],
        })
        await vi.waitFor(
          () => {
            const rows = southRows()
            expect(rows.organizations).toMatchObject([
              { name: 'Acme AS', org_number: 'NO 912 345 678' },
            ])
            expect(rows.persons).toMatchObject([{ first_name: 'Ada', title: 'Analyst' }])
            expect(rows.persons[0]!.organization_id).toBe(rows.organizations[0]!.id)
          },
          { timeout: 30_000, interval: 100 },
        )

        // A company and its employee made in the SQLite tables become Odoo partners, with
        // keys from Odoo's sequence, `is_company` set, and `parent_id` naming the company.
        crm.prepare("INSERT INTO organizations(id, name) VALUES ('globex', 'Globex')").run()
        crm
          .prepare(
            "INSERT INTO persons(id, first_name, last_name, organization_id, email) VALUES ('hank', 'Hank', 'Scorpio', 'globex', 'hank@globex.example')",
          )
          .run()
        const partners = async () =>
          (
            await odoo.query<Partner>(
              'SELECT id, name, firstname, is_company, parent_id, email FROM res_partner ORDER BY id',
            )
          ).rows
        await vi.waitFor(
          async () => {
            const rows = await partners()
            const globex = rows.find((row) => row.name === 'Globex')
            const hank = rows.find((row) => row.firstname === 'Hank')
            expect(globex).toMatchObject({ is_company: true, parent_id: null })
            expect(hank).toMatchObject({
              is_company: false,
              name: 'Hank Scorpio',
              email: 'hank@globex.example',
              parent_id: globex!.id,
            })
          },
          { timeout: 30_000, interval: 100 },
        )

        // An edit in Odoo reaches the SQLite row; nothing was made twice on either side.
        await odoo.query(
          "UPDATE res_partner SET email = 'ada@acme.example' WHERE firstname = 'Ada'",
        )
        await vi.waitFor(
          () => {
            const ada = southRows().persons.find((row) => row.first_name === 'Ada')
            expect(ada?.email).toBe('ada@acme.example')
          },
          { timeout: 30_000, interval: 100 },
        )
        expect(await partners()).toHaveLength(4)
        expect(southRows().organizations).toHaveLength(2)
        expect(southRows().persons).toHaveLength(2)
        const objects = await callApi<{ items: unknown[] }>(north, 'GET', '/v1/objects?type=person')
        expect(objects.json.items).toHaveLength(2)

        // A person made a company in Odoo: the person is deleted (archived at B, the
        // default action for a peer's delete), and a company comes.
        await odoo.query(
          "UPDATE res_partner SET is_company = true, name = 'Lovelace Analytics' WHERE firstname = 'Ada'",
        )
        const archived = crm.prepare('SELECT first_name FROM persons WHERE archived = 1').pluck()
        await vi.waitFor(
          () => {
            const rows = southRows()
            expect(archived.all()).toEqual(['Ada'])
            expect(rows.organizations.map((row) => row.name).sort()).toEqual([
              'Acme AS',
              'Globex',
              'Lovelace Analytics',
            ])
          },
          { timeout: 30_000, interval: 100 },
        )
      } finally {
        await south?.daemon.stop()
        await north.daemon.stop()
        crm.close()
        await odoo.end()
      }
    },
  )
})
