import type { DeadLetter, Queue, QueueStats } from '../queue.ts'

/** One queue's depth, as the CLI and the dashboard show it (`null`: the backend cannot tell). */
export interface QueueOverview extends QueueStats {
  name: string
}

/** A dead letter with the facts an operator needs first. */
export interface DeadLetterSummary {
  id: string
  type: string | undefined
  /** Why: `max_attempts`, `non_retryable`, `invalid_payload`, `unknown_type`, `malformed`. */
  code: string
  message: string
  /** The last error's name and message, when a handler threw. */
  error: string | undefined
  /** Why, said once: the message, with the error's class (and its text, when the message lacks it). */
  reason: string
  attempts: number
  /** When it was dead-lettered (ISO 8601). */
  at: string
  /** The job's payload; undefined when the body was not an envelope (then `body` has it). */
  payload: unknown
  body: string | undefined
}

/**
 * What the CLI (`npm run conveyor`) and the dashboard (`/dashboard`) do with queues: read their depth,
 * look at dead letters and move them back. Both call these, so they always agree.
 */
export async function overview(queue: Queue, names: readonly string[]): Promise<QueueOverview[]> {
  return Promise.all(names.map(async (name) => ({ name, ...(await queue.stats(name)) })))
}

export async function deadLetters(queue: Queue, name: string, limit = 50): Promise<DeadLetterSummary[]> {
  const letters = await queue.peekDeadLetters(name, limit)
  return letters.map((letter) => ({
    id: letter.id,
    type: letter.envelope?.type,
    code: letter.info.code,
    message: letter.info.message,
    error: letter.info.error ? `${letter.info.error.name}: ${letter.info.error.message}` : undefined,
    reason: reasonOf(letter.info),
    attempts: letter.info.attempts,
    at: new Date(letter.info.at).toISOString(),
    payload: letter.envelope?.payload,
    body: letter.envelope ? undefined : letter.body,
  }))
}

/** "undeliverable address (NonRetryableError)": the error's text is not repeated when the message has it. */
export function reasonOf(info: DeadLetter['info']): string {
  const { message, error } = info
  if (!error) return message
  if (!error.message || message.includes(error.message)) return `${message} (${error.name})`
  return `${message} (${error.name}: ${error.message})`
}

/** Moves dead letters back (all, or those `ids`) with fresh attempts; resolves to how many moved. */
export function redrive(queue: Queue, name: string, ids?: readonly string[]): Promise<number> {
  return queue.redrive(name, ids && ids.length > 0 ? { ids } : {})
}
