/**
 * Every error Conveyor throws is a ConveyorError: `name` matches the class, `code` is stable for
 * programs, `cause` keeps the original, and `messageId` says which message it concerns, if any.
 */
export interface ConveyorErrorOptions {
  cause?: unknown
  messageId?: string
}

export class ConveyorError extends Error {
  readonly code: string
  readonly messageId: string | undefined

  constructor(code: string, message: string, options: ConveyorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.messageId = options.messageId
  }
}

/**
 * Throw this from a handler when trying again cannot help (the account is closed, the input can never
 * be processed). The worker dead-letters the message at once instead of retrying.
 */
export class NonRetryableError extends ConveyorError {
  constructor(message: string, options: ConveyorErrorOptions = {}) {
    super('NON_RETRYABLE', message, options)
  }
}

/** The handler ran past its job type's `timeoutMs`; its AbortSignal was aborted with this reason. */
export class JobTimeoutError extends ConveyorError {
  readonly timeoutMs: number
  constructor(timeoutMs: number, options: ConveyorErrorOptions = {}) {
    super('JOB_TIMEOUT', `job timed out after ${timeoutMs} ms`, options)
    this.timeoutMs = timeoutMs
  }
}

/** A payload failed its job type's schema. Never retried. */
export class InvalidPayloadError extends ConveyorError {
  readonly problems: readonly string[]
  constructor(type: string, problems: readonly string[], options: ConveyorErrorOptions = {}) {
    super('INVALID_PAYLOAD', `invalid payload for ${type}: ${problems.join('; ')}`, options)
    this.problems = problems
  }
}

/** No job is registered for a message's type. Never retried. */
export class UnknownJobTypeError extends ConveyorError {
  constructor(type: string, options: ConveyorErrorOptions = {}) {
    super('UNKNOWN_JOB_TYPE', `no job registered for type "${type}"`, options)
  }
}

/** A message body that is not a Conveyor envelope. Never retried. */
export class MalformedMessageError extends ConveyorError {
  constructor(message: string, options: ConveyorErrorOptions = {}) {
    super('MALFORMED_MESSAGE', message, options)
  }
}

/** A bounded queue refused a message because it is full. Nothing was enqueued. */
export class QueueFullError extends ConveyorError {
  constructor(queue: string, capacity: number, options: ConveyorErrorOptions = {}) {
    super('QUEUE_FULL', `queue "${queue}" is full (capacity ${capacity} messages)`, options)
  }
}

/** The queue backend could not be reached or refused the request; safe to retry the call. */
export class QueueUnavailableError extends ConveyorError {
  constructor(message: string, options: ConveyorErrorOptions = {}) {
    super('QUEUE_UNAVAILABLE', message, options)
  }
}

/** A delivery was settled twice (ack after retry, and so on). The second call did nothing. */
export class AlreadySettledError extends ConveyorError {
  constructor(messageId: string) {
    super('ALREADY_SETTLED', `message ${messageId} was already settled`, { messageId })
  }
}

/** Used after close(). */
export class QueueClosedError extends ConveyorError {
  constructor(what: string) {
    super('QUEUE_CLOSED', `${what} is closed`)
  }
}

/** Invalid configuration or options; `problems` lists every one, not just the first. */
export class ConfigError extends ConveyorError {
  readonly problems: readonly string[]
  constructor(subject: string, problems: readonly string[]) {
    super('INVALID_CONFIG', `invalid ${subject}:\n  - ${problems.join('\n  - ')}`)
    this.problems = problems
  }
}

/** A plain, JSON-safe description of an error, as stored on dead letters and in logs. */
export interface ErrorInfo {
  name: string
  message: string
  code?: string
}

export function describeError(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string'
      ? { name: err.name, message: err.message, code }
      : { name: err.name, message: err.message }
  }
  return { name: 'Error', message: String(err) }
}

/** Some messages of a batch were not sent; `failedIds` says which. The others were. */
export class SendBatchError extends ConveyorError {
  readonly failedIds: readonly string[]
  constructor(queue: string, failedIds: readonly string[], options: ConveyorErrorOptions = {}) {
    super('SEND_BATCH_FAILED', `${failedIds.length} message(s) were not sent to "${queue}"`, options)
    this.failedIds = failedIds
  }
}

/**
 * The delivery's lease ran out before it was settled and the message may already be with another
 * consumer; the settlement did nothing. At-least-once: the message runs again.
 */
export class LeaseLostError extends ConveyorError {
  constructor(messageId: string) {
    super('LEASE_LOST', `lease on message ${messageId} expired before it was settled`, { messageId })
  }
}

/** No object under that key in the object store. */
export class ObjectNotFoundError extends ConveyorError {
  readonly key: string
  constructor(key: string, options: ConveyorErrorOptions = {}) {
    super('OBJECT_NOT_FOUND', `no object at "${key}"`, options)
    this.key = key
  }
}

/** A per-user limit was reached (e.g. exports queued or running at once); the API answers 429. */
export class LimitExceededError extends ConveyorError {
  constructor(message: string, options: ConveyorErrorOptions = {}) {
    super('LIMIT_EXCEEDED', message, options)
  }
}

/** The job store could not be reached or did not answer in time; safe to retry the call. */
export class StoreUnavailableError extends ConveyorError {
  constructor(message: string, options: ConveyorErrorOptions = {}) {
    super('STORE_UNAVAILABLE', message, options)
  }
}

/** A handler's result is larger than the job store keeps; nothing was written. */
export class ResultTooLargeError extends ConveyorError {
  readonly bytes: number
  readonly limitBytes: number
  constructor(bytes: number, limitBytes: number, options: ConveyorErrorOptions = {}) {
    super(
      'RESULT_TOO_LARGE',
      `job result is ${bytes} bytes; the job store keeps at most ${limitBytes}`,
      options,
    )
    this.bytes = bytes
    this.limitBytes = limitBytes
  }
}

/**
 * An idempotency key was reused with a different request body, or its first request has not finished
 * sending yet (`inProgress`). Nothing was enqueued; the API answers 409.
 */
export class IdempotencyConflictError extends ConveyorError {
  readonly key: string
  readonly inProgress: boolean
  constructor(key: string, message: string, options: ConveyorErrorOptions & { inProgress?: boolean } = {}) {
    super(options.inProgress ? 'IDEMPOTENCY_IN_PROGRESS' : 'IDEMPOTENCY_CONFLICT', message, options)
    this.key = key
    this.inProgress = options.inProgress ?? false
  }
}

/** Someone cancelled the job while it ran; its AbortSignal was aborted with this reason. Never retried. */
export class JobCancelledError extends ConveyorError {
  constructor(options: ConveyorErrorOptions = {}) {
    super('JOB_CANCELLED', 'job cancelled', options)
  }
}
