// dynalite ships no types; this is the part the tests use.
declare module 'dynalite' {
  import type { Server } from 'node:http'

  interface DynaliteOptions {
    /** Milliseconds a new table stays CREATING (0: ACTIVE at once). */
    createTableMs?: number
    deleteTableMs?: number
    updateTableMs?: number
    /** LevelDB folder; in memory when absent. */
    path?: string
  }
  function dynalite(options?: DynaliteOptions): Server
  export default dynalite
}
