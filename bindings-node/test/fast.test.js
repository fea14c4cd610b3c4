// The hot path (`main.js` + `src/fast.rs`): `hold` with `[sku, qty(,
// location)]` lines of whole units goes through the raw calls `holdOne`
// (one line) and `holdLines`, `holdBatch` and `holdBatchAsync` of such
// lines through one packed call, anything else through the napi-rs
// methods. Both must give the same results and the same errors; these tests
// run every case both ways, on two engines with one clock, and check which
// door each input took.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { u, T0, MIN, makeShop } = require('./shop')

// Counts the raw calls (`main.js` looks them up on every call) and the
// packed batch calls.
function spy() {
  const real = { holdOne: u.holdOne, holdLines: u.holdLines }
  const proto = u.Engine.prototype
  const realPacked = { _holdBatchPacked: proto._holdBatchPacked, _holdBatchAsyncPacked: proto._holdBatchAsyncPacked }
  const s = { calls: 0, packed: 0 }
  for (const [name, f] of Object.entries(real)) {
    u[name] = (...a) => {
      s.calls++
      return f(...a)
    }
  }
  for (const [name, f] of Object.entries(realPacked)) {
    proto[name] = function (...a) {
      s.packed++
      return f.apply(this, a)
    }
  }
  s.restore = () => {
    Object.assign(u, real)
    Object.assign(proto, realPacked)
  }
  return s
}

function pair() {
  const clock = new u.ManualClock(T0)
  const shops = [makeShop({ clock }), makeShop({ clock })].map((s) => s.e)
  for (const e of shops) {
    e.receive('tee', 'wh-1', 5)
    e.receive('tee', 'wh-2', 5)
    e.declareSku('rope', 2)
    e.receive('rope', 'wh-1', '10.5')
  }
  return { fast: shops[0], slow: shops[1], clock }
}

// The same line as an object: not the fast shape, so the napi-rs method.
const asObject = (l) => ({ sku: l[0], qty: l[1], ...(l.length === 3 ? { location: l[2] } : {}) })

function outcome(f) {
  try {
    return { ok: f() }
  } catch (x) {
    assert.ok(x instanceof Error)
    return { error: { ...x, message: x.message } }
  }
}

// [name, [id, channel, lines, ttlMs, options]]
const CASES = [
  ['pool hold', ['c1', 'web', [['tee', 2]]]],
  ['replay', ['c1', 'web', [['tee', 2]]]],
  ['id conflict', ['c1', 'web', [['tee', 3]]]],
  // Early, while there is stock: held, and stored under the spelling the
  // engine reads (a lone surrogate as U+FFFD).
  ['an id with an emoji and a lone surrogate', ['cart-\u{1F600}-\uD800', 'web', [['tee', 1]]]],
  ['a long id (past the stack buffer)', ['x'.repeat(300) + 'é', 'web', [['tee', 1]]]],
  ['at a location', ['c2', 'web', [['tee', 1, 'wh-2']]]],
  ['bound at once, at one location', ['c3a', 'web', [['tee', 1]], null, { pool: false }]],
  ['bound at once, split over two locations', ['c3', 'web', [['tee', 6]], null, { pool: false }]],
  ['pool: true spelled out', ['c4', 'web', [['tee', 1]], 5 * MIN, { pool: true }]],
  ['own ttl', ['c5', 'web', [['tee', 1]], 7 * MIN]],
  ['insufficient stock', ['c6', 'web', [['tee', 99]]]],
  ['a location outside the channel', ['c7', 'market', [['tee', 1, 'wh-2']]]],
  ['unknown channel', ['c8', 'nowhere', [['tee', 1]]]],
  ['unknown sku', ['c9', 'web', [['nope', 1]]]],
  ['unknown location', ['c10', 'web', [['tee', 1, 'nowhere']]]],
  ['zero units', ['c11', 'web', [['tee', 0]]]],
  ['negative units', ['c12', 'web', [['tee', -1]]]],
  ['a SKU sold by length (its receipt shows a decimal string)', ['c13', 'web', [['rope', 2]]]],
  ['empty id', ['', 'web', [['tee', 1]]]],
  ['two lines', ['m1', 'web', [['tee', 1], ['rope', 1, 'wh-1']]]],
  ['two lines, replayed', ['m1', 'web', [['tee', 1], ['rope', 1, 'wh-1']]]],
  ['the same SKU twice', ['m2', 'web', [['tee', 1], ['tee', 1, 'wh-2']]]],
  ['two lines, one sold by length', ['m3', 'web', [['tee', 1], ['rope', 1]]]],
  ['two lines bound at once, one split', ['m4', 'web', [['tee', 1], ['tee', 4]], 9 * MIN, { pool: false }]],
  ['two lines bound at once, one line each', ['m5', 'web', [['tee', 1, 'wh-1'], ['rope', 1]], null, { pool: false }]],
  ['two lines, the second refused', ['m6', 'web', [['tee', 1], ['tee', 50]]]],
  ['two lines, an unknown location', ['m7', 'web', [['tee', 1], ['tee', 1, 'x'.repeat(400)]]]],
  ['twenty lines (past the stack room for arguments)', ['m8', 'web', Array.from({ length: 20 }, (_, i) => ['tee', 1, i % 2 ? 'wh-1' : 'wh-2'])]],
  ['twenty lines, too many for the stock', ['m9', 'web', Array.from({ length: 20 }, () => ['tee', 1])]],
]

