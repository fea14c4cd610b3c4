// Routing through JS (mirrors core/tests/routing.rs and the Python suite):
// strategies, constraints, click & collect, explanations, scorers, errors.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { u, T0, throwsCode } = require('./shop')

const DAY = 86_400_000
const PARIS = { lat: 48.85, lon: 2.35, country: 'FR' }

function retailer() {
  const e = new u.Engine({ clock: new u.ManualClock(T0) })
  e.upsertLocation({ id: 'lyon', lat: 45.76, lon: 4.84, priority: 1, costPerShipment: '5.00', costPerUnit: '0.50' })
  e.upsertLocation({ id: 'lille', lat: 50.63, lon: 3.06, priority: 5, costPerShipment: '7.00', costPerUnit: '0.20' })
  e.upsertLocation({ id: 'paris-ship', kind: 'store', ships: true, lat: 48.86, lon: 2.35, costPerShipment: '9.00', costPerUnit: '1.00' })
  e.upsertLocation({ id: 'paris-store', kind: 'store', ships: false, lat: 48.87, lon: 2.33 })
  e.upsertLocation({ id: 'closed-wh', lat: 48.9, lon: 2.4, priority: 99 })
  e.setLocationClosed('closed-wh', true)
  e.upsertChannel('web', ['lyon', 'lille', 'paris-ship', 'paris-store', 'closed-wh'])
  return e
}

const where = (p) => p.shipments.map((s) => s.location)

