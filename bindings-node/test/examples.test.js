// The JS examples: the omnichannel day keeps its invariants, and the HTTP
// storefront answers over 127.0.0.1.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const examples = path.join(__dirname, '..', '..', 'examples', 'js')
const { runDay } = require(path.join(examples, 'omnichannel_day.js'))
const { createServer, demoEngine } = require(path.join(examples, 'storefront.js'))

test('the omnichannel day keeps its invariants', async () => {
  const day = await runDay(2000, 4, 100)
  for (const [name, ok] of day.invariants) assert.ok(ok, name)
  assert.ok(day.kpis.holdsCreated > 0n)
})

test('the storefront: availability, holds, commit, release, till sale', async (t) => {
  const server = createServer(demoEngine())
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const base = `http://127.0.0.1:${server.address().port}`
  const call = async (method, p, body) => {
    const res = await fetch(base + p, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) })
    return [res.status, res.status === 204 ? null : await res.json()]
  }
  let [status, body] = await call('GET', '/channels/web/availability?sku=tee-blue-m')
  assert.equal(status, 200)
  assert.deepEqual(body.available, { 'tee-blue-m': 12 })
  ;[status, body] = await call('POST', '/holds', { id: 'cart-1', channel: 'web', lines: [{ sku: 'tee-blue-m', qty: 11 }] })
  assert.equal(status, 201)
  // A cart claims the channel's pool: no location until checkout.
  assert.deepEqual(body.parts, [{ sku: 'tee-blue-m', location: null, qty: 11 }])
  ;[status, body] = await call('POST', '/holds', { id: 'cart-2', channel: 'web', lines: [['tee-blue-m', 2]] })
  assert.equal(status, 409)
  assert.deepEqual([body.code, body.requested, body.available], ['E_INSUFFICIENT_STOCK', 2, 1])
  ;[status, body] = await call('POST', '/holds/cart-1/commit', { order: 'o-1' })
  assert.equal(status, 200)
  assert.equal(body.order, 'o-1')
  ;[status, body] = await call('DELETE', '/holds/cart-1')
  assert.equal(status, 409)
  assert.equal(body.state, 'committed')
  ;[status, body] = await call('POST', '/till-sales', { id: 'till-1', channel: 'store:store-1', lines: [['tee-blue-m', 1]] })
  assert.equal(status, 201)
  ;[status, body] = await call('GET', '/channels/web/availability/tee-blue-m/locations')
  assert.deepEqual(Object.fromEntries(body.map((x) => [x.location, x.available])), { 'wh-1': 0, 'store-1': 0 })
  ;[status, body] = await call('POST', '/holds', { id: 'c', channel: 'web', lines: [['tee-blue-m', -1]] })
  assert.deepEqual([status, body.code], [422, 'E_INVALID_QUANTITY'])
  ;[status] = await call('DELETE', '/holds/ghost')
  assert.equal(status, 404)
})