test('hold: the raw call and the napi-rs method agree, case by case', () => {
  const { fast, slow, clock } = pair()
  const s = spy()
  try {
    for (const [name, [id, channel, lines, ttl, options]] of CASES) {
      const before = s.calls
      const a = outcome(() => fast.hold(id, channel, lines, ttl, options))
      assert.equal(s.calls, before + 1, `${name}: took the raw call`)
      const b = outcome(() => slow.hold(id, channel, lines.map(asObject), ttl, options))
      assert.equal(s.calls, before + 1, `${name}: object lines take the napi-rs method`)
      assert.deepStrictEqual(a, b, name)
      clock.advance(1000)
    }
    assert.deepStrictEqual(fast.eventsSince(0, 1000), slow.eventsSince(0, 1000))
    assert.deepStrictEqual(fast.kpis(), slow.kpis())
  } finally {
    s.restore()
  }
})

test('hold: inputs the raw call does not take go to the napi-rs method', () => {
  const { fast } = pair()
  const s = spy()
  try {
    const shapes = [
      [],
      [['tee', 1], { sku: 'tee', qty: 1 }], // one line not of the shape
      [['tee', 1], ['tee', 1.5]],
      [['tee', '1']], // a decimal string
      [['tee', 1.5]], // a fraction
      [['tee', 2 ** 53]], // past 2^53
      [['tee', 1, null]],
      [{ sku: 'tee', qty: 1 }],
    ]
    for (const lines of shapes) outcome(() => fast.hold('o', 'web', lines))
    outcome(() => fast.hold('o', 'web', [['tee', 1]], 0))
    outcome(() => fast.hold('o', 'web', [['tee', 1]], 1.5))
    outcome(() => fast.hold('o', 'web', [['tee', 1]], null, { pool: 'yes' }))
    outcome(() => fast.hold(1, 'web', [['tee', 1]]))
    assert.equal(s.calls, 0)
    // Past 4,096 lines (three arguments each): the napi-rs method, which
    // refuses it by the engine's own limit (1,000 by default).
    const many = Array.from({ length: 5000 }, () => ['tee', 1])
    const r = outcome(() => fast.hold('o', 'web', many))
    assert.equal(r.error.code, 'E_INVALID_ARGUMENT')
    assert.equal(s.calls, 0)
  } finally {
    s.restore()
  }
})

// CASES as batch requests.
const requests = () =>
  CASES.map(([, [id, channel, lines, ttl, options]]) => ({
    id,
    channel,
    lines,
    ...(ttl != null ? { ttlMs: ttl } : {}),
    ...(options ? { pool: options.pool } : {}),
  }))

const show = (xs) => xs.map((x) => (x instanceof Error ? { error: { ...x, message: x.message } } : { ok: x }))
const infos = (e, reqs) => reqs.map((r) => outcome(() => e.holdInfo(r.id)))