test('priority wins and every candidate is explained', () => {
  const e = retailer()
  for (const loc of ['lyon', 'lille', 'paris-ship', 'closed-wh']) e.receive('tee', loc, 10)
  const p = e.route('web', [['tee', 2]], { shipTo: PARIS, strategies: ['priority'] })
  assert.deepEqual(where(p), ['lille'])
  assert.deepEqual(p.shipments[0].lines, [{ sku: 'tee', qty: 2 }])
  assert.match(p.shipments[0].why, /ranked #1.*priority/)
  assert.equal(p.shipments[0].promisedAt.getTime(), T0.getTime())
  const by = Object.fromEntries(p.candidates.map((c) => [c.location, c]))
  assert.deepEqual([by.lille.rank, by.lyon.rank], [1, 2])
  assert.equal(by['closed-wh'].excluded, 'closed')
  assert.equal(by['paris-store'].excluded, 'does not ship')
})

test('nearest picks the store that ships; costs are exact decimal strings', () => {
  const e = retailer()
  for (const loc of ['lyon', 'lille', 'paris-ship']) e.receive('tee', loc, 10)
  assert.deepEqual(where(e.route('web', [['tee', 1]], { shipTo: PARIS, strategies: ['nearest'] })), ['paris-ship'])
  const p = e.route('web', [['tee', 4]], { shipTo: PARIS, strategies: ['lowest_cost'] })
  assert.deepEqual(where(p), ['lyon'])
  assert.equal(p.totalCost, '7')
  const km = e.route('web', [['tee', 4]], { shipTo: PARIS, strategies: ['lowest_cost'], costPerKm: '0.01' })
  assert.deepEqual(where(km), ['lille'])
})

test('split, no split, fewest shipments and max shipments', () => {
  const e = retailer()
  e.receive('tee', 'lille', 3)
  e.receive('tee', 'lyon', 10)
  const p = e.route('web', [['tee', 5]], { shipTo: PARIS, strategies: ['priority'] })
  assert.deepEqual(p.shipments.map((s) => [s.location, s.lines[0].qty]), [['lille', 3], ['lyon', 2]])
  assert.deepEqual(where(e.route('web', [['tee', 5]], { shipTo: PARIS, allowSplit: false })), ['lyon'])
  e.receive('cap', 'paris-ship', 1)
  const err = throwsCode(assert, () => e.route('web', [['tee', 5], ['cap', 1]], { shipTo: PARIS, allowSplit: false }), 'E_NO_ROUTE')
  assert.match(err.reason, /split/)
  throwsCode(assert, () => e.route('web', [['tee', 5], ['cap', 1]], { shipTo: PARIS, maxShipments: 1 }), 'E_NO_ROUTE')
  e.receive('cap', 'lyon', 1)
  const few = e.route('web', [['tee', 1], ['cap', 1]], { shipTo: PARIS, strategies: ['fewest_shipments', 'priority'] })
  assert.deepEqual(where(few), ['lyon'])
})

test('shortfalls fail, go partial or backorder against expected receipts', () => {
  const e = retailer()
  e.receive('tee', 'lyon', 2)
  const err = throwsCode(assert, () => e.route('web', [['tee', 5]], { shipTo: PARIS }), 'E_INSUFFICIENT_STOCK')
  assert.deepEqual([err.requested, err.available], [5, 2])
  assert.deepEqual(e.route('web', [['tee', 5]], { shipTo: PARIS, allowPartial: true }).unfilled, [{ sku: 'tee', qty: 3 }])
  e.expectReceipt('tee', 'lille', 10, new Date(T0.getTime() + 5 * DAY), 'PO-1')
  const p = e.route('web', [['tee', 5]], { shipTo: PARIS, allowBackorder: true })
  assert.deepEqual(p.shipments.map((s) => [s.location, s.backorder]), [['lyon', false], ['lille', true]])
  assert.equal(p.shipments[1].promisedAt.getTime(), T0.getTime() + 5 * DAY)
})

test('click & collect from the store or by transfer; reserve and till use the store', () => {
  const e = retailer()
  e.receive('tee', 'paris-store', 2)
  e.receive('tee', 'lyon', 10)
  const p = e.route('web', [['tee', 4]], { collectAt: 'paris-store', strategies: ['nearest'] })
  assert.deepEqual(where(p), ['paris-store', 'lyon'])
  assert.equal(p.shipments[0].transferTo, undefined)
  assert.equal(p.shipments[1].transferTo, 'paris-store')
  assert.equal(p.shipments[1].promisedAt.getTime(), T0.getTime() + 2 * DAY)
  assert.deepEqual(where(e.route('web', [['tee', 1]], { reserveAt: 'paris-store', reserveHours: 48 })), ['paris-store'])
  throwsCode(assert, () => e.route('web', [['tee', 3]], { reserveAt: 'paris-store' }), 'E_INSUFFICIENT_STOCK')
  assert.deepEqual(where(e.route('web', [['tee', 1]], { till: 'paris-store' })), ['paris-store'])
})

test('a scorer function ranks, may call back, and what it throws comes out', () => {
  const e = retailer()
  e.receive('tee', 'lyon', 5)
  e.receive('tee', 'lille', 5)
  const seen = []
  const preferLyon = (c) => {
    seen.push(c.location)
    e.levels('tee', 'lyon') // re-entrant: no engine lock is held
    return c.location === 'lyon' ? 10 : 0
  }
  const p = e.route('web', [['tee', 1]], { shipTo: PARIS, strategies: [preferLyon, 'priority'] })
  assert.deepEqual(where(p), ['lyon'])
  assert.match(p.shipments[0].why, /custom/)
  assert.equal(p.candidates.find((c) => c.location === 'lyon').customScore, 10)
  assert.equal(seen.length, 5)
  class Boom extends Error {}
  assert.throws(() => e.route('web', [['tee', 1]], { shipTo: PARIS, strategies: [() => { throw new Boom('no') }] }), Boom)
  throwsCode(assert, () => e.route('web', [['tee', 1]], { shipTo: PARIS, strategies: [() => 'high'] }), 'E_INVALID_ARGUMENT')
  throwsCode(assert, () => e.route('web', [['tee', 1]], { shipTo: PARIS, strategies: [() => NaN] }), 'E_INVALID_ARGUMENT')
  // The engine still works after a scorer threw.
  assert.deepEqual(where(e.route('web', [['tee', 1]], { shipTo: PARIS })), ['lille'])
})

test('routing changes nothing', () => {
  const e = retailer()
  e.receive('tee', 'lyon', 10)
  const [seq, lv] = [e.lastSeq, e.levels('tee', 'lyon')]
  e.route('web', [['tee', 3]], { shipTo: PARIS })
  assert.deepEqual([e.lastSeq, e.levels('tee', 'lyon')], [seq, lv])
})

const BAD = [
  [{}, 'E_INVALID_ARGUMENT'],
  [null, 'E_INVALID_ARGUMENT'],
  ['ship', 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, till: 'paris-store' }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: { lat: 91, lon: 0, country: 'FR' } }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: { lat: 48 } }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: { lat: '48', lon: 2, country: 'FR' } }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: { lat: NaN, lon: 2, country: 'FR' } }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, strategies: ['fastest'] }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, strategies: [1] }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, strategies: 'priority' }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, allowSplit: 1 }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, maxShipments: 0 }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, maxShipments: -1 }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, maxShipments: 1.5 }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, costPerKm: '-1' }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, costPerKm: Infinity }, 'E_INVALID_ARGUMENT'],
  [{ shipTo: PARIS, transferDays: 2 ** 53 }, 'E_INVALID_ARGUMENT'],
  [{ collectAt: 'nowhere' }, 'E_UNKNOWN_LOCATION'],
  [{ reserveAt: 'paris-store', reserveHours: 0 }, 'E_INVALID_ARGUMENT'],
]

