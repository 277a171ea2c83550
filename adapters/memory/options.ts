import Type, { type Static } from 'typebox'
import { SchemaChecker } from '../../src/validation.ts'

export const MemoryOptionsSchema = Type.Object(
  {
    /** Most messages one queue holds (ready + delayed + in flight); a send beyond it throws QueueFullError. Default 100000. */
    capacity: Type.Integer({ minimum: 1, default: 100_000 }),
    /** How long a taken delivery stays leased before it is redelivered. Default 30000 ms. */
    leaseMs: Type.Integer({ minimum: 1, default: 30_000 }),
  },
  { additionalProperties: false },
)

export type MemoryOptions = Static<typeof MemoryOptionsSchema>

export const memoryOptions = new SchemaChecker(MemoryOptionsSchema)
