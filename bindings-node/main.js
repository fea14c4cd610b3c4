// The package's entry point: the generated loader's exports (`index.js`,
// typed by `index.d.ts`), with a shortcut for the hottest calls.
//
// `hold` with lines of whole units (`[sku, qty]` or `[sku, qty, location]`,
// strings and integers), and `availability` of one SKU, go through raw
// N-API calls; `holdBatch` and `holdBatchAsync` of such lines through one
// packed call (see `src/fast.rs`). A hold's receipt object is built here.
// Any other input goes to the napi-rs methods unchanged. Both run the same core calls, with the same
// conversions and errors; this file decides only which door the arguments
// take. It holds no rule of its own.
'use strict'

// Spelled so that Node's ESM loader sees the re-export: `import { Engine }
// from 'unistock'` needs it.
module.exports = require('./index.js')
const native = module.exports

const { Engine } = native
const nativeHold = Engine.prototype.hold
const nativeHoldBatch = Engine.prototype.holdBatch
const nativeHoldBatchAsync = Engine.prototype.holdBatchAsync
const nativeAvailability = Engine.prototype.availability
const FAST = Symbol('unistock.fast')
const MAX_SAFE = Number.MAX_SAFE_INTEGER

// Per engine: the external the raw calls take.
function fastOf(engine) {
  return engine[FAST] ?? (engine[FAST] = { handle: engine._fastHandle() })
}

// A line the raw and packed calls take: their conversions cannot throw for
// it, so a batch of such lines refuses items only as values, like the
// napi-rs batch.
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

// At most MAX_LINES lines: `holdLines` takes three arguments per line, and
// a call's arguments have a limit (longer holds take the napi-rs method).
const MAX_LINES = 4096

// Lines as a raw or packed call takes them, before each line is looked at.
function linesShape(lines) {
  return Array.isArray(lines) && lines.length > 0 && lines.length <= MAX_LINES
}

function simpleLines(lines) {
  if (!linesShape(lines)) return false
  for (let i = 0; i < lines.length; i++) if (!simpleLine(lines[i])) return false
  return true
}

const part = (l) => (l.length === 3 ? { sku: l[0], qty: l[1], location: l[2] } : { sku: l[0], qty: l[1] })

const partsOf = (lines) => (lines.length === 1 ? [part(lines[0])] : lines.map(part))

// The receipt a raw call stands for when it returns a number (the expiry):
// not a replay, one part per line, of the line's SKU, units and location
// (or the pool).
function receipt(id, expiresAt, lines) {
  return { hold: id, expiresAt: new Date(expiresAt), replayed: false, parts: partsOf(lines) }
}

// `holdLines` takes the lines as arguments (sku, qty, location triples):
// one N-API call reads them all, where an array costs one per element.
function holdLines(h, id, channel, lines, ttlMs, pool) {
  const args = [h, id, channel, ttlMs, pool]
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]
    args.push(l[0], l[1], l[2])
  }
  return native.holdLines(...args)
}

// One hold through a raw call: `holdOne` for one line, `holdLines` for
// more, with the fewest arguments (those not passed cost the native side
// nothing).
function holdRaw(h, id, channel, lines, ttlMs, pool) {
  if (lines.length > 1) return holdLines(h, id, channel, lines, ttlMs, pool)
  const l = lines[0]
  if (ttlMs != null || pool != null) return native.holdOne(h, id, channel, l[0], l[1], l[2], ttlMs, pool)
  return l.length === 2
    ? native.holdOne(h, id, channel, l[0], l[1])
    : native.holdOne(h, id, channel, l[0], l[1], l[2])
}

function poolOption(options) {
  if (options == null) return undefined
  if (typeof options === 'object' && (options.pool == null || typeof options.pool === 'boolean')) {
    return options.pool ?? undefined
  }
  return null // not a shape the raw calls take
}

