// Type-checked with `tsc --strict` in the test command: the generated
// index.d.ts must describe the API the way a TypeScript storefront uses it.
import { Engine, ManualClock, type HoldReceipt, type UnistockError, type Quantity, type Change, type Plan, type Candidate, type Placement, type LedgerEntry, type Reconciliation, type LoadReport } from '../index'

const clock = new ManualClock(new Date('2026-01-01T09:00:00Z'))
const engine = new Engine({ clock, defaultTtlMs: 15 * 60_000, ledgerRetention: null })
engine.upsertLocation({ id: 'wh-1', kind: 'warehouse', costPerUnit: '0.35' })
engine.upsertChannel('web', ['wh-1'], { safetyUnits: 1 })
const onHand: Quantity = engine.receive('tee', 'wh-1', 10, { reason: 'po_receipt', reference: 'PO-1' }).onHand
const receipt: HoldReceipt = engine.hold('cart-1', 'web', [['tee', 2], { sku: 'tee', qty: 1, location: 'wh-1' }], 60_000)
const expires: Date = receipt.expiresAt
const results: Array<HoldReceipt | UnistockError> = engine.holdBatch([{ id: 'cart-2', channel: 'web', lines: [['tee', 1]] }])
for (const r of results) {
  if (r instanceof Error) {
    const code: string = r.code
    void code
  } else {
    void r.parts.map((p) => p.location)
  }
}
const pooled: HoldReceipt = engine.hold('cart-3', 'web', [['tee', 1]], null, { pool: true })
const where: string | null | undefined = pooled.parts[0].location
void where
const fromHold: Placement = engine.placeHold('cart-3', 'order-9', { shipTo: { lat: 48.85, lon: 2.35, country: 'FR' } })
void fromHold
const pending: Promise<Array<HoldReceipt | UnistockError>> = engine.holdBatchAsync([])
const sub = engine.subscribe((changes: Change[]) => void changes.length)
engine.unsubscribe(sub)
const seq: bigint = engine.lastSeq
const created: bigint = engine.kpis().holdsCreated
const plan: Plan = engine.route('web', [['tee', 1]], {
  shipTo: { lat: 48.85, lon: 2.35, country: 'FR' },
  strategies: ['fewest_shipments', (c: Candidate) => (c.location === 'wh-1' ? 1 : 0), 'nearest'],
  allowSplit: true,
  costPerKm: '0.01',
})
const placed: Placement = engine.place('order-1', 'web', [['tee', 1]], { collectAt: 'store-1' })
const allocated: Quantity[] = placed.allocations.map((a) => a.qty)
void [placed.replayed, allocated]
const promised: Date | undefined = plan.shipments[0]?.promisedAt
const ranks: number[] = plan.candidates.map((c) => c.rank)
void [onHand, expires, pending, seq, created, promised, ranks]
// durability
const durable: Engine = Engine.open('/tmp/unistock-types-check', { durability: 'interval:50', snapshotBytes: 1 << 20 })
const mode: string | null = durable.durability
const replayed: bigint | undefined = durable.recovery?.recordsReplayed
const feed = durable.subscribeFrom(0n, (entries: LedgerEntry[]) => void entries.map((x) => x.seq))
durable.unsubscribe(feed)
const rec: Reconciliation = durable.reconcile('tee', 'wh-1', 8, new Date(), { reference: 'ERP-1' })
const checkpointed: bigint = durable.checkpoint()
durable.flush()
durable.close()
void [mode, replayed, rec.changesAfter, rec.report.variance, checkpointed]
const loaded: LoadReport = engine.bulkLoad([['tee', 'wh-1', 5]], { reason: 'opening_stock', progress: (done: number, total: number) => void (done / total) })
void loaded.skusCreated
