// Runs fauxqs (SQS + S3) on a free loopback port in its own process and prints the port, so a benchmark's
// emulator does not share the benchmark's event loop.
import type { AddressInfo } from 'node:net'
import { buildApp } from 'fauxqs'

const app = buildApp({ logger: false, defaultRegion: 'us-east-1' })
await app.listen({ host: '127.0.0.1', port: 0 })
console.log(JSON.stringify({ port: (app.server.address() as AddressInfo).port }))
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
