// A panic inside the addon surfaces as an Error; it never aborts Node. Run
// in a child process so that an abort would be seen as a crash.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

test('a panic becomes an Error with code E_INTERNAL', () => {
  const script = `
    const u = require(${JSON.stringify(path.join(__dirname, '..'))})
    try { u.debugPanic(); console.log('no error') }
    catch (e) { console.log(JSON.stringify({ code: e.code, isError: e instanceof Error })) }
    const e = new u.Engine(); e.upsertLocation({ id: 'w' }); console.log('alive', e.receive('s', 'w', 1).onHand)
  `
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, RUST_BACKTRACE: '0' } })
  assert.equal(r.status, 0, r.stderr)
  const [first, second] = r.stdout.trim().split('\n')
  assert.deepEqual(JSON.parse(first), { code: 'E_INTERNAL', isError: true })
  assert.equal(second, 'alive 1')
})
