// A small HTTP storefront service embedding unistock (plain node:http).
//
//   node examples/js/storefront.js      # listens on 127.0.0.1:8080
//
// GET  /channels/:channel/availability?sku=a&sku=b
// GET  /channels/:channel/availability/:sku/locations
// POST /holds                {id, channel, lines: [{sku, qty, location?}], ttlMs?}
// POST /holds/:id/commit     {order}
// DELETE /holds/:id
// POST /till-sales           {id, channel, lines}
// Engine errors become JSON bodies with the stable error code.
'use strict'
const http = require('node:http')
const u = require(process.env.UNISTOCK_PACKAGE || '../../bindings-node')

const STATUS = {
  E_INSUFFICIENT_STOCK: 409,
  E_ID_CONFLICT: 409,
  E_HOLD_NOT_ACTIVE: 409,
  E_LOCATION_CLOSED: 409,
  E_INVALID_QUANTITY: 422,
  E_INVALID_ARGUMENT: 422,
  E_LOCATION_NOT_IN_CHANNEL: 422,
}

function demoEngine() {
  const e = new u.Engine()
  e.upsertLocation({ id: 'wh-1' })
  e.upsertLocation({ id: 'store-1', kind: 'store' })
  e.upsertChannel('web', ['wh-1', 'store-1'])
  e.upsertChannel('store:store-1', ['store-1'])
  e.receive('tee-blue-m', 'wh-1', 10)
  e.receive('tee-blue-m', 'store-1', 2)
  return e
}

// A pool hold's part has no location: say so (null) in the JSON.
const receiptOut = (r) => ({
  ...r,
  expiresAt: r.expiresAt?.toISOString(),
  parts: r.parts?.map((p) => ({ ...p, location: p.location ?? null })),
})

function createServer(engine) {
  const routes = [
    ['GET', /^\/channels\/([^/]+)\/availability$/, (m, url) => {
      const skus = url.searchParams.getAll('sku')
      const values = engine.availabilityMany(decodeURIComponent(m[1]), skus)
      return [200, { channel: decodeURIComponent(m[1]), available: Object.fromEntries(skus.map((s, i) => [s, values[i]])) }]
    }],
    ['GET', /^\/channels\/([^/]+)\/availability\/([^/]+)\/locations$/, (m) => [200, engine.availabilityByLocation(decodeURIComponent(m[1]), decodeURIComponent(m[2]))]],
    ['POST', /^\/holds$/, (m, url, body) => [201, receiptOut(engine.hold(body.id, body.channel, body.lines, body.ttlMs))]],
    ['POST', /^\/holds\/([^/]+)\/commit$/, (m, url, body) => [200, engine.commit(decodeURIComponent(m[1]), body.order)]],
    ['DELETE', /^\/holds\/([^/]+)$/, (m) => {
      engine.release(decodeURIComponent(m[1]))
      return [204, null]
    }],
    ['POST', /^\/till-sales$/, (m, url, body) => [201, engine.tillSale(body.id, body.channel, body.lines)]],
  ]
  return http.createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      const url = new URL(req.url, 'http://localhost')
      const send = (status, body) => {
        res.writeHead(status, body === null ? {} : { 'content-type': 'application/json' })
        res.end(body === null ? undefined : JSON.stringify(body, (k, v) => (typeof v === 'bigint' ? v.toString() : v)))
      }
      for (const [method, pattern, handler] of routes) {
        const m = req.method === method && url.pathname.match(pattern)
        if (!m) continue
        try {
          const body = raw ? JSON.parse(raw) : {}
          return send(...handler(m, url, body))
        } catch (err) {
          if (err instanceof SyntaxError) return send(400, { code: 'E_BAD_JSON', message: err.message })
          if (typeof err.code !== 'string' || !err.code.startsWith('E_')) throw err
          const status = err.code.startsWith('E_UNKNOWN') ? 404 : (STATUS[err.code] ?? 400)
          return send(status, { ...err, code: err.code, message: err.message })
        }
      }
      send(404, { code: 'E_NOT_FOUND' })
    })
  })
}

if (require.main === module) {
  createServer(demoEngine()).listen(8080, '127.0.0.1', () => console.log('storefront on http://127.0.0.1:8080'))
}
module.exports = { createServer, demoEngine }
