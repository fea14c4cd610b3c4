// Node benchmark: single-line holds per second, lines per second through
// the batch call (sync and async) and availability reads per second, from
// one thread.
//
//   node benches/node/bench_holds.js [N] [ROUNDS]
//
// Steady state, as in a running shop and as in the Python benchmark: each
// round holds N carts, then releases them; ended holds are purged after a
// 1 s retention on a manual clock. The rounds of the benchmarks take turns
// (round 1 of each, then round 2 of each...), so a busy spell on a shared
// host falls on all of them alike rather than on every round of one, and
// the best round of each is reported (default 10 rounds). Each
// round's inputs are built before its clock starts and a full GC then
// settles them, so a round does not pay for collecting its own setup (its
// own garbage, the receipts, is still its own).
'use strict'
const u = require(process.env.UNISTOCK_PACKAGE || '../../bindings-node')

require('v8').setFlagsFromString('--expose-gc')
const settle = require('vm').runInNewContext('gc')

const N = Number(process.argv[2] ?? 200000)
const ROUNDS = Number(process.argv[3] ?? 10)
const SKUS = Array.from({ length: 1000 }, (_, i) => `sku-${String(i).padStart(5, '0')}`)
const T0 = new Date('2026-01-01T00:00:00Z')

function engine(clock) {
  const e = new u.Engine({ clock, holdRetentionMs: 1000 })
  e.upsertLocation({ id: 'wh-1' })
  e.upsertLocation({ id: 'wh-2' })
  e.upsertChannel('web', ['wh-1', 'wh-2'])
  for (const s of SKUS) e.receive(s, 'wh-1', 1e9)
  return e
}

// The best rate of each of `benches` (name: [timed, after], N items a
// round), their rounds taking turns.
async function best(benches) {
  const top = Object.fromEntries(Object.keys(benches).map((k) => [k, 0]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, [timed, after]] of Object.entries(benches)) {
      settle()
      const t = process.hrtime.bigint()
      await timed()
      top[name] = Math.max(top[name], N / (Number(process.hrtime.bigint() - t) / 1e9))
      after()
    }
  }
  return top
}

async function main() {
  const clock = new u.ManualClock(T0)
  const e = engine(clock)
  const ids = Array.from({ length: N }, (_, i) => `h${i}`)
  const lines = Array.from({ length: N }, (_, i) => [[SKUS[i % SKUS.length], 1]])
  const batch = Array.from({ length: N }, (_, i) => ({ id: ids[i], channel: 'web', lines: lines[i] }))
  const ten = Array.from({ length: N / 10 }, (_, i) => ({
    id: `t${i}`,
    channel: 'web',
    lines: Array.from({ length: 10 }, (_, j) => [SKUS[(i * 10 + j) % SKUS.length], 1]),
  }))
  const endRound = (holds) => () => {
    e.releaseBatch(holds)
    clock.advance(2000)
    e.expireDue()
  }
  const tenIds = ten.map((t) => t.id)
  const results = await best({
    'single-line holds/s': [
      () => {
        for (let i = 0; i < N; i++) e.hold(ids[i], 'web', lines[i])
      },
      endRound(ids),
    ],
    'batch lines/s (1-line holds, 1000 per call)': [
      () => {
        for (let k = 0; k < N; k += 1000) e.holdBatch(batch.slice(k, k + 1000))
      },
      endRound(ids),
    ],
    'batch lines/s (10-line holds, 100 per call)': [
      () => {
        for (let k = 0; k < ten.length; k += 100) e.holdBatch(ten.slice(k, k + 100))
      },
      endRound(tenIds),
    ],
    'async batch lines/s (1-line holds, 1000 per call, all in flight)': [
      async () => {
        const calls = []
        for (let k = 0; k < N; k += 1000) calls.push(e.holdBatchAsync(batch.slice(k, k + 1000)))
        await Promise.all(calls)
      },
      endRound(ids),
    ],
    'availability reads/s': [
      () => {
        for (let i = 0; i < N; i++) e.availability('web', SKUS[i % SKUS.length])
      },
      () => {},
    ],
  })
  // Every timed hold was a new hold (none a replay of an unpurged id).
  const created = Number(e.kpis().holdsCreated)
  const expected = ROUNDS * (3 * N + ten.length)
  if (created !== expected) throw new Error(`${created} holds created, ${expected} expected`)
  const width = Math.max(...Object.keys(results).map((k) => k.length))
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(width)} ${Math.round(v).toLocaleString('en-US').padStart(14)}`)
}

main()