// Both engines answered `reqs` alike (`a`, `b`) and are in the same state.
function agree(fast, slow, reqs, a, b) {
  assert.deepStrictEqual(show(a), show(b))
  assert.deepStrictEqual(fast.kpis(), slow.kpis())
  assert.deepStrictEqual(fast.eventsSince(0, 1000), slow.eventsSince(0, 1000))
  assert.deepStrictEqual(infos(fast, reqs), infos(slow, reqs)) // under the ids asked for
}
const ascii = (r) => /^[\x00-\x7f]*$/.test(r.id + r.lines.map((l) => l.join('')).join(''))

// Every case in one batch (some ids are not ASCII, so the packed text is
// decoded string by string), then the ASCII ones alone (the text is taken
// as it is).
for (const [which, pick] of [['all cases', () => true], ['ASCII cases only', ascii]]) {
  test(`holdBatch: the packed batch and the napi-rs batch agree (${which})`, () => {
    const { fast, slow } = pair()
    const reqs = requests().filter(pick)
    const s = spy()
    try {
      const a = fast.holdBatch(reqs)
      assert.deepEqual([s.calls, s.packed], [0, 1])
      const b = slow.holdBatch(reqs.map((r) => ({ ...r, lines: r.lines.map(asObject) })))
      assert.deepEqual([s.calls, s.packed], [0, 1])
      agree(fast, slow, reqs, a, b)
    } finally {
      s.restore()
    }
  })

  test(`holdBatchAsync: the packed batch and the napi-rs batch agree (${which})`, async () => {
    const { fast, slow } = pair()
    const reqs = requests().filter(pick)
    const s = spy()
    try {
      const pending = fast.holdBatchAsync(reqs)
      const [id, lines] = [reqs[0].id, reqs[0].lines]
      reqs[0].id = 'changed while in flight' // the receipts keep what was asked
      reqs[0].lines = [['tee', 3]]
      const a = await pending
      Object.assign(reqs[0], { id, lines })
      assert.equal(s.packed, 1)
      const b = await slow.holdBatchAsync(reqs.map((r) => ({ ...r, lines: r.lines.map(asObject) })))
      assert.deepEqual([s.calls, s.packed], [0, 1])
      agree(fast, slow, reqs, a, b)
    } finally {
      s.restore()
    }
  })
}

test('a packed batch that does not add up is refused before anything is held', () => {
  const { fast } = pair()
  const nums = (xs) => new Float64Array(xs)
  const bad = [
    ['c1webtee', nums([2, 3, NaN, NaN, 1, 3, 1])], // a line short
    ['c1webtee', nums([2, 3, NaN, NaN, 1, 3, 1, -1, 0])], // a number left over
    ['c1webteeX', nums([2, 3, NaN, NaN, 1, 3, 1, -1])], // text left over
    ['c1webte', nums([2, 3, NaN, NaN, 1, 3, 1, -1])], // text too short
    ['c1webtee', nums([2, 3, NaN, NaN, 1, 3, 1e300, -1])], // as the napi-rs method: E_INVALID_QUANTITY
    ['c1webtee', nums([-2, 3, NaN, NaN, 1, 3, 1, -1])],
    ['c1webtee', nums([2, 3, 0, NaN, 1, 3, 1, -1])], // ttl 0
  ]
  for (const call of ['_holdBatchPacked', '_holdBatchAsyncPacked']) {
    for (const [text, n] of bad) {
      assert.throws(
        () => fast[call](text, n),
        (x) => x.code === (n[6] === 1e300 ? 'E_INVALID_QUANTITY' : 'E_INVALID_ARGUMENT'),
        `${call} ${n}`,
      )
    }
    assert.throws(() => fast[call](5, nums([])), (x) => x.code === 'E_INVALID_ARGUMENT')
  }
  assert.equal(fast.availability('web', 'tee'), 10)
})

