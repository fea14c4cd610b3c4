// The core behaviours through JS (mirrors core/tests/operations.rs and the
// Python suite).
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { u, T0, MIN, makeShop, throwsCode } = require('./shop')

test('receive creates the SKU; levels and the ledger read back', () => {
  const { e } = makeShop()
  const lv = e.receive('tee', 'wh-1', 10, { reason: 'po_receipt', reference: 'PO-1' })
  assert.equal(lv.onHand, 10)
  assert.deepEqual(e.levels('tee', 'wh-1'), lv)
  assert.equal(e.atp('tee', 'wh-1'), 10)
  assert.deepEqual(e.skus(), [{ sku: 'tee', unitScale: 0 }])
  const last = e.eventsSince(0).at(-1)
  assert.deepEqual([last.kind, last.sku, last.location, last.qty, last.reason, last.reference], ['received', 'tee', 'wh-1', 10, 'po_receipt', 'PO-1'])
  assert.equal(last.at.getTime(), T0.getTime())
  assert.equal(typeof last.seq, 'bigint')
})

test('decimal SKUs take exact quantities as strings', () => {
  const { e } = makeShop()
  e.declareSku('rope', 2)
  assert.equal(e.receive('rope', 'wh-1', '12.50').onHand, '12.50')
  const r = e.hold('h', 'web', [['rope', '0.25']])
  assert.equal(r.parts[0].qty, '0.25')
  assert.equal(e.availability('web', 'rope'), '12.25')
  const err = throwsCode(assert, () => e.hold('h2', 'web', [['rope', '0.001']]), 'E_INVALID_QUANTITY')
  assert.equal(err.problem, 'too_many_decimals')
  throwsCode(assert, () => e.declareSku('rope', 3), 'E_ID_CONFLICT')
})

test('count reports variance and shortage; conditions and safety', () => {
  const { e } = makeShop()
  e.receive('tee', 'store-1', 5)
  e.hold('h', 'till:store-1', [['tee', 3, 'store-1']])
  const rep = e.count('tee', 'store-1', 2, { reference: 'CNT-1' })
  assert.deepEqual([rep.variance, rep.shortage, rep.levels.onHand], [-3, 1, 2])
  assert.equal(e.kpis().shortages, 1n)
  e.receive('tee', 'wh-1', 10)
  assert.equal(e.markUnsellable('tee', 'wh-1', 3, 'damaged').available, 7)
  const lv = e.writeOff('tee', 'wh-1', 2, 'damaged')
  assert.deepEqual([lv.onHand, lv.damaged], [8, 1])
  assert.equal(e.restoreSellable('tee', 'wh-1', 1, 'damaged').available, 8)
  assert.equal(e.setSafety('tee', 'wh-1', 2).available, 6)
  throwsCode(assert, () => e.markUnsellable('tee', 'wh-1', 1, 'stolen'), 'E_INVALID_ARGUMENT')
})

test('expected receipts and transfers', () => {
  const { e } = makeShop()
  e.declareSku('tee')
  const due = new Date(T0.getTime() + 2 * 86_400_000)
  e.expectReceipt('tee', 'wh-1', 20, due, 'PO-9')
  assert.deepEqual(e.expectedReceipts('tee', 'wh-1'), [{ reference: 'PO-9', qty: 20, due }])
  e.receive('tee', 'wh-1', 20, { reference: 'PO-9' })
  assert.equal(e.levels('tee', 'wh-1').incoming, 0)
  let t = e.dispatchTransfer('T1', 'tee', 'wh-1', 'store-1', 4)
  assert.deepEqual([t.state, t.qty, t.received], ['in_transit', 4, 0])
  t = e.receiveTransfer('T1', 1)
  assert.equal(e.levels('tee', 'store-1').onHand, 1)
  const over = throwsCode(assert, () => e.receiveTransfer('T1', 5), 'E_EXCEEDS_OPEN_QUANTITY')
  assert.deepEqual([over.kind, over.id, over.remaining], ['transfer', 'T1', 3])
  assert.equal(over.message, 'transfer `T1` has 3 of `tee` open, 5 requested')
  t = e.cancelTransfer('T1')
  assert.equal(t.state, 'cancelled')
  assert.equal(e.levels('tee', 'wh-1').onHand, 19)
  throwsCode(assert, () => e.receiveTransfer('T1'), 'E_TRANSFER_NOT_OPEN')
})

