// Model-based test: fast-check command sequences against a small JS
// reference model of stock, holds and orders.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fc = require('fast-check')
const { makeShop, MIN } = require('./shop')

const SKUS = ['A', 'B']
const WEB = ['wh-1', 'wh-2', 'store-1']
const LOCS = ['wh-1', 'wh-2', 'store-1', 'store-2']
const key = (s, l) => `${s}@${l}`

class Model {
  constructor() {
    this.onHand = new Map()
    this.reserved = new Map()
    this.allocated = new Map()
    for (const s of SKUS) for (const l of LOCS) for (const m of [this.onHand, this.reserved, this.allocated]) m.set(key(s, l), 0)
    this.holds = new Map()
    this.now = 0
  }
  atp(s, l) {
    const k = key(s, l)
    return this.onHand.get(k) - this.reserved.get(k) - this.allocated.get(k)
  }
  web(s) {
    return WEB.reduce((t, l) => t + Math.max(this.atp(s, l), 0), 0)
  }
  add(m, s, l, q) {
    m.set(key(s, l), m.get(key(s, l)) + q)
  }
  expire() {
    for (const h of this.holds.values()) {
      if (h.state === 'active' && h.expires <= this.now) {
        for (const [s, l, q] of h.parts) this.add(this.reserved, s, l, -q)
        h.state = 'expired'
      }
    }
  }
}

class Receive {
  constructor(s, l, q) { Object.assign(this, { s, l, q }) }
  check() { return true }
  run(m, r) {
    m.expire()
    r.e.receive(this.s, this.l, this.q)
    m.add(m.onHand, this.s, this.l, this.q)
  }
  toString() { return `receive(${this.s},${this.l},${this.q})` }
}

class Hold {
  constructor(lines, ttl) { Object.assign(this, { lines, ttl }) }
  check() { return true }
  run(m, r) {
    m.expire()
    const id = `h${m.holds.size + 1}`
    let want
    if (this.lines.some(([s, q]) => q > m.web(s))) want = 'insufficient'
    else {
      const parts = []
      for (const [s, q] of this.lines) {
        let left = q
        for (const l of WEB) {
          const take = Math.min(Math.max(m.atp(s, l), 0), left)
          if (take > 0) {
            m.add(m.reserved, s, l, take)
            parts.push([s, l, take])
            left -= take
          }
        }
      }
      m.holds.set(id, { parts, state: 'active', expires: m.now + this.ttl })
      want = parts
    }
    let got
    try {
      got = r.e.hold(id, 'web', this.lines, this.ttl * MIN, { pool: false }).parts.map((p) => [p.sku, p.location, p.qty])
    } catch (err) {
      if (err.code !== 'E_INSUFFICIENT_STOCK') throw err
      got = 'insufficient'
    }
    assert.deepEqual(got, want)
  }
  toString() { return `hold(${JSON.stringify(this.lines)},${this.ttl})` }
}

class End {
  constructor(i, commit) { Object.assign(this, { i, commit }) }
  check(m) { return m.holds.size > 0 }
  run(m, r) {
    m.expire()
    const ids = [...m.holds.keys()]
    const id = ids[this.i % ids.length]
    const h = m.holds.get(id)
    let got = 'ok'
    try {
      if (this.commit) r.e.commit(id, `o-${id}`)
      else r.e.release(id)
    } catch (err) {
      got = err.state
    }
    let want
    if (h.state === 'active') {
      want = 'ok'
      for (const [s, l, q] of h.parts) {
        m.add(m.reserved, s, l, -q)
        if (this.commit) m.add(m.allocated, s, l, q)
      }
      h.state = this.commit ? 'committed' : 'released'
    } else if ((h.state === 'released' && !this.commit) || (h.state === 'committed' && this.commit)) want = 'ok'
    else want = h.state
    assert.equal(got, want)
  }
  toString() { return `${this.commit ? 'commit' : 'release'}(${this.i})` }
}

class Advance {
  constructor(n) { this.n = n }
  check() { return true }
  run(m, r) {
    r.clock.advance(this.n * MIN)
    m.now += this.n
  }
  toString() { return `advance(${this.n})` }
}

function invariants(m, r) {
  m.expire()
  for (const s of SKUS) {
    assert.equal(r.e.availability('web', s), m.web(s), `availability of ${s}`)
    for (const l of LOCS) {
      const lv = r.e.levels(s, l)
      assert.deepEqual([lv.onHand, lv.reserved, lv.allocated], [m.onHand.get(key(s, l)), m.reserved.get(key(s, l)), m.allocated.get(key(s, l))], `${s}@${l}`)
    }
  }
}

const commands = [
  fc.tuple(fc.constantFrom(...SKUS), fc.constantFrom(...LOCS), fc.integer({ min: 1, max: 5 })).map(([s, l, q]) => new Receive(s, l, q)),
  fc.tuple(
    fc.uniqueArray(fc.tuple(fc.constantFrom(...SKUS), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 2, selector: (t) => t[0] }),
    fc.integer({ min: 1, max: 5 }),
  ).map(([lines, ttl]) => new Hold(lines, ttl)),
  fc.tuple(fc.nat(50), fc.boolean()).map(([i, c]) => new End(i, c)),
  fc.integer({ min: 1, max: 3 }).map((n) => new Advance(n)),
]

test('random command sequences match the reference model', () => {
  const runs = Number(process.env.UNISTOCK_FC_RUNS || 100)
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 40 }), (cmds) => {
      const real = makeShop()
      for (const s of SKUS) real.e.declareSku(s)
      const model = new Model()
      fc.modelRun(() => ({ model, real }), [...cmds].flatMap((c) => [c, { check: () => true, run: (m, r) => invariants(m, r), toString: () => '·' }]))
    }),
    { numRuns: runs },
  )
})