test('bad route input gets a typed error', () => {
  const e = retailer()
  e.receive('tee', 'lyon', 10)
  for (const [opts, code] of BAD) {
    throwsCode(assert, () => e.route('web', [['tee', 1]], opts), code)
  }
  for (const [lines, code] of [
    [[], 'E_INVALID_ARGUMENT'],
    [[['tee', 0]], 'E_INVALID_QUANTITY'],
    [[['tee', -1]], 'E_INVALID_QUANTITY'],
    [[['tee', 1.5]], 'E_INVALID_QUANTITY'],
    [[['nope', 1]], 'E_UNKNOWN_SKU'],
    [null, 'E_INVALID_ARGUMENT'],
  ]) {
    throwsCode(assert, () => e.route('web', lines, { shipTo: PARIS }), code)
  }
  throwsCode(assert, () => e.route('nope', [['tee', 1]], { shipTo: PARIS }), 'E_UNKNOWN_CHANNEL')
})

test('place allocates the plan, replays, conflicts, and the order fulfils', () => {
  const e = new u.Engine({ clock: new u.ManualClock(T0), ledgerRetention: null })
  e.upsertLocation({ id: 'lyon', lat: 45.76, lon: 4.84, priority: 1 })
  e.upsertLocation({ id: 'lille', lat: 50.63, lon: 3.06, priority: 5 })
  e.upsertChannel('web', ['lyon', 'lille'])
  e.receive('tee', 'lille', 3)
  e.receive('tee', 'lyon', 10)
  const opts = { shipTo: PARIS, strategies: ['priority'] }
  const p = e.place('o1', 'web', [['tee', 5]], opts)
  assert.deepEqual([p.order, p.replayed], ['o1', false])
  assert.deepEqual(p.allocations.map((a) => [a.location, a.qty]), [['lille', 3], ['lyon', 2]])
  assert.deepEqual(where(p.plan), ['lille', 'lyon'])
  assert.equal(e.levels('tee', 'lyon').allocated, 2)
  const again = e.place('o1', 'web', [['tee', 5]], opts)
  assert.equal(again.replayed, true)
  assert.deepEqual([again.allocations, again.plan], [p.allocations, p.plan])
  throwsCode(assert, () => e.place('o1', 'web', [['tee', 6]], opts), 'E_ID_CONFLICT')
  assert.equal(e.fulfil('o1', [['tee', 3, 'lille']]).state, 'open')
  assert.equal(e.verifyLedger(), true)
  const k = e.kpis()
  assert.deepEqual([k.ordersPlaced, k.ordersSplit, k.shipments], [1n, 1n, 2n])
  assert.deepEqual([k.unitsOrdered, k.unitsPlaced, k.fillRate, k.splitRate], ['5', '5', 1, 1])
  assert.ok(k.averageShippingKm > 250 && k.averageShippingKm < 350)
})

