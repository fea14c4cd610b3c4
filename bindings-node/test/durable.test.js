// Durability through JS (mirrors core/tests/durability.rs and the Python
// suite): open on a directory, restart, snapshots, the lock, typed errors for
// damage, expiry while down, reconciliation and the resumable ledger feed.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { u, T0, MIN, throwsCode } = require('./shop')

const made = []
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unistock-durable-'))
  made.push(dir)
  return dir
}
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

function shop(dir, clock, options = {}) {
  const e = u.Engine.open(dir, { clock, ledgerRetention: null, ...options })
  e.upsertLocation({ id: 'wh-1' })
  e.upsertLocation({ id: 'store-1', kind: 'store' })
  e.upsertChannel('web', ['wh-1', 'store-1'])
  return e
}

function state(e) {
  return [e.levels('tee', 'wh-1'), e.holdInfo('cart-1'), e.orderInfo('order-1'), e.kpis(), e.eventsSince(0, 10_000)]
}

const lastJournal = (dir) =>
  path.join(dir, fs.readdirSync(dir).filter((n) => n.startsWith('journal-')).sort().at(-1))

for (const mode of ['sync', 'interval:5', 'none']) {
  test(`a reopened engine has the state it had (${mode})`, () => {
    const dir = tmpdir()
    const clock = new u.ManualClock(T0)
    let e = shop(dir, clock, { durability: mode })
    assert.equal(e.durability, mode)
    e.receive('tee', 'wh-1', 10, { reason: 'po', reference: 'PO-1' })
    e.hold('cart-1', 'web', [['tee', 2]], 30 * MIN)
    e.hold('cart-2', 'web', [['tee', 1]], 30 * MIN)
    e.commit('cart-2', 'order-1')
    throwsCode(assert, () => e.hold('cart-3', 'web', [['tee', 99]]), 'E_INSUFFICIENT_STOCK')
    const before = state(e)
    e.close()
    e = u.Engine.open(dir, { clock, ledgerRetention: null, durability: mode })
    assert.deepEqual(state(e), before)
    const r = e.recovery
    assert.ok(r.recordsReplayed >= 8n)
    assert.equal(r.tornTailFile ?? null, null)
    assert.equal(r.eventsReplayed, e.lastSeq)
    // Idempotency survives the restart.
    assert.equal(e.hold('cart-1', 'web', [['tee', 2]], 30 * MIN).replayed, true)
    assert.equal(e.commit('cart-2', 'order-1').replayed, true)
    const seq = e.checkpoint()
    assert.equal(seq, e.lastSeq)
    e.close()
    const again = u.Engine.open(dir, { ledgerRetention: null })
    assert.equal(again.recovery.snapshotSeq, seq)
    again.close()
  })
}

test('an in-memory engine is not durable', () => {
  const e = new u.Engine()
  assert.equal(e.durability, null)
  assert.equal(e.recovery, null)
  e.flush()
  e.close()
  throwsCode(assert, () => e.checkpoint(), 'E_INVALID_ARGUMENT')
})

test('a second engine on the directory gets E_LOCKED, also from another process', () => {
  const dir = tmpdir()
  const e = u.Engine.open(dir)
  const err = throwsCode(assert, () => u.Engine.open(dir), 'E_LOCKED')
  assert.ok(err.path.startsWith(dir), err.path)
  const out = execFileSync(process.execPath, [
    '-e',
    `const u = require(${JSON.stringify(path.join(__dirname, '..'))});
     try { u.Engine.open(process.argv[1]) } catch (e) { console.log(e.code) }`,
    dir,
  ]).toString()
  assert.equal(out.trim(), 'E_LOCKED')
  e.close()
  throwsCode(assert, () => e.upsertLocation({ id: 'wh-9' }), 'E_STORAGE')
  u.Engine.open(dir).close()
})

test('damage in the middle of the journal is E_CORRUPT with file and offset', () => {
  const dir = tmpdir()
  const e = shop(dir, new u.ManualClock(T0))
  for (let i = 0; i < 20; i++) e.receive('tee', 'wh-1', 1, { reference: `PO-${i}` })
  e.close()
  const file = lastJournal(dir)
  const data = fs.readFileSync(file)
  data[data.length >> 1] ^= 0x40
  fs.writeFileSync(file, data)
  const err = throwsCode(assert, () => u.Engine.open(dir), 'E_CORRUPT')
  assert.ok(err.file.endsWith(path.basename(file)), err.file)
  assert.ok(err.offset > 0 && err.offset < data.length)
})

test('a torn tail is dropped and reported', () => {
  const dir = tmpdir()
  const clock = new u.ManualClock(T0)
  const e = shop(dir, clock)
  e.receive('tee', 'wh-1', 10)
  e.receive('tee', 'wh-1', 5)
  e.close()
  const file = lastJournal(dir)
  const data = fs.readFileSync(file)
  fs.writeFileSync(file, data.subarray(0, data.length - 3))
  const again = u.Engine.open(dir, { clock })
  assert.ok(again.recovery.tornTailFile.endsWith(path.basename(file)))
  assert.equal(again.levels('tee', 'wh-1').onHand, 10)
  again.close()
})

