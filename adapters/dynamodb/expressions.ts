import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import { marshall } from '@aws-sdk/util-dynamodb'

/**
 * Builds DynamoDB expressions with every attribute name and value behind a placeholder (so reserved
 * words such as `status`, `owner` and `type` need no thought).
 */
export class Expr {
  readonly names: Record<string, string> = {}
  readonly #values: Record<string, unknown> = {}
  #n = 0

  /** `#name` for an attribute. */
  name(attribute: string): string {
    const key = `#${attribute.replace(/[^A-Za-z0-9_]/g, '_')}`
    this.names[key] = attribute
    return key
  }

  /** `:vN` for a value. */
  value(v: unknown): string {
    const key = `:v${this.#n++}`
    this.#values[key] = v
    return key
  }

  get values(): Record<string, AttributeValue> | undefined {
    return Object.keys(this.#values).length > 0
      ? marshall(this.#values, { removeUndefinedValues: true, convertClassInstanceToMap: false })
      : undefined
  }

  /** The parameters every command takes. */
  params(): {
    ExpressionAttributeNames?: Record<string, string>
    ExpressionAttributeValues?: Record<string, AttributeValue>
  } {
    const values = this.values
    return {
      ...(Object.keys(this.names).length > 0 ? { ExpressionAttributeNames: this.names } : {}),
      ...(values ? { ExpressionAttributeValues: values } : {}),
    }
  }

  /** `SET a = :x, b = :y REMOVE c, d` from a record of values (undefined ones skipped) and names to remove. */
  update(set: Record<string, unknown>, remove: readonly string[] = [], extra: string[] = []): string {
    const sets = [
      ...Object.entries(set)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${this.name(k)} = ${this.value(v)}`),
      ...extra,
    ]
    const removes = remove.map((k) => this.name(k))
    return [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : '']
      .filter(Boolean)
      .join(' ')
  }
}