Engine.prototype.hold = function hold(id, channel, lines, ttlMs, options) {
  const pool = poolOption(options)
  if (
    pool === null ||
    typeof id !== 'string' ||
    typeof channel !== 'string' ||
    !simpleTtl(ttlMs) ||
    !simpleLines(lines)
  ) {
    return nativeHold.call(this, id, channel, lines, ttlMs, options)
  }
  const r = holdRaw(fastOf(this).handle, id, channel, lines, ttlMs, pool)
  return typeof r === 'number' ? receipt(id, r, lines) : r
}

// A request the packed calls take, but for its lines (`pack` checks each
// line as it packs it).
function simpleHead(r) {
  return (
    r !== null &&
    typeof r === 'object' &&
    typeof r.id === 'string' &&
    typeof r.channel === 'string' &&
    linesShape(r.lines) &&
    simpleTtl(r.ttlMs) &&
    (r.pool == null || typeof r.pool === 'boolean')
  )
}

// `holdBatch` and `holdBatchAsync` of simple requests: packed into one
// string and one Float64Array (`PackedBatch::unpack` in `src/fast.rs`
// reads them; lengths in UTF-16 units), so reading them costs two N-API
// calls, not a few per request, and the batch is one core `hold_batch` (in
// a durable engine, one journal wait for all items). The answer is the
// expiries of the receipts that mirror their requests, built here from the
// ids and parts taken now (an async caller may change its requests
// meanwhile), and the other outcomes as objects.
//
// `null` when a request or a line is not simple: all requests or none go
// this way, as a malformed one must throw before anything is held, which
// the napi-rs method does. (Loops, not `every`, which skips holes.)
function pack(requests) {
  if (!Array.isArray(requests)) return null
  let count = 0
  for (let i = 0; i < requests.length; i++) {
    const q = requests[i]
    if (!simpleHead(q)) return null
    count += 5 + 3 * q.lines.length
  }
  let text = ''
  const nums = new Float64Array(count)
  let n = 0
  const ids = new Array(requests.length)
  const parts = new Array(requests.length)
  for (let i = 0; i < requests.length; i++) {
    const q = requests[i]
    const lines = q.lines
    ids[i] = q.id
    text += q.id + q.channel
    nums[n++] = q.id.length
    nums[n++] = q.channel.length
    nums[n++] = q.ttlMs ?? NaN
    nums[n++] = q.pool == null ? NaN : q.pool ? 1 : 0
    nums[n++] = lines.length
    for (let j = 0; j < lines.length; j++) {
      const l = lines[j]
      if (!simpleLine(l)) return null
      text += l[0]
      nums[n++] = l[0].length
      nums[n++] = l[1]
      if (l.length === 3) {
        text += l[2]
        nums[n++] = l[2].length
      } else {
        nums[n++] = -1
      }
    }
    parts[i] = partsOf(lines)
  }
  return { text, nums, ids, parts }
}

function unpacked(p, [expiries, at, others]) {
  const out = new Array(expiries.length)
  for (let i = 0; i < expiries.length; i++) {
    const x = expiries[i]
    if (x === x) out[i] = { hold: p.ids[i], expiresAt: new Date(x), replayed: false, parts: p.parts[i] }
  }
  for (let k = 0; k < at.length; k++) out[at[k]] = others[k]
  return out
}

Engine.prototype.holdBatch = function holdBatch(requests) {
  const p = pack(requests)
  if (p === null) return nativeHoldBatch.call(this, requests)
  return unpacked(p, this._holdBatchPacked(p.text, p.nums))
}

Engine.prototype.holdBatchAsync = function holdBatchAsync(requests) {
  const p = pack(requests)
  if (p === null) return nativeHoldBatchAsync.call(this, requests)
  return this._holdBatchAsyncPacked(p.text, p.nums).then((r) => unpacked(p, r))
}

Engine.prototype.availability = function availability(channel, sku) {
  if (typeof channel === 'string' && typeof sku === 'string') {
    return native.availabilityOne(fastOf(this).handle, channel, sku)
  }
  return nativeAvailability.call(this, channel, sku)
}
