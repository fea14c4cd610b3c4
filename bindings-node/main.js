// The package's entry point: the generated loader's exports (`index.js`,
// typed by `index.d.ts`), with a shortcut for the hottest calls.
//
// `hold` and `holdBatch` with one line of whole units (`[sku, qty]` or
// `[sku, qty, location]`, strings and integers) go through `holdOne`, a raw
// N-API call (see `src/fast.rs`), and the receipt object is built here;
// any other input goes to the napi-rs methods unchanged. Both run the same
// core call, with the same conversions and errors; this file decides only
// which door the arguments take. It holds no rule of its own.
'use strict'

// Spelled so that Node's ESM loader sees the re-export: `import { Engine }
// from 'unistock'` needs it.
module.exports = require('./index.js')
const native = module.exports

const { Engine } = native
const nativeHold = Engine.prototype.hold
const nativeHoldBatch = Engine.prototype.holdBatch
const FAST = Symbol('unistock.fast')
const MAX_SAFE = Number.MAX_SAFE_INTEGER

// Per engine: the external `holdOne` takes, and whether `holdBatch` may run
// as a loop of `holdOne`. Only in memory: a durable engine's batch waits for
// its journal once for all items, which a loop would do once per item.
function fastOf(engine) {
  return (
    engine[FAST] ??
    (engine[FAST] = { handle: engine._fastHandle(), loop: engine.durability === null })
  )
}

// A line `holdOne` takes: its conversions cannot throw for it, so a batch of
// such lines refuses items only as values, like the napi-rs batch.
function simpleLine(l) {
  return (
    Array.isArray(l) &&
    typeof l[0] === 'string' &&
    Number.isInteger(l[1]) &&
    l[1] >= -MAX_SAFE &&
    l[1] <= MAX_SAFE &&
    (l.length === 2 || (l.length === 3 && typeof l[2] === 'string'))
  )
}

function simpleTtl(t) {
  return t == null || (Number.isInteger(t) && t >= 1 && t <= MAX_SAFE)
}

// The receipt `holdOne` stands for when it returns a number (the expiry):
// not a replay, one part, of the line's SKU, units and location (or pool).
function receipt(id, expiresAt, l) {
  const part = l.length === 3 ? { sku: l[0], qty: l[1], location: l[2] } : { sku: l[0], qty: l[1] }
  return { hold: id, expiresAt: new Date(expiresAt), replayed: false, parts: [part] }
}

function poolOption(options) {
  if (options == null) return undefined
  if (typeof options === 'object' && (options.pool == null || typeof options.pool === 'boolean')) {
    return options.pool ?? undefined
  }
  return null // not a shape `holdOne` takes
}

Engine.prototype.hold = function hold(id, channel, lines, ttlMs, options) {
  const pool = poolOption(options)
  if (
    pool !== null &&
    typeof id === 'string' &&
    typeof channel === 'string' &&
    simpleTtl(ttlMs) &&
    Array.isArray(lines) &&
    lines.length === 1 &&
    simpleLine(lines[0])
  ) {
    const l = lines[0]
    const h = fastOf(this).handle
    // The fewest arguments: those not passed cost the native side nothing.
    const r =
      ttlMs == null && pool === undefined
        ? l.length === 2
          ? native.holdOne(h, false, id, channel, l[0], l[1])
          : native.holdOne(h, false, id, channel, l[0], l[1], l[2])
        : native.holdOne(h, false, id, channel, l[0], l[1], l[2], ttlMs, pool)
    return typeof r === 'number' ? receipt(id, r, l) : r
  }
  return nativeHold.call(this, id, channel, lines, ttlMs, options)
}

function simpleRequest(r) {
  return (
    r !== null &&
    typeof r === 'object' &&
    typeof r.id === 'string' &&
    typeof r.channel === 'string' &&
    Array.isArray(r.lines) &&
    r.lines.length === 1 &&
    simpleLine(r.lines[0]) &&
    simpleTtl(r.ttlMs) &&
    (r.pool == null || typeof r.pool === 'boolean')
  )
}

// All requests or none: a malformed one must throw before anything is held,
// which the napi-rs method does. (A loop, not `every`, which skips holes.)
function simpleRequests(requests) {
  if (!Array.isArray(requests)) return false
  for (let i = 0; i < requests.length; i++) if (!simpleRequest(requests[i])) return false
  return true
}

Engine.prototype.holdBatch = function holdBatch(requests) {
  const fast = simpleRequests(requests) && fastOf(this)
  if (!fast || !fast.loop) return nativeHoldBatch.call(this, requests)
  const out = new Array(requests.length)
  for (let i = 0; i < requests.length; i++) {
    const q = requests[i]
    const l = q.lines[0]
    const r = native.holdOne(fast.handle, true, q.id, q.channel, l[0], l[1], l[2], q.ttlMs, q.pool)
    out[i] = typeof r === 'number' ? receipt(q.id, r, l) : r
  }
  return out
}

