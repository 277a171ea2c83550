import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse, stringify, validate, version } from 'uuid'
import { newId } from '../src/ids.ts'

test('ids: valid, unique uuid v7s that sort in creation order', () => {
  const ids = Array.from({ length: 20_000 }, newId)
  for (const id of ids.slice(0, 100)) {
    assert.ok(validate(id))
    assert.equal(version(id), 7)
  }
  for (const id of ids) assert.equal(stringify(parse(id)), id, 'written as uuid writes its bytes')
  assert.equal(new Set(ids).size, ids.length)
  assert.deepEqual([...ids].sort(), ids)
})
