import { type ErrorInfo, MalformedMessageError } from './errors.ts'
import { newId } from './ids.ts'

export const ENVELOPE_VERSION = 1

/**
 * What travels on every queue: the job's payload plus what the worker and tools need to know about it.
 * Adapters encode it to a string body with `encodeEnvelope` and decode it with `decodeEnvelope`.
 */
export interface Envelope<P = unknown> {
  /** Schema version of this envelope. */
  v: number
  /** uuid v7: unique, and sorts by creation time. Stays the same across retries and redrives. */
  id: string
  /** The job type; the worker dispatches on it. */
  type: string
  /** JSON payload, validated against the job type's schema before the handler sees it. */
  payload: P
  /**
   * The 1-based attempt (handler run) number of this copy's first delivery. Adapters add the provider's
   * own delivery count on top, so a copy re-sent for a long delay, a retry-after or a hand-back carries
   * the runs already spent (a hand-back of a delivery that never ran keeps its number).
   */
  attempt: number
  /** Attempts allowed before the message is dead-lettered. */
  maxAttempts: number
  /** Epoch ms when first enqueued. */
  enqueuedAt: number
  /** Epoch ms before which the message must not run (delays beyond a provider's maximum). */
  notBefore?: number
  /** W3C trace context of the enqueuing request, if any. */
  traceparent?: string
  correlationId?: string
  /** Present on dead-lettered copies: why the message ended there. */
  deadLetter?: DeadLetterInfo
}

/** Why a message was dead-lettered. */
export interface DeadLetterReason {
  /** `max_attempts`, `non_retryable`, `invalid_payload`, `unknown_type`, `malformed`. */
  code: DeadLetterCode
  message: string
  /** The last error the handler (or validation) raised. */
  error?: ErrorInfo
}

export type DeadLetterCode =
  | 'max_attempts'
  | 'non_retryable'
  | 'invalid_payload'
  | 'unknown_type'
  | 'malformed'
  /** A claim-checked body whose object is gone from the store. */
  | 'claim_check_missing'
  /** Moved by the backend's own safety net (an SQS RedrivePolicy, a Pub/Sub dead-letter policy). */
  | 'receive_limit'

export interface DeadLetterInfo extends DeadLetterReason {
  /** The queue the message was taken from. */
  queue: string
  /** The attempt that failed last. */
  attempts: number
  /** Epoch ms when it was dead-lettered. */
  at: number
}

export interface NewEnvelope<P> {
  type: string
  payload: P
  maxAttempts: number
  now: number
  delayMs?: number
  traceparent?: string
  correlationId?: string
}

export function createEnvelope<P>(spec: NewEnvelope<P>): Envelope<P> {
  const env: Envelope<P> = {
    v: ENVELOPE_VERSION,
    id: newId(),
    type: spec.type,
    payload: spec.payload,
    attempt: 1,
    maxAttempts: spec.maxAttempts,
    enqueuedAt: spec.now,
  }
  if (spec.delayMs && spec.delayMs > 0) env.notBefore = spec.now + spec.delayMs
  if (spec.traceparent) env.traceparent = spec.traceparent
  if (spec.correlationId) env.correlationId = spec.correlationId
  return env
}

export function encodeEnvelope(env: Envelope): string {
  return JSON.stringify(env)
}

/**
 * Parses a body back into an envelope. Throws MalformedMessageError for anything that is not one, so
 * the worker can dead-letter it with that reason.
 */
export function decodeEnvelope(body: string, providerId?: string): Envelope {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch (cause) {
    throw new MalformedMessageError('message body is not JSON', { cause, messageId: providerId })
  }
  const env = value as Partial<Envelope> | null
  if (
    env === null ||
    typeof env !== 'object' ||
    typeof env.id !== 'string' ||
    typeof env.type !== 'string' ||
    typeof env.attempt !== 'number' ||
    typeof env.maxAttempts !== 'number' ||
    typeof env.enqueuedAt !== 'number' ||
    !('payload' in env)
  ) {
    throw new MalformedMessageError(
      'message body is not a Conveyor envelope (id, type, payload, attempt...)',
      {
        messageId: providerId,
      },
    )
  }
  if (env.v !== ENVELOPE_VERSION) {
    throw new MalformedMessageError(`unsupported envelope version ${String(env.v)}`, { messageId: env.id })
  }
  return env as Envelope
}

/** The copy a redrive sends back: same id and payload, attempts start again, no dead-letter note. */
export function freshCopy(envelope: Envelope): Envelope {
  const { deadLetter: _dead, notBefore: _notBefore, ...rest } = envelope
  return { ...rest, attempt: 1 }
}

/** The envelope in `body`, or undefined when it is not one (for tools that show whatever is there). */
export function tryDecodeEnvelope(body: string): Envelope | undefined {
  try {
    return decodeEnvelope(body)
  } catch {
    return undefined
  }
}