test('availability: the raw call and the napi-rs method agree', () => {
  const { fast } = pair()
  fast.hold('c1', 'web', [['tee', 2]])
  const s = spy()
  const real = u.availabilityOne
  let raw = 0
  u.availabilityOne = (...a) => {
    raw++
    return real(...a)
  }
  try {
    const cases = [['web', 'tee'], ['web', 'rope'], ['market', 'tee'], ['nowhere', 'tee'], ['web', 'nope'], ['', '']]
    for (const [channel, sku] of cases) {
      const a = outcome(() => fast.availability(channel, sku))
      const b = outcome(() => fast.availabilityMany(channel, [sku])[0])
      assert.deepStrictEqual(a, b, `${channel} ${sku}`)
    }
    assert.equal(raw, cases.length)
    assert.equal(fast.availability('web', 'tee'), 8)
    assert.equal(fast.availability('web', 'rope'), '10.50')
    outcome(() => fast.availability('web', 5)) // not strings: the napi-rs method
    assert.equal(raw, cases.length + 2)
  } finally {
    u.availabilityOne = real
    s.restore()
  }
})

test('holdBatch: a malformed request anywhere throws before anything is held', () => {
  const { fast } = pair()
  const good = { id: 'g', channel: 'web', lines: [['tee', 1]] }
  for (const bad of [{ id: 'b', channel: 'web', lines: [['tee', NaN]] }, null, { id: 'b', channel: 'web', lines: [['tee', 1]], ttlMs: -5 }]) {
    const reqs = [good, good, bad]
    assert.throws(() => fast.holdBatch(reqs), (x) => x.code === 'E_INVALID_ARGUMENT')
    assert.equal(fast.availability('web', 'tee'), 10)
  }
  // A hole is malformed too (the napi-rs method says so).
  assert.throws(() => fast.holdBatch([good, , good]), (x) => x.code === 'E_INVALID_ARGUMENT') // eslint-disable-line no-sparse-arrays
  assert.equal(fast.availability('web', 'tee'), 10)
})

test('holdBatch on a durable engine is one packed call (one journal wait for all)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unistock-fast-'))
  try {
    const e = u.Engine.open(dir, { clock: new u.ManualClock(T0) })
    e.upsertLocation({ id: 'wh-1' })
    e.upsertChannel('web', ['wh-1'])
    e.receive('tee', 'wh-1', 5)
    const s = spy()
    try {
      const r = e.holdBatch([1, 2, 3].map((i) => ({ id: `c${i}`, channel: 'web', lines: [['tee', 1]] })))
      assert.deepEqual([s.calls, s.packed], [0, 1])
      assert.deepEqual(r.map((x) => x.hold), ['c1', 'c2', 'c3'])
      e.hold('c4', 'web', [['tee', 1]]) // a single hold takes the raw call
      assert.equal(s.calls, 1)
    } finally {
      s.restore()
    }
    e.close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('holdOne refuses anything but an engine handle, and changes nothing', () => {
  const { fast } = pair()
  const notHandles = [undefined, null, {}, 1, 'x', fast, Buffer.alloc(8)]
  for (const h of notHandles) {
    assert.throws(
      () => u.holdOne(h, 'c1', 'web', 'tee', 1),
      (x) => x.code === 'E_INVALID_ARGUMENT' && x.field === 'engine',
    )
  }
  const h = fast._fastHandle()
  assert.throws(() => u.holdOne(h, 'c1', 'web', 'tee', '1'), (x) => x.field === 'qty')
  assert.throws(() => u.holdOne(h, 5, 'web', 'tee', 1), (x) => x.field === 'id')
  const lines = (...args) => u.holdLines(h, 'c1', 'web', undefined, undefined, ...args)
  for (const [args, field] of [[['tee', 1], 'lines'], [['tee', 1, undefined, 'tee'], 'lines'], [[1, 1, undefined], 'sku'], [['tee', 'x', undefined], 'qty'], [['tee', 1, 7], 'location']]) {
    assert.throws(() => lines(...args), (x) => x.code === 'E_INVALID_ARGUMENT' && x.field === field, JSON.stringify(args))
  }
  assert.throws(() => u.holdLines(h, 'c1', 'web', 0, undefined, 'tee', 1, undefined), (x) => x.field === 'ttlMs')
  assert.throws(() => u.holdLines({}, 'c1', 'web', undefined, undefined, 'tee', 1, undefined), (x) => x.field === 'engine')
  assert.equal(fast.availability('web', 'tee'), 10)
})