test('channel buffers, caps and the store locator', () => {
  const { e } = makeShop()
  e.receive('tee', 'wh-1', 10)
  e.receive('tee', 'store-1', 2)
  assert.equal(e.availability('web', 'tee'), 12)
  assert.equal(e.availability('market', 'tee'), 3)
  e.upsertChannel('app', ['wh-1'], { safetyUnits: 2, holdbackPercent: '10' })
  assert.equal(e.availability('app', 'tee'), 7)
  assert.deepEqual(e.availabilityMany('web', ['tee', 'tee']), [12, 12])
  const by = Object.fromEntries(e.availabilityByLocation('web', 'tee').map((a) => [a.location, a.available]))
  assert.deepEqual(by, { 'wh-1': 10, 'wh-2': 0, 'store-1': 2 })
  throwsCode(assert, () => e.upsertChannel('x', ['wh-1'], { capUnits: 1, capPercent: 5 }), 'E_INVALID_ARGUMENT')
})

test('holds fill in channel order, all lines or none, idempotently', () => {
  const { e } = makeShop()
  e.receive('tee', 'wh-1', 2)
  e.receive('tee', 'store-1', 5)
  e.receive('cap', 'wh-2', 1)
  const r = e.hold('h1', 'web', [{ sku: 'tee', qty: 4 }], 15 * MIN, { pool: false })
  assert.deepEqual(r.parts.map((p) => [p.location, p.qty]), [['wh-1', 2], ['store-1', 2]])
  assert.equal(r.expiresAt.getTime(), T0.getTime() + 15 * MIN)
  const before = e.lastSeq
  const err = throwsCode(assert, () => e.hold('h2', 'web', [['tee', 1], ['cap', 2]]), 'E_INSUFFICIENT_STOCK')
  assert.deepEqual([err.sku, err.requested, err.available, err.channel], ['cap', 2, 1, 'web'])
  assert.equal(e.lastSeq, before)
  assert.equal(e.kpis().oversellsPrevented, 1n)
  assert.equal(e.hold('h1', 'web', [['tee', 4]], 15 * MIN, { pool: false }).replayed, true)
  throwsCode(assert, () => e.hold('h1', 'web', [['tee', 3]]), 'E_ID_CONFLICT')
})

test('pinned lines, closed locations and channel membership', () => {
  const { e } = makeShop()
  e.receive('tee', 'store-2', 5)
  e.receive('tee', 'store-1', 5)
  throwsCode(assert, () => e.hold('h', 'web', [['tee', 1, 'store-2']]), 'E_LOCATION_NOT_IN_CHANNEL')
  e.setLocationClosed('store-1', true)
  throwsCode(assert, () => e.hold('h', 'web', [['tee', 1, 'store-1']]), 'E_LOCATION_CLOSED')
  assert.equal(e.locations().find((l) => l.id === 'store-1').closed, true)
  e.setLocationClosed('store-1', false)
  e.removeLocationFromChannel('web', 'store-1')
  throwsCode(assert, () => e.hold('h', 'web', [['tee', 1, 'store-1']]), 'E_LOCATION_NOT_IN_CHANNEL')
})

test('expiry frees stock before any sweep; extend and release', () => {
  const { e, clock } = makeShop()
  e.receive('tee', 'wh-1', 1)
  e.hold('h', 'web', [['tee', 1]], MIN)
  throwsCode(assert, () => e.hold('h2', 'web', [['tee', 1]], MIN), 'E_INSUFFICIENT_STOCK')
  clock.advance(MIN)
  assert.equal(e.availability('web', 'tee'), 1)
  assert.equal(e.holdInfo('h').state, 'expired')
  assert.equal(throwsCode(assert, () => e.commit('h', 'o'), 'E_HOLD_NOT_ACTIVE').state, 'expired')
  e.hold('h3', 'web', [['tee', 1]], MIN)
  assert.equal(e.extendHold('h3', 10 * MIN).getTime(), T0.getTime() + 11 * MIN)
  e.release('h3')
  e.release('h3')
  assert.equal(e.holdInfo('h3').state, 'released')
  throwsCode(assert, () => e.release('nope'), 'E_UNKNOWN_HOLD')
  e.hold('h4', 'web', [['tee', 1]], MIN)
  assert.equal(e.expireDue(new Date(T0.getTime() + 5 * MIN)), 1)
})

