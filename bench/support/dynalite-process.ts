// Runs dynalite (DynamoDB on in-memory LevelDB) on a free loopback port in its own process and prints the
// port, so a benchmark's store does not share the benchmark's event loop.
import type { AddressInfo } from 'node:net'
import dynalite from 'dynalite'

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
