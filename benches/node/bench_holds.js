// Node benchmark: single-line holds per second, lines per second through
// the batch call (sync and async) and availability reads per second, from
// one thread.
//
//   node benches/node/bench_holds.js [N]
'use strict'
const u = require(process.env.UNISTOCK_PACKAGE || '../../bindings-node')

const N = Number(process.argv[2] ?? 200000)
const SKUS = Array.from({ length: 1000 }, (_, i) => `sku-${String(i).padStart(5, '0')}`)

function engine() {
  const e = new u.Engine()
  e.upsertLocation({ id: 'wh-1' })
  e.upsertLocation({ id: 'wh-2' })
  e.upsertChannel('web', ['wh-1', 'wh-2'])
  for (const s of SKUS) e.receive(s, 'wh-1', 1e9)
  return e
}

function rate(n, f) {
  const t = process.hrtime.bigint()
  f()
  return n / (Number(process.hrtime.bigint() - t) / 1e9)
}

async function rateAsync(n, f) {
  const t = process.hrtime.bigint()
  await f()
  return n / (Number(process.hrtime.bigint() - t) / 1e9)
}

async function main() {
  const e = engine()
  const ids = Array.from({ length: N }, (_, i) => `h${i}`)
  const lines = Array.from({ length: N }, (_, i) => [[SKUS[i % SKUS.length], 1]])
  const results = {}
  results['single-line holds/s'] = rate(N, () => {
    for (let i = 0; i < N; i++) e.hold(ids[i], 'web', lines[i])
  })
  e.releaseBatch(ids)
  const batch = Array.from({ length: N }, (_, i) => ({ id: `b${i}`, channel: 'web', lines: lines[i] }))
  results['batch lines/s (1-line holds, 1000 per call)'] = rate(N, () => {
    for (let k = 0; k < N; k += 1000) e.holdBatch(batch.slice(k, k + 1000))
  })
  const ten = Array.from({ length: N / 10 }, (_, i) => ({ id: `t${i}`, channel: 'web', lines: Array.from({ length: 10 }, (_, j) => [SKUS[(i * 10 + j) % SKUS.length], 1]) }))
  results['batch lines/s (10-line holds, 100 per call)'] = rate(N, () => {
    for (let k = 0; k < ten.length; k += 100) e.holdBatch(ten.slice(k, k + 100))
  })
  const asyncBatch = Array.from({ length: N }, (_, i) => ({ id: `a${i}`, channel: 'web', lines: lines[i] }))
  results['async batch lines/s (1-line holds, 1000 per call, all in flight)'] = await rateAsync(N, async () => {
    const calls = []
    for (let k = 0; k < N; k += 1000) calls.push(e.holdBatchAsync(asyncBatch.slice(k, k + 1000)))
    await Promise.all(calls)
  })
  results['availability reads/s'] = rate(N, () => {
    for (let i = 0; i < N; i++) e.availability('web', SKUS[i % SKUS.length])
  })
  const width = Math.max(...Object.keys(results).map((k) => k.length))
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(width)} ${Math.round(v).toLocaleString('en-US').padStart(14)}`)
}

main()
