// "Another program" writing to a SQLite file in a tight loop, as a CRM would while the
// daemon runs: each transaction reads, then writes (a deferred transaction, as most
// programs use), and commits. Usage: sqlite-writer.ts FILE MS — prints `writing`, then
// `done N` (transactions committed) after MS milliseconds.
import Database from 'better-sqlite3'

const [file, ms] = process.argv.slice(2)
const db = new Database(file)
db.pragma('busy_timeout = 5000')
db.exec('CREATE TABLE IF NOT EXISTS other_program(n INTEGER)')
const read = db.prepare('SELECT count(*) AS n FROM persons')
const write = db.prepare('INSERT INTO other_program(n) VALUES (?)')
const step = db.transaction(() => write.run((read.get() as { n: number }).n))
const until = Date.now() + Number(ms)
let done = 0
process.stdout.write('writing\n')
while (Date.now() < until) {
  step()
  done++
}
db.close()
process.stdout.write(`done ${done}\n`)