test('place plans again when stock moves, and otherwise changes nothing', () => {
  const e = retailer()
  e.receive('tee', 'lille', 5)
  e.receive('tee', 'lyon', 5)
  let calls = 0
  const sellLilleOnce = () => {
    calls += 1
    if (calls === 1) e.writeOff('tee', 'lille', 5)
    return 0
  }
  const p = e.place('o1', 'web', [['tee', 2]], { shipTo: PARIS, strategies: [sellLilleOnce, 'priority'] })
  assert.deepEqual(where(p.plan), ['lyon'])
  assert.equal(calls, 10)
  const before = e.lastSeq
  const sellEverything = () => {
    const left = e.levels('tee', 'lyon').available
    if (left > 0) e.writeOff('tee', 'lyon', left)
    return 0
  }
  throwsCode(assert, () => e.place('o2', 'web', [['tee', 1]], { shipTo: PARIS, strategies: [sellEverything] }), 'E_INSUFFICIENT_STOCK')
  throwsCode(assert, () => e.orderInfo('o2'), 'E_UNKNOWN_ORDER')
  assert.equal(e.lastSeq, before + 1n, 'only the write-off happened')
  throwsCode(assert, () => e.place('', 'web', [['tee', 1]], { shipTo: PARIS }), 'E_INVALID_ARGUMENT')
  throwsCode(assert, () => e.place(7, 'web', [['tee', 1]], { shipTo: PARIS }), 'E_INVALID_ARGUMENT')
})

test('reroute swaps the allocation atomically or keeps the old one', () => {
  const e = new u.Engine({ clock: new u.ManualClock(T0), ledgerRetention: null })
  e.upsertLocation({ id: 'lyon', lat: 45.76, lon: 4.84, priority: 1 })
  e.upsertLocation({ id: 'paris-store', kind: 'store', ships: false, lat: 48.87, lon: 2.33 })
  e.upsertChannel('web', ['lyon', 'paris-store'])
  e.receive('tee', 'lyon', 4)
  e.receive('tee', 'paris-store', 2)
  e.place('o1', 'web', [['tee', 4]], { shipTo: PARIS })
  e.fulfil('o1', [['tee', 1]])
  const moved = e.reroute('o1', { collectAt: 'paris-store', strategies: ['nearest'] })
  assert.deepEqual([moved.order, where(moved.plan)], ['o1', ['paris-store', 'lyon']])
  assert.deepEqual(moved.allocations.map((a) => [a.location, a.qty]), [['paris-store', 2], ['lyon', 1]])
  assert.equal(moved.plan.shipments[1].transferTo, 'paris-store')
  const seq = e.lastSeq
  throwsCode(assert, () => e.reroute('o1', { reserveAt: 'paris-store' }), 'E_INSUFFICIENT_STOCK')
  assert.equal(e.lastSeq, seq)
  assert.equal(e.levels('tee', 'paris-store').allocated, 2)
  assert.equal(e.verifyLedger(), true)
  assert.equal(e.kpis().reroutes, 1n)
  throwsCode(assert, () => e.reroute('nope', { shipTo: PARIS }), 'E_UNKNOWN_ORDER')
  throwsCode(assert, () => e.reroute('o1', {}), 'E_INVALID_ARGUMENT')
})

test('daily capacity counts orders; capacity-aware routing skips full locations', () => {
  const clock = new u.ManualClock(T0)
  const e = new u.Engine({ clock })
  e.upsertLocation({ id: 'lyon', lat: 45.76, lon: 4.84, priority: 1 })
  e.upsertLocation({ id: 'lille', lat: 50.63, lon: 3.06, priority: 5, dailyCapacity: 2 })
  e.upsertChannel('web', ['lyon', 'lille'])
  e.receive('tee', 'lyon', 50)
  e.receive('tee', 'lille', 50)
  const aware = { shipTo: PARIS, strategies: ['capacity_aware', 'priority'] }
  assert.deepEqual(where(e.place('o1', 'web', [['tee', 1]], aware).plan), ['lille'])
  e.hold('h1', 'web', [['tee', 1, 'lille']])
  e.commit('h1', 'o2')
  const load = e.locationLoad('lille')
  assert.deepEqual([load.location, load.ordersToday, load.capacity], ['lille', 2, 2])
  assert.ok(load.dayStart.getTime() <= T0.getTime())
  const p = e.place('o3', 'web', [['tee', 1]], aware)
  assert.deepEqual(where(p.plan), ['lyon'])
  const lille = p.plan.candidates.find((c) => c.location === 'lille')
  assert.equal(lille.excluded, 'at its daily order capacity (2 orders today)')
  assert.equal(e.locationLoad('lyon').capacity ?? null, null)
  clock.advance(DAY)
  assert.equal(e.locationLoad('lille').ordersToday, 0)
  throwsCode(assert, () => e.locationLoad('nowhere'), 'E_UNKNOWN_LOCATION')
  throwsCode(assert, () => e.locationLoad(7), 'E_INVALID_ARGUMENT')
})