test('holds due while the engine was down expire at their own time', () => {
  const dir = tmpdir()
  const clock = new u.ManualClock(T0)
  const e = shop(dir, clock)
  e.receive('tee', 'wh-1', 5)
  e.hold('cart-1', 'web', [['tee', 2]], 10 * MIN)
  e.close()
  clock.advance(60 * MIN)
  const again = u.Engine.open(dir, { clock })
  assert.equal(again.recovery.expiredOnOpen, 1)
  const info = again.holdInfo('cart-1')
  assert.equal(info.state, 'expired')
  assert.equal(info.endedAt.getTime(), T0.getTime() + 10 * MIN)
  assert.equal(again.availability('web', 'tee'), 5)
  again.close()
})

test('reconcile an ERP count as of a time', () => {
  const dir = tmpdir()
  const clock = new u.ManualClock(T0)
  const e = shop(dir, clock)
  e.receive('tee', 'wh-1', 10)
  e.hold('cart-1', 'web', [['tee', 2]], 60 * MIN, { pool: false })
  clock.advance(10 * MIN) // the ERP counts 8 here
  const countedAt = clock.now()
  clock.advance(5 * MIN)
  e.tillSale('sale-1', 'web', [['tee', 1, 'wh-1']])
  clock.advance(5 * MIN)
  const r = e.reconcile('tee', 'wh-1', 8, countedAt, { reference: 'ERP-1' })
  assert.equal(r.changesAfter, -1)
  assert.equal(r.report.variance, -2)
  assert.equal(r.report.levels.onHand, 7)
  assert.equal(r.report.levels.reserved, 2)
  assert.equal(r.superseded, false)
  const last = e.eventsSince(e.lastSeq - 1n).at(-1)
  assert.deepEqual([last.kind, last.reason, last.reference], ['reconciled', 'reconcile', 'ERP-1'])
  throwsCode(assert, () => e.reconcile('tee', 'wh-1', 8, 'yesterday'), 'E_INVALID_ARGUMENT')
  e.close()
})

test('the newest count wins and a retried reconcile changes nothing', () => {
  const dir = tmpdir()
  const clock = new u.ManualClock(T0)
  let e = shop(dir, clock)
  e.receive('tee', 'wh-1', 10)
  clock.advance(10 * MIN) // the ERP counts 8 here
  const countedAt = clock.now()
  clock.advance(5 * MIN)
  e.receive('tee', 'wh-1', 3)
  clock.advance(5 * MIN)
  const outcome = (r) => [r.report.levels.onHand, r.report.variance, r.superseded]
  assert.deepEqual(outcome(e.reconcile('tee', 'wh-1', 8, countedAt)), [11, -2, false])
  // The ERP retries the message: nothing more changes.
  assert.deepEqual(outcome(e.reconcile('tee', 'wh-1', 8, countedAt)), [11, 0, false])
  e.close()
  e = u.Engine.open(dir, { clock, ledgerRetention: null })
  // After a restart, a count as of an earlier time tells nothing new.
  const seq = e.lastSeq
  const earlier = new Date(countedAt.getTime() - MIN)
  assert.deepEqual(outcome(e.reconcile('tee', 'wh-1', 30, earlier)), [11, 0, true])
  assert.equal(e.lastSeq, seq)
  // A count in the store after the ERP's time wins over the ERP's.
  clock.advance(MIN)
  e.count('tee', 'wh-1', 6)
  const before = new Date(clock.now().getTime() - MIN / 2)
  assert.equal(e.reconcile('tee', 'wh-1', 50, before).superseded, true)
  assert.equal(e.levels('tee', 'wh-1').onHand, 6)
  e.close()
})

test('the ledger feed resumes after a restart without gaps or repeats', async () => {
  const dir = tmpdir()
  const clock = new u.ManualClock(T0)
  let e = shop(dir, clock)
  const seen = []
  const sub = e.subscribeFrom(0, (batch) => seen.push(...batch.map((x) => x.seq)))
  for (let i = 0; i < 5; i++) e.receive('tee', 'wh-1', 1)
  await new Promise((r) => setImmediate(r))
  const upto = e.lastSeq
  assert.deepEqual(seen, Array.from({ length: Number(upto) }, (_, i) => BigInt(i + 1)))
  const processed = seen.at(-2)
  e.receive('tee', 'wh-1', 1)
  const total = e.lastSeq
  e.unsubscribe(sub)
  e.close()
  e = u.Engine.open(dir, { clock })
  const again = []
  const sub2 = e.subscribeFrom(processed, (batch) => again.push(...batch.map((x) => x.seq)))
  e.receive('tee', 'wh-1', 1)
  await new Promise((r) => setImmediate(r))
  const want = []
  for (let s = processed + 1n; s <= e.lastSeq; s++) want.push(s)
  assert.deepEqual(again, want)
  assert.ok(total < e.lastSeq)
  throwsCode(assert, () => e.subscribeFrom(e.lastSeq + 10n, () => {}), 'E_INVALID_ARGUMENT')
  throwsCode(assert, () => e.subscribeFrom(0, 42), 'E_INVALID_ARGUMENT')
  throwsCode(assert, () => e.subscribeFrom(-1, () => {}), 'E_INVALID_ARGUMENT')
  e.unsubscribe(sub2)
  e.close()
})