test('commit, fulfil, cancel and till sales', () => {
  const { e } = makeShop()
  e.receive('tee', 'wh-1', 10)
  e.hold('h', 'web', [['tee', 4]])
  const o = e.commit('h', 'o-1')
  assert.deepEqual(o.allocations.map((p) => [p.location, p.qty]), [['wh-1', 4]])
  assert.equal(e.commit('h', 'o-1').replayed, true)
  assert.equal(e.fulfil('o-1', [['tee', 1]]).lines[0].fulfilled, 1)
  assert.equal(e.cancel('o-1', [['tee', 1, 'wh-1']]).lines[0].cancelled, 1)
  const over = throwsCode(assert, () => e.fulfil('o-1', [['tee', 5]]), 'E_EXCEEDS_OPEN_QUANTITY')
  assert.deepEqual([over.kind, over.id, over.remaining], ['order', 'o-1', 2])
  const info = e.cancelOrder('o-1')
  assert.equal(info.state, 'completed')
  assert.deepEqual(e.orderInfo('o-1'), info)
  e.receive('tee', 'store-1', 2)
  assert.equal(e.tillSale('s1', 'till:store-1', [['tee', 2]]).allocations[0].location, 'store-1')
  throwsCode(assert, () => e.tillSale('s2', 'till:store-1', [['tee', 1]]), 'E_INSUFFICIENT_STOCK')
  assert.equal(e.kpis().tillSales, 1n)
  e.receive('tee', 'store-1', 1)
  e.setLocationClosed('store-1', true)
  assert.equal(throwsCode(assert, () => e.tillSale('s3', 'till:store-1', [['tee', 1]]), 'E_LOCATION_CLOSED').location, 'store-1')
})

test('closed orders are purged after orderRetentionMs; open ones stay', () => {
  const { e, clock } = makeShop({ orderRetentionMs: 10 * MIN })
  e.receive('tee', 'store-1', 5)
  e.tillSale('s1', 'till:store-1', [['tee', 1]])
  e.hold('h', 'web', [['tee', 1, 'store-1']])
  e.commit('h', 'o1')
  clock.advance(10 * MIN - 1)
  assert.equal(e.tillSale('s1', 'till:store-1', [['tee', 1]]).replayed, true)
  clock.advance(1)
  throwsCode(assert, () => e.orderInfo('s1'), 'E_UNKNOWN_ORDER')
  assert.equal(e.tillSale('s1', 'till:store-1', [['tee', 1]]).replayed, false, 'the id is free again')
  assert.equal(e.orderInfo('o1').state, 'open', 'open orders stay')
  e.fulfil('o1', [['tee', 1]])
  clock.advance(10 * MIN)
  throwsCode(assert, () => e.orderInfo('o1'), 'E_UNKNOWN_ORDER')
  for (const bad of [0, -1, 1.5, NaN, '600000', 2 ** 64]) {
    throwsCode(assert, () => new u.Engine({ orderRetentionMs: bad }), 'E_INVALID_ARGUMENT')
  }
})