test('click & collect creates a transfer that carries the order', () => {
  const e = new u.Engine({ clock: new u.ManualClock(T0) })
  e.upsertLocation({ id: 'lyon', lat: 45.76, lon: 4.84 })
  e.upsertLocation({ id: 'paris-store', kind: 'store', lat: 48.87, lon: 2.33 })
  e.upsertChannel('web', ['lyon', 'paris-store'])
  e.upsertChannel('till', ['paris-store'])
  e.receive('tee', 'lyon', 5)
  const placed = e.place('o1', 'web', [['tee', 2]], { collectAt: 'paris-store', strategies: ['nearest'] })
  assert.equal(placed.plan.shipments[0].transferTo, 'paris-store')
  assert.deepEqual(e.orderInfo('o1').transfers, ['o1/1'])
  const t = e.transferInfo('o1/1')
  assert.deepEqual([t.fromLocation, t.toLocation, t.qty, t.state, t.order], ['lyon', 'paris-store', 2, 'planned', 'o1'])
  assert.equal(e.dispatchTransfer('o1/1', 'tee', 'lyon', 'paris-store', 2).state, 'in_transit')
  assert.equal(e.levels('tee', 'lyon').allocated, 0)
  assert.equal(e.orderInfo('o1').state, 'open')
  e.receiveTransfer('o1/1')
  const store = e.levels('tee', 'paris-store')
  assert.deepEqual([store.onHand, store.allocated], [2, 2])
  assert.equal(e.availability('till', 'tee'), 0)
  assert.equal(e.fulfil('o1', [['tee', 2, 'paris-store']]).state, 'completed')
  e.place('o2', 'web', [['tee', 1]], { collectAt: 'paris-store' })
  assert.equal(e.cancelTransfer('o2/1').state, 'cancelled')
  assert.equal(e.levels('tee', 'lyon').allocated, 1)
})

test('backorders are tracked, set aside on arrival and filled', () => {
  const e = new u.Engine({ clock: new u.ManualClock(T0) })
  e.upsertLocation({ id: 'lyon', lat: 45.76, lon: 4.84 })
  e.upsertLocation({ id: 'lille', lat: 50.63, lon: 3.06 })
  e.upsertChannel('web', ['lyon', 'lille'])
  e.receive('tee', 'lyon', 1)
  const due = new Date(T0.getTime() + 3 * DAY)
  e.expectReceipt('tee', 'lille', 5, due, 'PO-7')
  const placed = e.place('o1', 'web', [['tee', 3]], { shipTo: PARIS, allowBackorder: true })
  const bo = placed.plan.shipments.filter((s) => s.backorder)
  assert.deepEqual(bo.map((s) => [s.location, s.preorder]), [['lille', false]])
  const [b] = e.orderInfo('o1').backorders
  assert.deepEqual([b.sku, b.location, b.qty, b.promisedAt.getTime(), b.preorder], ['tee', 'lille', 2, due.getTime(), false])
  assert.equal(e.levels('tee', 'lille').backordered, 2)
  e.receive('tee', 'lille', 5, { reference: 'PO-7' })
  const lille = e.levels('tee', 'lille')
  assert.deepEqual([lille.allocated, lille.backordered, lille.available], [2, 0, 3])
  assert.deepEqual(e.fillBackorders('o1').backorders, [])
  const k = e.kpis()
  assert.deepEqual([k.ordersBackordered, k.unitsBackordered, k.unitsBackorderFilled], [1n, '2', '2'])
  e.declareSku('hat')
  e.expectReceipt('hat', 'lyon', 10, new Date(T0.getTime() + 9 * DAY), 'PO-8')
  const pre = e.place('o2', 'web', [['hat', 2]], { shipTo: PARIS, allowBackorder: true })
  assert.deepEqual(pre.allocations, [])
  assert.equal(pre.plan.shipments[0].preorder, true)
  assert.equal(e.kpis().unitsPreordered, '2')
  assert.equal(e.cancelBackorders('o2').state, 'cancelled')
  throwsCode(assert, () => e.fillBackorders('nope'), 'E_UNKNOWN_ORDER')
})

