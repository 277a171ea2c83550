import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createEnvelope, decodeEnvelope, type Envelope, encodeEnvelope } from '../src/envelope.ts'
import { MalformedMessageError } from '../src/errors.ts'

/** What every body must come to: an envelope with the fields the worker reads, or MalformedMessageError. */
function decodesOrIsMalformed(body: string): void {
  let env: Envelope
  try {
    env = decodeEnvelope(body, 'provider-id')
  } catch (err) {
    assert.ok(
      err instanceof MalformedMessageError,
      `threw ${String(err)} for ${JSON.stringify(body).slice(0, 200)}`,
    )
    assert.equal(err.name, 'MalformedMessageError')
    assert.equal(typeof err.message, 'string')
    return
  }
  assert.equal(typeof env.id, 'string')
  assert.equal(typeof env.type, 'string')
  assert.equal(typeof env.attempt, 'number')
  assert.equal(typeof env.maxAttempts, 'number')
  assert.equal(typeof env.enqueuedAt, 'number')
  assert.ok('payload' in env)
}

const runs = { numRuns: 3_000 }

test('envelope decoder: any string decodes to an envelope or is a MalformedMessageError, never another throw', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), decodesOrIsMalformed), runs)
})

test('envelope decoder: any JSON value decodes to an envelope or is a MalformedMessageError', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) =>
      decodesOrIsMalformed(JSON.stringify(value) ?? 'null'),
    ),
    runs,
  )
})

// An envelope-like object where any field may have any JSON type: the near misses a buggy producer sends.
const fieldValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined))
const nearEnvelope = fc.record(
  {
    v: fc.oneof(fc.constant(1), fieldValue),
    id: fc.oneof(fc.uuid(), fieldValue),
    type: fc.oneof(fc.string(), fieldValue),
    payload: fieldValue,
    attempt: fc.oneof(fc.integer(), fieldValue),
    maxAttempts: fc.oneof(fc.integer(), fieldValue),
    enqueuedAt: fc.oneof(fc.integer(), fieldValue),
    notBefore: fieldValue,
    deadLetter: fieldValue,
  },
  { requiredKeys: [] },
)

test('envelope decoder: envelopes with fields missing or of the wrong type decode or are MalformedMessageError', () => {
  fc.assert(
    fc.property(nearEnvelope, (env) => decodesOrIsMalformed(JSON.stringify(env))),
    runs,
  )
})

test('envelope decoder: a body with a field of the wrong type is refused, naming no other error', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('id', 'type', 'attempt', 'maxAttempts', 'enqueuedAt'),
      fc.oneof(
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 2 }),
        fc.object({ maxDepth: 1 }),
      ),
      (field, wrong) => {
        const env = { ...createEnvelope({ type: 't', payload: 1, maxAttempts: 5, now: 1 }), [field]: wrong }
        assert.throws(() => decodeEnvelope(JSON.stringify(env)), MalformedMessageError)
      },
    ),
    runs,
  )
})

test('envelope decoder: whatever JSON payload an envelope carries, decoding its encoding gives it back', () => {
  fc.assert(
    fc.property(
      fc.jsonValue({ maxDepth: 4 }),
      fc.string({ minLength: 1, maxLength: 50 }),
      fc.integer({ min: 1, max: 1000 }),
      (payload, type, maxAttempts) => {
        const env = createEnvelope({ type, payload, maxAttempts, now: Date.now() })
        assert.deepEqual(decodeEnvelope(encodeEnvelope(env)), JSON.parse(JSON.stringify(env)))
      },
    ),
    runs,
  )
})