test('ended transfers are purged after transferRetentionMs; open ones stay', () => {
  const { e, clock } = makeShop({ transferRetentionMs: 10 * MIN })
  e.receive('tee', 'wh-1', 10)
  e.dispatchTransfer('t-in', 'tee', 'wh-1', 'store-1', 2)
  e.receiveTransfer('t-in')
  e.dispatchTransfer('t-out', 'tee', 'wh-1', 'store-1', 2)
  e.cancelTransfer('t-out')
  e.dispatchTransfer('t-open', 'tee', 'wh-1', 'store-1', 2)
  clock.advance(10 * MIN - 1)
  assert.equal(e.dispatchTransfer('t-in', 'tee', 'wh-1', 'store-1', 2).state, 'received', 'a retry returns it')
  assert.equal(e.transferInfo('t-out').state, 'cancelled')
  clock.advance(1)
  for (const t of ['t-in', 't-out']) throwsCode(assert, () => e.transferInfo(t), 'E_UNKNOWN_TRANSFER')
  assert.equal(e.dispatchTransfer('t-in', 'tee', 'wh-1', 'store-1', 2).state, 'in_transit', 'the id is free again')
  clock.advance(30 * 24 * 60 * MIN)
  assert.equal(e.transferInfo('t-open').state, 'in_transit', 'open transfers stay')
  for (const bad of [0, -1, 1.5, NaN, '600000', 2 ** 64]) {
    throwsCode(assert, () => new u.Engine({ transferRetentionMs: bad }), 'E_INVALID_ARGUMENT')
  }
})

test('batches return outcomes as values, sync and async', async () => {
  const { e } = makeShop()
  e.receive('tee', 'wh-1', 3)
  const out = e.holdBatch([
    { id: 'a', channel: 'web', lines: [['tee', 2]] },
    { id: 'b', channel: 'web', lines: [['tee', 2]], ttlMs: 5 * MIN },
    { id: 'c', channel: 'nowhere', lines: [['tee', 1]] },
    { id: 'd', channel: 'web', lines: [['tee', 1]] },
  ])
  assert.equal(out[0].hold, 'a')
  assert.ok(out[1] instanceof Error)
  assert.equal(out[1].code, 'E_INSUFFICIENT_STOCK')
  assert.equal(out[2].code, 'E_UNKNOWN_CHANNEL')
  assert.equal(out[3].hold, 'd')
  const rel = e.releaseBatch(['a', 'zzz'])
  assert.equal(rel[0], null)
  assert.equal(rel[1].code, 'E_UNKNOWN_HOLD')
  const com = e.commitBatch([['d', 'o-d'], ['a', 'o-a']])
  assert.equal(com[0].order, 'o-d')
  assert.equal(com[1].code, 'E_HOLD_NOT_ACTIVE')
  const asyncOut = await e.holdBatchAsync([{ id: 'x', channel: 'web', lines: [['tee', 2]] }, { id: 'y', channel: 'web', lines: [['tee', 1]] }])
  assert.equal(asyncOut[0].hold, 'x')
  assert.equal(asyncOut[1].code, 'E_INSUFFICIENT_STOCK')
  assert.deepEqual(await e.releaseBatchAsync(['x']), [null])
  e.hold('z', 'web', [['tee', 1]])
  const committed = await e.commitBatchAsync([['z', 'o-z'], ['x', 'o-x']])
  assert.equal(committed[0].order, 'o-z')
  assert.equal(committed[1].code, 'E_HOLD_NOT_ACTIVE')
  throwsCode(assert, () => e.holdBatch([{ id: 'x', channel: 'web' }]), 'E_INVALID_ARGUMENT')
  throwsCode(assert, () => e.holdBatchAsync('nope'), 'E_INVALID_ARGUMENT')
})

test('ledger reads, truncation and snapshot round trip', () => {
  const { e, clock } = makeShop()
  e.receive('tee', 'wh-1', 5)
  e.hold('h', 'web', [['tee', 2]])
  assert.deepEqual(e.eventsSince(0n, 2).map((x) => x.seq), [1n, 2n])
  assert.equal(e.verifyLedger(), true)
  const data = e.snapshot()
  const f = u.Engine.restore(data, { clock, ledgerRetention: null })
  assert.deepEqual(f.levels('tee', 'wh-1'), e.levels('tee', 'wh-1'))
  assert.deepEqual(f.holdInfo('h'), e.holdInfo('h'))
  assert.ok(f.snapshot().equals(data))
  throwsCode(assert, () => u.Engine.restore(Buffer.from('{}')), 'E_INVALID_ARGUMENT')
  const small = new u.Engine({ ledgerRetention: 2 })
  small.upsertLocation({ id: 'w' })
  // At least the newest 2 are kept; older events go a chunk at a time.
  for (let i = 0; i < 300; i++) small.receive('s', 'w', 1)
  assert.ok(throwsCode(assert, () => small.eventsSince(0), 'E_LEDGER_TRUNCATED').oldest > 0n)
})

