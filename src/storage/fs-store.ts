import { constants, createReadStream, createWriteStream } from 'node:fs'
import { access, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ConveyorError, ObjectNotFoundError, StorageUnavailableError } from '../errors.ts'
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store.ts'

const TYPES: Record<string, string> = {
  csv: 'text/csv',
  pdf: 'application/pdf',
  json: 'application/json',
  html: 'text/html',
}

/** Objects as files under one directory. Writes go to a temporary file renamed into place, so readers never see half a file. */
export class FsObjectStore implements ObjectStore {
  readonly driver = 'fs'
  readonly root: string

  constructor(root: string) {
    this.root = resolve(root)
  }

  async ready(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true })
      await access(this.root, constants.W_OK)
    } catch (err) {
      throw new StorageUnavailableError(`storage directory ${this.root} is not writable`, { cause: err })
    }
  }

  async put(key: string, body: Readable | Buffer | string, _options?: PutOptions): Promise<number> {
    const path = this.#path(key)
    await mkdir(dirname(path), { recursive: true })
    const temp = `${path}.${process.pid}.${Date.now()}.partial`
    try {
      if (typeof body === 'string' || Buffer.isBuffer(body)) await writeFile(temp, body)
      else await pipeline(body, createWriteStream(temp))
      await rename(temp, path)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
    return (await stat(path)).size
  }

  async get(key: string): Promise<Readable> {
    const path = this.#path(key)
    if (!(await this.head(key))) throw new ObjectNotFoundError(key)
    return createReadStream(path)
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.#path(key))
      return s.isFile() ? this.#info(key, s.size, s.mtime) : undefined
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const start = this.#path(prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '')
    let entries: string[]
    try {
      entries = await readdir(start, { recursive: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const out: ObjectInfo[] = []
    for (const entry of entries) {
      const key = relative(this.root, join(start, entry)).split(sep).join('/')
      if (!key.startsWith(prefix) || key.endsWith('.partial')) continue
      const info = await this.head(key)
      if (info) out.push(info)
    }
    return out.sort((a, b) => a.key.localeCompare(b.key))
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true })
  }

  async downloadUrl(): Promise<string | undefined> {
    return undefined
  }

  #info(key: string, size: number, lastModified: Date): ObjectInfo {
    return { key, size, lastModified, contentType: TYPES[key.slice(key.lastIndexOf('.') + 1)] }
  }

  /** Maps a key to a path inside the root; a key that would escape it is refused. */
  #path(key: string): string {
    const path = resolve(this.root, key)
    if (path !== this.root && !path.startsWith(this.root + sep)) {
      throw new ConveyorError('INVALID_KEY', `object key "${key}" leaves the storage directory`)
    }
    return path
  }
}
