// The shop every test starts from, as in the Rust and Python tests: two
// warehouses, two stores; channels web (wh-1, wh-2, store-1), till:store-1
// (store-1), market (wh-1, capped at 3 units). A ManualClock at T0.
'use strict'
const u = require('..')

const T0 = new Date('2026-11-22T09:00:00Z')
const MIN = 60_000

function makeShop(options = {}) {
  const clock = new u.ManualClock(T0)
  const e = new u.Engine({ clock, ledgerRetention: null, ...options })
  e.upsertLocation({ id: 'wh-1' })
  e.upsertLocation({ id: 'wh-2' })
  e.upsertLocation({ id: 'store-1', kind: 'store' })
  e.upsertLocation({ id: 'store-2', kind: 'store' })
  e.upsertChannel('web', ['wh-1', 'wh-2', 'store-1'])
  e.upsertChannel('till:store-1', ['store-1'])
  e.upsertChannel('market', ['wh-1'], { capUnits: 3 })
  return { e, clock }
}

/** Asserts that `f` throws a unistock error with this code; returns it. */
function throwsCode(assert, f, code) {
  let err
  try {
    f()
  } catch (x) {
    err = x
  }
  assert.ok(err instanceof Error, `expected ${code}, nothing was thrown`)
  assert.equal(err.code, code, err.message)
  return err
}

module.exports = { u, T0, MIN, makeShop, throwsCode }
