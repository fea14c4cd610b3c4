// Bad input gets a typed error (a stable code) and changes nothing.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { makeShop } = require('./shop')

const BAD_QTY = [
  [-1, 'E_INVALID_QUANTITY'],
  [0, 'E_INVALID_QUANTITY'],
  [1.5, 'E_INVALID_QUANTITY'],
  [2 ** 53, 'E_INVALID_QUANTITY'],
  [1e16, 'E_INVALID_QUANTITY'],
  [NaN, 'E_INVALID_ARGUMENT'],
  [Infinity, 'E_INVALID_ARGUMENT'],
  [-Infinity, 'E_INVALID_ARGUMENT'],
  ['5x', 'E_INVALID_ARGUMENT'],
  ['', 'E_INVALID_ARGUMENT'],
  [null, 'E_INVALID_ARGUMENT'],
  [undefined, 'E_INVALID_ARGUMENT'],
  [true, 'E_INVALID_ARGUMENT'],
  [{}, 'E_INVALID_ARGUMENT'],
  [[1], 'E_INVALID_ARGUMENT'],
  [5n, 'E_INVALID_ARGUMENT'],
]

const BAD_ID = [null, undefined, 5, true, {}, ['tee'], '', 'x'.repeat(300)]

function stocked() {
  const { e } = makeShop()
  e.receive('tee', 'wh-1', 10)
  return e
}

const state = (e) => JSON.stringify([String(e.lastSeq), e.levels('tee', 'wh-1'), e.availability('web', 'tee'), Object.values(e.kpis()).map(String)])

for (const [qty, code] of BAD_QTY) {
  test(`quantity ${typeof qty === 'bigint' ? qty + 'n' : JSON.stringify(qty) ?? String(qty)} -> ${code}`, () => {
    const e = stocked()
    const before = state(e)
    const calls = [
      () => e.hold('h', 'web', [['tee', qty]]),
      () => e.hold('h', 'web', [{ sku: 'tee', qty }]),
      () => e.receive('tee', 'wh-1', qty),
      () => e.tillSale('s', 'web', [['tee', qty]]),
      () => e.writeOff('tee', 'wh-1', qty),
      () => e.dispatchTransfer('t', 'tee', 'wh-1', 'wh-2', qty),
    ]
    for (const call of calls) {
      assert.throws(call, (err) => err.code === code, String(call))
    }
    // In a batch, a value the engine refuses is that item's outcome; a value
    // that cannot even be read refuses the whole batch.
    let outcome
    try {
      outcome = e.holdBatch([{ id: 'h', channel: 'web', lines: [['tee', qty]] }])[0]
    } catch (err) {
      outcome = err
    }
    assert.equal(outcome.code, code)
    assert.equal(state(e), before)
  })
}

test('a malformed batch item throws for the whole batch and changes nothing', () => {
  const e = stocked()
  const before = state(e)
  assert.throws(() => e.holdBatch([{ id: 'ok', channel: 'web', lines: [['tee', 1]] }, { id: 'bad', channel: 'web', lines: [['tee', NaN]] }]), (err) => err.code === 'E_INVALID_ARGUMENT')
  assert.equal(state(e), before)
})

for (const bad of BAD_ID) {
  test(`id ${JSON.stringify(bad) ?? String(bad)} is refused everywhere`, () => {
    const e = stocked()
    const before = state(e)
    const calls = [
      () => e.hold(bad, 'web', [['tee', 1]]),
      () => e.hold('h', bad, [['tee', 1]]),
      () => e.hold('h', 'web', [[bad, 1]]),
      () => e.receive(bad, 'wh-1', 1),
      () => e.release(bad),
      () => e.commit(bad, 'o'),
      () => e.availability(bad, 'tee'),
      () => e.placeHold(bad, 'o', { shipTo: { lat: 48.8, lon: 2.3, country: 'FR' } }),
      () => e.placeHold('h', bad, { shipTo: { lat: 48.8, lon: 2.3, country: 'FR' } }),
      () => e.fillBackorders(bad),
      () => e.cancelBackorders(bad),
      () => e.locationLoad(bad),
    ]
    for (const call of calls) {
      assert.throws(call, (err) => /^E_(INVALID_ARGUMENT|UNKNOWN_\w+)$/.test(err.code), String(call))
    }
    assert.equal(state(e), before)
  })
}

for (const lines of [null, undefined, 'tee', [['tee']], [['tee', 1, 'wh-1', 4]], [5], [], { tee: 1 }]) {
  test(`lines ${JSON.stringify(lines)} are refused`, () => {
    const e = stocked()
    const before = state(e)
    assert.throws(() => e.hold('h', 'web', lines), (err) => err.code === 'E_INVALID_ARGUMENT')
    assert.equal(state(e), before)
  })
}

for (const ttl of [0, -1, 1.5, NaN, Infinity, 2 ** 53, '60000', true, 365 * 86_400_000]) {
  test(`ttl ${String(ttl)} is refused`, () => {
    const e = stocked()
    const before = state(e)
    assert.throws(() => e.hold('h', 'web', [['tee', 1]], ttl), (err) => err.code === 'E_INVALID_ARGUMENT')
    assert.equal(state(e), before)
  })
}

test('unknown ids change nothing', () => {
  const e = stocked()
  const before = state(e)
  for (const [call, code] of [
    [() => e.hold('h', 'nowhere', [['tee', 1]]), 'E_UNKNOWN_CHANNEL'],
    [() => e.hold('h', 'web', [['ghost', 1]]), 'E_UNKNOWN_SKU'],
    [() => e.hold('h', 'web', [['tee', 1, 'mars']]), 'E_UNKNOWN_LOCATION'],
    [() => e.commit('ghost', 'o'), 'E_UNKNOWN_HOLD'],
    [() => e.orderInfo('ghost'), 'E_UNKNOWN_ORDER'],
    [() => e.transferInfo('ghost'), 'E_UNKNOWN_TRANSFER'],
  ]) {
    assert.throws(call, (err) => err.code === code)
  }
  assert.equal(state(e), before)
})

test('options and dates are checked', () => {
  const { u } = require('./shop')
  assert.throws(() => new u.ManualClock('2026-01-01'), (err) => err.code === 'E_INVALID_ARGUMENT')
  assert.throws(() => new u.Engine({ clock: {} }), (err) => err.code === 'E_INVALID_ARGUMENT')
  assert.throws(() => new u.Engine({ defaultTtlMs: -5 }), (err) => err.code === 'E_INVALID_ARGUMENT')
  assert.throws(() => new u.Engine('fast'), (err) => err.code === 'E_INVALID_ARGUMENT')
})
