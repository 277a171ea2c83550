import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { describeSettings } from '../config/index.ts'
import * as conveyor from '../src/index.ts'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

test('readme: every setting in the config schema is documented with its default', () => {
  for (const s of describeSettings()) {
    const cells = readme
      .split('\n')
      .map((line) => line.split('|').map((cell) => cell.trim()))
      .find((c) => c[1] === `\`${s.env}\``)
    assert.ok(cells, `README has no row for ${s.env}`)
    const shown =
      s.default === undefined ? '(unset)' : s.default === '' ? '(empty)' : `\`${String(s.default)}\``
    assert.equal(cells[2], shown, `README row for ${s.env} should show default ${shown}`)
  }
})

test('readme: the package exports what the example imports', () => {
  for (const name of [
    'createQueue',
    'defineJob',
    'loadConfig',
    'NonRetryableError',
    'Producer',
    'Worker',
    'JobOutcomes',
  ]) {
    assert.equal(typeof (conveyor as Record<string, unknown>)[name], 'function', name)
  }
})
