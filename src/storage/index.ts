// `conveyor/storage`: the object-store contract and the file-system store. The S3 store is
// `conveyor/storage/s3` (it needs the optional @aws-sdk packages).
export { FsObjectStore } from './fs-store.ts'
export { type ObjectInfo, ObjectNotFoundError, type ObjectStore, type PutOptions } from './object-store.ts'
