// The omnichannel day, in JavaScript: the same scenario and output shape as
// examples/rust/omnichannel_day.rs and examples/python/omnichannel_day.py.
//
// A retailer with 2 warehouses and 3 stores sells on web, app, each store's
// till and a capped marketplace; thousands of customers on all channels at
// once (concurrent async lanes on the event loop): carts that commit, are
// abandoned or expire; click & reserve; till sales; orders routed and placed
// (ship-from-store, split shipments, click & collect), some re-routed to a
// store pickup; replenishment transfers; evening fulfilment. The day ends
// with the invariants checked.
//
//   node examples/js/omnichannel_day.js [customers] [lanes]
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const u = require(process.env.UNISTOCK_PACKAGE || '../../bindings-node')

const STORES = ['store-north', 'store-centre', 'store-south']
const T0 = new Date('2026-01-01T09:00:00Z')
const MINUTE = 60_000
const MASK = (1n << 64n) - 1n

/** xorshift, so each lane's day is replayable. */
class Rng {
  constructor(seed) {
    this.s = BigInt.asUintN(64, seed)
  }
  below(n) {
    let s = this.s
    s ^= (s << 13n) & MASK
    s ^= s >> 7n
    s ^= (s << 17n) & MASK
    this.s = s
    return Number(s % BigInt(n))
  }
}

// The journal is fsynced every 100 ms: a machine crash would lose at most
// that; the restart at noon is clean.
const openDurable = (clock, dir) => u.Engine.open(dir, { durability: 'interval:100', clock, ledgerRetention: null })

function openShop(clock, skus, dir) {
  const e = openDurable(clock, dir)
  e.upsertLocation({ id: 'wh-east', lat: 52.52, lon: 13.4, priority: 2 })
  e.upsertLocation({ id: 'wh-west', lat: 51.22, lon: 6.78, priority: 1 })
  // The centre store ships parcels too (ship-from-store).
  STORES.forEach((s, i) => e.upsertLocation({ id: s, kind: 'store', lat: 50 + i, lon: 8 + i, ships: i === 1 }))
  const web = ['wh-east', 'wh-west', ...STORES]
  e.upsertChannel('web', web)
  e.upsertChannel('app', web, { safetyUnits: 1 })
  e.upsertChannel('marketplace:amazon', ['wh-east', 'wh-west'], { capUnits: 5 })
  for (const s of STORES) e.upsertChannel(`store:${s}`, [s])
  skus.forEach((sku, i) => {
    const n = (k) => (((i * 7 + k * 13) % 17) + 3) * 4
    const note = { reason: 'opening_stock', reference: 'PO-0' }
    e.receive(sku, 'wh-east', n(0), note)
    e.receive(sku, 'wh-west', n(1), note)
    STORES.forEach((s, k) => e.receive(sku, s, Math.floor(n(k + 2) / 3), note))
  })
  return e
}

const channelTotals = (e, skus) => Object.fromEntries(e.channels().map((c) => [c.id, e.availabilityMany(c.id, skus).reduce((a, b) => a + b, 0)]))
const onHandTotal = (e, skus) => skus.reduce((t, s) => t + e.locations().reduce((a, l) => a + e.levels(s, l.id).onHand, 0), 0)

/** Another lane moved the shared clock past the cart's expiry: too late, an outcome. */
function late(call) {
  try {
    return call()
  } catch (err) {
    if (err.code === 'E_HOLD_NOT_ACTIVE' && err.state === 'expired') return null
    throw err
  }
}

const tick = () => new Promise((r) => setImmediate(r))

