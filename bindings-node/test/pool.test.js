// Pool holds through JS (mirrors core/tests/pool.rs and test_pool.py): a
// hold against the channel's pool has no location, the engine keeps every
// such claim bindable, and committing or placing the hold binds it.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { u, T0, MIN, throwsCode } = require('./shop')

const NEAR_A = { lat: 52.1, lon: 13.1, country: 'DE' }
const POOL = { pool: true }

function shop() {
  const clock = new u.ManualClock(T0)
  const e = new u.Engine({ clock })
  e.upsertLocation({ id: 'a', lat: 52.0, lon: 13.0 })
  e.upsertLocation({ id: 'b', lat: 48.0, lon: 11.0 })
  e.upsertLocation({ id: 's', kind: 'store', ships: true, lat: 50.0, lon: 8.0 })
  e.upsertChannel('web', ['a', 'b', 's'])
  e.upsertChannel('app', ['a', 's'])
  e.upsertChannel('market', ['b'])
  e.upsertChannel('till', ['s'])
  return { e, clock }
}

test('a pool hold claims the channel, not a location', () => {
  const { e } = shop()
  e.receive('x', 'a', 3)
  e.receive('x', 'b', 3)
  const r = e.hold('cart-1', 'web', [['x', 4]], null, POOL)
  assert.deepEqual(r.parts.map((p) => [p.sku, p.location ?? null, p.qty]), [['x', null, 4]])
  assert.equal(e.levels('x', 'a').reserved, 0)
  assert.equal(e.availability('web', 'x'), 2)
  assert.equal(e.holdInfo('cart-1').parts[0].location ?? null, null)
  assert.equal(e.hold('cart-1', 'web', [['x', 4]]).replayed, true) // the default
  throwsCode(assert, () => e.hold('cart-1', 'web', [['x', 4]], null, { pool: false }), 'E_ID_CONFLICT')
})

test('a till sale cannot take units a pool claim needs', () => {
  const { e } = shop()
  e.receive('x', 'b', 3)
  e.receive('x', 's', 2)
  e.hold('cart-1', 'web', [['x', 4]], null, POOL)
  assert.equal(e.levels('x', 's').available, 2)
  assert.equal(e.availability('till', 'x'), 1)
  const err = throwsCode(assert, () => e.tillSale('sale-1', 'till', [['x', 2, 's']]), 'E_INSUFFICIENT_STOCK')
  assert.equal(err.available, 1)
  e.tillSale('sale-2', 'till', [['x', 1, 's']])
  const order = e.commit('cart-1', 'order-1')
  const got = order.allocations.map((p) => [p.location, p.qty]).sort()
  assert.deepEqual(got, [['b', 3], ['s', 1]])
})

test('a pool hold that would leave another unbindable is refused', () => {
  const { e } = shop()
  e.receive('x', 'a', 2)
  e.receive('x', 'b', 2)
  e.hold('app-1', 'app', [['x', 2]], null, POOL)
  assert.equal(e.availability('web', 'x'), 2)
  throwsCode(assert, () => e.hold('web-1', 'web', [['x', 3]], null, POOL), 'E_INSUFFICIENT_STOCK')
  e.hold('web-1', 'web', [['x', 2]], null, POOL)
  assert.equal(e.availability('market', 'x'), 0)
  throwsCode(assert, () => e.dispatchTransfer('t-1', 'x', 'b', 's', 1), 'E_INSUFFICIENT_STOCK')
  e.release('app-1')
  assert.equal(e.availability('market', 'x'), 2)
})

test('placeHold binds around other claims and is idempotent', () => {
  const { e } = shop()
  e.receive('x', 'a', 2)
  e.receive('x', 'b', 2)
  e.hold('app-1', 'app', [['x', 2]], null, POOL)
  e.hold('web-1', 'web', [['x', 2]], null, POOL)
  const opts = { shipTo: NEAR_A, strategies: ['nearest'] }
  const placed = e.placeHold('web-1', 'order-1', opts)
  assert.deepEqual(placed.plan.shipments.map((s) => s.location), ['b'])
  assert.equal(placed.replayed, false)
  assert.equal(e.holdInfo('web-1').state, 'committed')
  assert.equal(e.orderInfo('order-1').hold, 'web-1')
  const again = e.placeHold('web-1', 'order-1', opts)
  assert.equal(again.replayed, true)
  assert.deepEqual(again.plan, placed.plan)
  throwsCode(assert, () => e.placeHold('web-1', 'order-2', opts), 'E_ID_CONFLICT')
  throwsCode(assert, () => e.placeHold('nope', 'order-3', opts), 'E_UNKNOWN_HOLD')
})

test('pool hold batches and shortage reporting', () => {
  const { e } = shop()
  e.receive('x', 'a', 2)
  const out = e.holdBatch([
    { id: 'h1', channel: 'app', lines: [['x', 1]], pool: true },
    { id: 'h2', channel: 'app', lines: [['x', 5]], pool: true },
  ])
  assert.equal(out[0].parts[0].location ?? null, null)
  assert.equal(out[1].code, 'E_INSUFFICIENT_STOCK')
  e.hold('h3', 'app', [['x', 1]], null, POOL)
  const seq = e.lastSeq
  e.writeOff('x', 'a', 1)
  const short = e.eventsSince(seq).filter((ev) => ev.kind === 'shortage')
  assert.deepEqual(short.map((ev) => [ev.location ?? null, ev.qty]), [[null, 1]])
})

test('pool must be a boolean', () => {
  const { e } = shop()
  e.receive('x', 'a', 2)
  for (const bad of [1, 'yes', {}, [true]]) {
    throwsCode(assert, () => e.hold('h', 'web', [['x', 1]], null, { pool: bad }), 'E_INVALID_ARGUMENT')
    throwsCode(assert, () => e.holdBatch([{ id: 'h', channel: 'web', lines: [['x', 1]], pool: bad }]), 'E_INVALID_ARGUMENT')
  }
  throwsCode(assert, () => e.hold('h', 'web', [['x', 1]], null, 'pool'), 'E_INVALID_ARGUMENT')
  assert.equal(e.availability('web', 'x'), 2)
})

test('pool holds expire', () => {
  const { e, clock } = shop()
  e.receive('x', 'a', 2)
  e.hold('h', 'web', [['x', 2]], 5 * MIN, POOL)
  assert.equal(e.availability('web', 'x'), 0)
  clock.advance(6 * MIN)
  assert.equal(e.availability('web', 'x'), 2)
  assert.equal(e.holdInfo('h').state, 'expired')
})