test('bad modes, paths and options are refused', () => {
  for (const bad of ['fast', 'interval:0', 'interval:x', '', 'SYNC', 5, null]) {
    if (bad === null) continue
    throwsCode(assert, () => u.Engine.open(tmpdir(), { durability: bad }), 'E_INVALID_ARGUMENT')
  }
  for (const bad of [5, null, undefined, 1.5, ['a'], {}]) {
    throwsCode(assert, () => u.Engine.open(bad), 'E_INVALID_ARGUMENT')
  }
  throwsCode(assert, () => u.Engine.open(tmpdir(), { snapshotBytes: -1 }), 'E_INVALID_ARGUMENT')
  throwsCode(assert, () => u.Engine.open(tmpdir(), 'sync'), 'E_INVALID_ARGUMENT')
})

test('bulkLoad checks first, reports progress and survives a restart', () => {
  const dir = tmpdir()
  const clock = new u.ManualClock(T0)
  let e = shop(dir, clock)
  const records = []
  for (let i = 0; i < 40_000; i++) records.push([`bulk-${i}`, 'wh-1', 2], [`bulk-${i}`, 'store-1', 2])
  throwsCode(assert, () => e.bulkLoad([...records, ['x', 'nowhere', 1]]), 'E_UNKNOWN_LOCATION')
  throwsCode(assert, () => e.bulkLoad([...records, ['x', 'wh-1', 0]]), 'E_INVALID_QUANTITY')
  assert.deepEqual(e.skus(), [])
  const seen = []
  const report = e.bulkLoad(records, { reason: 'opening_stock', progress: (done, total) => seen.push([done, total]) })
  assert.deepEqual(report, { records: 80_000, skusCreated: 40_000 })
  assert.deepEqual(seen.at(-1), [80_000, 80_000])
  assert.equal(seen.length, 2)
  assert.equal(e.availability('web', 'bulk-39999'), 4)
  assert.equal(e.eventsSince(e.lastSeq - 1n).at(-1).reason, 'opening_stock')
  const before = e.levels('bulk-7', 'store-1')
  e.close()
  e = u.Engine.open(dir, { clock })
  assert.deepEqual(e.levels('bulk-7', 'store-1'), before)
  // A throwing progress callback is not called again; its error comes out after the load.
  let calls = 0
  assert.throws(
    () => e.bulkLoad(records, { progress: () => { calls++; throw new Error('stop') } }),
    /stop/,
  )
  assert.equal(calls, 1)
  assert.equal(e.availability('web', 'bulk-0'), 8)
  e.close()
})

test('bulkLoad bad input', () => {
  const e = new u.Engine()
  e.upsertLocation({ id: 'wh-1' })
  for (const bad of [null, 5, 'abc', [['a', 'wh-1']], [{ sku: 'a' }], [['a', 'wh-1', -1]], [['a', 'wh-1', 1.5]], [[1, 'wh-1', 1]]]) {
    assert.throws(() => e.bulkLoad(bad), (err) => err.code === 'E_INVALID_ARGUMENT' || err.code === 'E_INVALID_QUANTITY', String(bad))
  }
  throwsCode(assert, () => e.bulkLoad([], { progress: 3 }), 'E_INVALID_ARGUMENT')
  assert.deepEqual(e.skus(), [])
})

test('holdBatchAsync on a sync engine waits for its fsync off the main thread; the holds survive', async () => {
  const dir = tmpdir()
  let e = u.Engine.open(dir, { durability: 'sync', ledgerRetention: null })
  e.upsertLocation({ id: 'wh-1' })
  e.upsertChannel('web', ['wh-1'])
  e.receive('tee', 'wh-1', 100)
  const batches = []
  for (let b = 0; b < 4; b++) {
    batches.push(e.holdBatchAsync(Array.from({ length: 40 }, (_, i) => ({ id: `b${b}-${i}`, channel: 'web', lines: [['tee', 1]] }))))
  }
  const results = (await Promise.all(batches)).flat()
  const granted = results.filter((r) => !(r instanceof Error))
  assert.equal(granted.length, 100)
  assert.ok(results.filter((r) => r instanceof Error).every((r) => r.code === 'E_INSUFFICIENT_STOCK'))
  const kpis = e.kpis()
  e.close()
  e = u.Engine.open(dir, { ledgerRetention: null })
  assert.equal(e.availability('web', 'tee'), 0)
  assert.deepEqual(e.kpis(), kpis)
  assert.equal(e.verifyLedger(), true)
  e.close()
})
