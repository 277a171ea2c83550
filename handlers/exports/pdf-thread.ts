import { extname } from 'node:path'
import { Worker } from 'node:worker_threads'
import { Serializer } from '../../src/serializer.ts'
import type { PdfReport } from './pdf.ts'

// One PDF at a time per process: each needs ~500 MB at the row cap.
const renders = new Serializer()

/**
 * Renders the PDF on a worker thread. pdfmake lays the whole document out synchronously (about 6 s
 * for 20,000 rows on this machine), which on the main thread would stall every other job, lease
 * extension and, in an `all` process, the API. Aborting `signal` terminates the thread, so a timed-out
 * export really stops. PDFs render one at a time per process; the others wait their turn.
 */
export function renderPdfInThread(report: PdfReport, signal: AbortSignal): Promise<Buffer> {
  return renders.run('pdf', () => render(report, signal), signal)
}

function render(report: PdfReport, signal: AbortSignal): Promise<Buffer> {
  signal.throwIfAborted()
  const thread = new Worker(new URL(`./pdf-thread-main${extname(import.meta.url)}`, import.meta.url), {
    workerData: report,
  })
  let onAbort: () => void = () => {}
  return new Promise<Buffer>((resolve, reject) => {
    onAbort = () => {
      void thread.terminate()
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    thread.once('message', (bytes: Uint8Array) =>
      resolve(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    )
    thread.once('error', reject)
    thread.once('exit', (code) => reject(new Error(`the PDF renderer thread exited with code ${code}`)))
  }).finally(() => signal.removeEventListener('abort', onAbort))
}
