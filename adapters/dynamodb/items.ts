import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import type { JobRecord } from '../../src/store/job-store.ts'

/**
 * How a job record is stored in the table: key `job#<id>` / `job`, its fields, `step` (its rank inside
 * the run), `resultJson` (the result as JSON text) and `expiresAt` in epoch seconds (the TTL attribute).
 */
export type Item = Record<string, unknown>
export type Key = Record<string, AttributeValue>

/** A conditional write was refused; `item` is the stored item when the backend returned it. */
export class ConditionFailed extends Error {
  readonly item: Item | undefined
  constructor(item: Item | undefined) {
    super('conditional check failed')
    this.item = item
  }
}

export function jobKeyValues(id: string) {
  return { pk: `job#${id}`, sk: 'job' }
}

export function jobKey(id: string): Key {
  return { pk: { S: `job#${id}` }, sk: { S: 'job' } }
}

/** A record as stored: the result as JSON text, the expiry in epoch seconds for the TTL. */
export function toItem(record: JobRecord): Item {
  const { result, expiresAt, ...rest } = record
  return {
    ...rest,
    expiresAt: Math.ceil(expiresAt / 1000),
    ...(result === undefined ? {} : { resultJson: JSON.stringify(result) }),
  }
}

export function fromItem(item: Item): JobRecord {
  const { pk: _pk, sk: _sk, step: _step, resultJson, expiresAt, ...rest } = item
  const record = { ...rest, expiresAt: (expiresAt as number) * 1000 } as JobRecord
  if (typeof resultJson === 'string') record.result = JSON.parse(resultJson)
  return record
}