test('click & reserve ends after its hours at the store', () => {
  const HOUR = 3_600_000
  const clock = new u.ManualClock(T0)
  const e = new u.Engine({ clock })
  e.upsertLocation({ id: 'lyon' })
  e.upsertLocation({ id: 'paris-store', kind: 'store' })
  e.upsertChannel('web', ['lyon', 'paris-store'])
  e.receive('tee', 'paris-store', 3)
  e.receive('tee', 'lyon', 3)
  e.place('r1', 'web', [['tee', 2]], { reserveAt: 'paris-store', reserveHours: 2 })
  e.place('r2', 'web', [['tee', 1]], { reserveAt: 'paris-store', reserveHours: 2 })
  e.place('s1', 'web', [['tee', 1]], { shipTo: PARIS })
  assert.equal(e.orderInfo('r1').reservedUntil.getTime(), T0.getTime() + 2 * HOUR)
  assert.equal(e.orderInfo('s1').reservedUntil ?? null, null)
  assert.equal(e.levels('tee', 'paris-store').available, 0)
  // r1's customer takes one unit; r2's asks for a day (a re-route).
  e.fulfil('r1', [['tee', 1]])
  clock.advance(HOUR)
  e.reroute('r2', { reserveAt: 'paris-store', reserveHours: 24 })
  assert.equal(e.orderInfo('r2').reservedUntil.getTime(), T0.getTime() + 25 * HOUR)
  clock.advance(HOUR)
  // r1's time is up: its other unit is back on sale before any sweep.
  assert.equal(e.levels('tee', 'paris-store').available, 1)
  const r1 = e.orderInfo('r1')
  assert.deepEqual([r1.state, r1.lines[0].fulfilled, r1.lines[0].cancelled], ['completed', 1, 1])
  const [last] = e.eventsSince(e.lastSeq - 1n)
  assert.deepEqual([last.kind, last.reason, last.reference, last.at.getTime()], ['allocation_cancelled', 'expiry', 'r1', T0.getTime() + 2 * HOUR])
  assert.equal(e.orderInfo('r2').state, 'open')
  e.expireDue(new Date(T0.getTime() + 30 * HOUR))
  assert.equal(e.orderInfo('r2').state, 'cancelled')
  assert.equal(e.levels('tee', 'paris-store').available, 2)
  assert.equal(e.orderInfo('s1').state, 'open')
})

test('argument errors name the argument as JS callers write it', () => {
  const e = retailer()
  e.receive('tee', 'paris-store', 1)
  const err = throwsCode(assert, () => e.route('web', [['tee', 1]], { reserveAt: 'paris-store', reserveHours: 0 }), 'E_INVALID_ARGUMENT')
  assert.equal(err.field, 'reserveHours')
  assert.match(err.message, /`reserveHours`/)
  const long = throwsCode(assert, () => e.hold('h', 'web', [{ sku: 'tee', qty: 1 }], 31 * DAY), 'E_INVALID_ARGUMENT')
  assert.equal(long.field, 'ttlMs')
  const [item] = e.holdBatch([{ id: 'h', channel: 'web', lines: [['tee', 1]], ttlMs: 31 * DAY }])
  assert.deepEqual([item.code, item.field], ['E_INVALID_ARGUMENT', 'ttlMs'])
  const cap = throwsCode(assert, () => e.upsertChannel('c', ['lyon'], { holdbackPercent: '101' }), 'E_INVALID_ARGUMENT')
  assert.equal(cap.field, 'holdbackPercent')
})
