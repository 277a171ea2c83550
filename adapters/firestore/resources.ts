/**
 * What the Firestore job store needs on the real service (the emulator needs none of it): the composite
 * indexes behind its list queries, and a TTL policy on `expireAt` in each collection. The GCP infra
 * applies these; the store's queries use only these shapes (every query orders by createdAt DESC, then
 * the document name DESC, which each index includes implicitly).
 */
export const FIRESTORE_JOB_INDEXES: readonly {
  collection: 'jobs'
  fields: readonly [string, 'ASC' | 'DESC'][]
}[] = [
  {
    collection: 'jobs',
    fields: [
      ['owner', 'ASC'],
      ['createdAt', 'DESC'],
    ],
  },
  {
    collection: 'jobs',
    fields: [
      ['owner', 'ASC'],
      ['status', 'ASC'],
      ['createdAt', 'DESC'],
    ],
  },
  {
    collection: 'jobs',
    fields: [
      ['owner', 'ASC'],
      ['type', 'ASC'],
      ['createdAt', 'DESC'],
    ],
  },
  {
    collection: 'jobs',
    fields: [
      ['status', 'ASC'],
      ['createdAt', 'DESC'],
    ],
  },
  {
    collection: 'jobs',
    fields: [
      ['queue', 'ASC'],
      ['status', 'ASC'],
      ['createdAt', 'DESC'],
    ],
  },
]

/** The TTL field of every collection (a Timestamp; Firestore deletes expired documents within about a day). */
export const FIRESTORE_TTL_FIELD = 'expireAt'

export const FIRESTORE_COLLECTIONS = ['jobs', 'claims', 'counters'] as const

/** The equality filters one list query may combine (each matches an index above; the rest filter in the client). */
export const INDEXED_FILTERS: readonly (readonly ('owner' | 'status' | 'type' | 'queue')[])[] = [
  ['owner', 'status'],
  ['owner', 'type'],
  ['owner'],
  ['queue', 'status'],
  ['status'],
  [],
]