async function runDay(customers, lanes, skuCount = 200) {
  const clock = new u.ManualClock(T0)
  const skus = Array.from({ length: skuCount }, (_, i) => `sku-${String(i).padStart(4, '0')}`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unistock-day-'))
  let e = openShop(clock, skus, dir)
  let received = onHandTotal(e, skus)
  let left = 0
  const toFulfil = []
  const before = channelTotals(e, skus)

  async function lane(t) {
    const rng = new Rng(0x2545f4914f6cdd1dn ^ BigInt(t + 1))
    const sku = () => skus[rng.below(skus.length)]
    for (let c = t; c < customers; c += lanes) {
      if (c % 50 === 0) clock.advance(MINUTE)
      if (c % 16 === 0) await tick() // let the other lanes in
      const cart = `cart-${c}`
      const roll = rng.below(100)
      if (roll < 60) {
        const channel = ['web', 'web', 'app', 'marketplace:amazon'][rng.below(4)]
        const lines = Array.from({ length: 1 + rng.below(3) }, () => [sku(), 1 + rng.below(2)])
        // Web and app carts claim the channel's pool (bound to locations at
        // checkout); the marketplace's are bound at once.
        try {
          e.hold(cart, channel, lines, 20 * MINUTE, { pool: channel !== 'marketplace:amazon' })
        } catch {
          continue
        }
        const fate = rng.below(10)
        if (fate <= 6) {
          const order = `order-${c}`
          if (late(() => e.commit(cart, order)) !== null) toFulfil.push(order)
        } else if (fate <= 8) {
          late(() => e.release(cart))
        }
      } else if (roll < 75) {
        const store = STORES[rng.below(3)]
        const s = sku()
        try {
          e.hold(cart, 'web', [[s, 1, store]], 120 * MINUTE)
        } catch {
          continue
        }
        if (rng.below(3) > 0) {
          const order = `reserve-${c}`
          if (late(() => e.commit(cart, order)) === null) continue
          e.fulfil(order, [[s, 1]])
          left += 1
        }
      } else if (roll < 85) {
        // Routed orders, one in four re-routed to a pickup at a store.
        const lines = Array.from({ length: 1 + rng.below(3) }, () => [sku(), 1 + rng.below(3)])
        const shipTo = { lat: 48 + rng.below(600) / 100, lon: 6 + rng.below(800) / 100, country: 'DE' }
        const order = `routed-${c}`
        try {
          e.place(order, 'web', lines, { shipTo, strategies: ['fewest_shipments', 'nearest'] })
        } catch (err) {
          if (err.code !== 'E_INSUFFICIENT_STOCK' && err.code !== 'E_NO_ROUTE') throw err
          continue
        }
        if (rng.below(4) === 0) {
          const store = STORES[rng.below(3)]
          try {
            e.reroute(order, { collectAt: store })
          } catch (err) {
            // Refused: the order keeps its first allocation.
            if (err.code !== 'E_INSUFFICIENT_STOCK' && err.code !== 'E_NO_ROUTE') throw err
          }
        }
        toFulfil.push(order)
      } else if (roll < 95) {
        const store = STORES[rng.below(3)]
        try {
          e.tillSale(`till-${c}`, `store:${store}`, [[sku(), 1]])
          left += 1
        } catch (err) {
          if (err.code !== 'E_INSUFFICIENT_STOCK') throw err
        }
      } else {
        const s = sku()
        const id = `transfer-${c}`
        const store = STORES[rng.below(3)]
        try {
          e.dispatchTransfer(id, s, 'wh-west', store, 1)
          e.receiveTransfer(id)
        } catch (err) {
          if (err.code !== 'E_INSUFFICIENT_STOCK') throw err
        }
        e.receive(s, 'wh-west', 2, { reason: 'po_receipt', reference: 'PO-day' })
        received += 2
      }
    }
  }
  await Promise.all(Array.from({ length: lanes }, (_, t) => lane(t)))

  // Noon: the process restarts. Carts already due expire first, so the
  // state before and after is directly comparable.
  e.expireDue()
  const stateBefore = e.snapshot()
  e.close()
  e = openDurable(clock, dir)
  const restart = e.recovery
  const sameAfterRestart = e.snapshot().equals(stateBefore)

  // Evening: the warehouse ships every committed order, open carts expire.
  let shipped = 0
  let collectTransfers = 0
  for (const order of toFulfil) {
    // Click & collect from elsewhere: the planned transfer leaves the
    // source and arrives at the pickup store, still the order's.
    for (const id of e.orderInfo(order).transfers) {
      const t = e.transferInfo(id)
      if (t.state === 'planned') {
        e.dispatchTransfer(id, t.sku, t.fromLocation, t.toLocation, t.qty)
        e.receiveTransfer(id)
        collectTransfers += 1
      }
    }
    // What is still open of each line (a re-routed order keeps the lines it
    // no longer ships from, with nothing open).
    const open = e
      .orderInfo(order)
      .lines.map((l) => [l.sku, l.allocated - l.fulfilled - l.cancelled, l.location])
      .filter((l) => l[1] > 0)
    e.fulfil(order, open)
    shipped += open.reduce((a, l) => a + l[1], 0)
  }
  clock.advance(180 * MINUTE)
  e.expireDue()

  const k = e.kpis()
  const after = channelTotals(e, skus)
  let oversold = false
  let promised = 0
  for (const s of skus) {
    for (const l of e.locations()) {
      const lv = e.levels(s, l.id)
      oversold ||= lv.reserved + lv.allocated > lv.onHand - lv.unsellable - lv.safety
      promised += lv.reserved + lv.allocated
    }
  }
  const invariants = [
    ['a restart at noon changes nothing (journal replayed)', sameAfterRestart],
    ['the ledger folds to the live state', e.verifyLedger()],
    ['units conserved: opening + receipts - shipped - sold = on hand', received - left - shipped === onHandTotal(e, skus)],
    ['every hold ended exactly once', k.holdsCreated === k.holdsCommitted + k.holdsReleased + k.holdsExpired],
    ['no oversell at any (SKU, location)', !oversold],
    ['nothing left reserved or allocated', promised === 0],
  ]
  e.close()
  fs.rmSync(dir, { recursive: true, force: true })
  return { before, after, kpis: k, ordersFulfilled: toFulfil.length, collectTransfers, restart, invariants }
}

async function main() {
  const customers = Number(process.argv[2] ?? 20000)
  const lanes = Number(process.argv[3] ?? 4)
  const t = performance.now()
  const day = await runDay(customers, lanes)
  const ms = performance.now() - t
  const pad = (s, n) => String(s).padEnd(n)
  const lpad = (s, n) => String(s).padStart(n)
  console.log('== unistock: an omnichannel day ==')
  console.log(`${customers} customers on ${lanes} lanes in ${ms.toFixed(2)}ms\n`)
  console.log(`${pad('channel availability', 28)} ${lpad('morning', 10)} ${lpad('evening', 10)}`)
  for (const channel of Object.keys(day.before).sort()) {
    console.log(`${pad(channel, 28)} ${lpad(day.before[channel], 10)} ${lpad(day.after[channel], 10)}`)
  }
  const k = day.kpis
  console.log('\nKPIs')
  console.log(`  holds created / committed / released / expired: ${k.holdsCreated} / ${k.holdsCommitted} / ${k.holdsReleased} / ${k.holdsExpired}`)
  console.log(`  hold conversion: ${(100 * (k.holdConversion ?? 0)).toFixed(1)}%`)
  console.log(`  oversells prevented (refused for lack of stock): ${k.oversellsPrevented}`)
  console.log(`  till sales: ${k.tillSales}`)
  console.log(`  transfers dispatched / received: ${k.transfersDispatched} / ${k.transfersReceived}`)
  console.log(`  orders routed and placed / refused / split / re-routed: ${k.ordersPlaced} / ${k.ordersRefused} / ${k.ordersSplit} / ${k.reroutes}`)
  console.log(
    `  fill rate: ${(100 * (k.fillRate ?? 0)).toFixed(1)}%, split-shipment rate: ${(100 * (k.splitRate ?? 0)).toFixed(1)}%, average shipping distance: ${(k.averageShippingKm ?? 0).toFixed(0)} km`,
  )
  console.log(`  orders fulfilled in the evening: ${day.ordersFulfilled} (${day.collectTransfers} click & collect transfers to pickup stores)`)
  console.log(
    `\nrestart at noon (durable, interval mode): ${day.restart.recordsReplayed} journal records replayed in ${(day.restart.micros / 1000).toFixed(1)} ms`,
  )
  console.log('\ninvariants')
  for (const [name, ok] of day.invariants) console.log(`  [${ok ? 'ok' : 'FAILED'}] ${name}`)
  process.exitCode = day.invariants.every(([, ok]) => ok) ? 0 : 1
}

if (require.main === module) main()
module.exports = { runDay }