test('subscribers get changes on the event loop and may call back', async () => {
  const { e } = makeShop()
  const seen = []
  let resolve
  const done = new Promise((r) => (resolve = r))
  const sub = e.subscribe((changes) => {
    for (const c of changes) seen.push([c.kind, c.channel ?? null, c.sku])
    e.availability('web', 'tee') // re-entrant call
    if (changes.some((c) => c.kind === 'out_of_stock')) resolve()
  })
  e.receive('tee', 'wh-1', 1)
  e.hold('h', 'web', [['tee', 1]])
  await done
  assert.ok(seen.some((s) => s[0] === 'back_in_stock' && s[1] === 'web'))
  assert.ok(seen.some((s) => s[0] === 'stock_changed'))
  assert.equal(e.unsubscribe(sub), true)
  assert.equal(e.unsubscribe(sub), false)
  throwsCode(assert, () => e.subscribe(42), 'E_INVALID_ARGUMENT')
})

// A snapshot's bytes are V8's own copy. When they were a buffer of ours
// handed over, V8 freed it from its sweeper thread and mimalloc moved the
// page to that thread's heap, where it was never reused: every call leaked
// the snapshot's size (200 calls of a 9 MB snapshot: 2.2 GB resident).
test('repeated snapshots do not grow the process', () => {
  const e = new u.Engine()
  e.upsertLocation({ id: 'wh-1' })
  e.bulkLoad(Array.from({ length: 10000 }, (_, i) => [`sku-${i}`, 'wh-1', 5]))
  const size = e.snapshot().length
  for (let i = 0; i < 5; i++) e.snapshot()
  const before = process.memoryUsage().rss
  const calls = 60
  for (let i = 0; i < calls; i++) e.snapshot()
  const grown = process.memoryUsage().rss - before
  // Leaking, it grows by calls x size (about 270 MB); kept, by a few
  // snapshots at most, whatever the garbage collector has not yet freed.
  assert.ok(grown < (calls * size) / 3, `grew ${grown} bytes over ${calls} snapshots of ${size}`)
})

// A callback's exception is Node's, not the engine's: it cannot undo the
// change (the call returned before the callback ran) and later changes are
// still delivered. Run in a child process: the exception is uncaught.
test('a throwing subscriber is an uncaught exception and the feed goes on', () => {
  const script = `
    const u = require(${JSON.stringify(require('node:path').join(__dirname, '..'))})
    const caught = []
    process.on('uncaughtException', (err) => caught.push(err.message))
    const e = new u.Engine()
    e.upsertLocation({ id: 'wh' })
    const seqs = []
    const a = e.subscribe(() => { throw new Error('changes') })
    const b = e.subscribeFrom(0, (batch) => {
      seqs.push(...batch.map((x) => Number(x.seq)))
      throw new Error('entries')
    })
    const first = e.receive('tee', 'wh', 1).onHand
    setTimeout(() => {
      const second = e.receive('tee', 'wh', 2).onHand
      setTimeout(() => {
        e.unsubscribe(a); e.unsubscribe(b)
        console.log(JSON.stringify({ first, second, onHand: e.levels('tee', 'wh').onHand, caught, seqs, last: Number(e.lastSeq) }))
      }, 50)
    }, 50)
  `
  const r = require('node:child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const got = JSON.parse(r.stdout)
  assert.deepEqual([got.first, got.second, got.onHand], [1, 3, 3])
  // Entries: the one already in the ledger (the location), then each receipt's.
  assert.deepEqual(got.caught.sort(), ['changes', 'changes', 'entries', 'entries', 'entries'])
  assert.deepEqual(got.seqs, Array.from({ length: got.last }, (_, i) => i + 1))
})
