// Entry point of the PDF renderer thread (see pdf-thread.ts): render, hand the bytes back, exit.
import { parentPort, workerData } from 'node:worker_threads'
import { type PdfReport, renderPdf } from './pdf.ts'

const pdf = await renderPdf(workerData as PdfReport)
// A copy: Buffer's shared allocation pool cannot be transferred.
const bytes = new Uint8Array(pdf)
parentPort!.postMessage(bytes, [bytes.buffer as ArrayBuffer])
