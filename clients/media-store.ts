import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { StoredRef } from '../model/delivery.js';

/**
 * A stored object as workflows see it (claim check): never the bytes.
 * `id` carries 132 bits of randomness, so a URL built from it is unguessable.
 */
export type ContentRef = StoredRef;

/**
 * The Media Storage Server's storage: a directory (`filesystemMediaStore`, one node) or an
 * S3-compatible bucket (`s3MediaStore` in clients/media-store-s3.ts, shared by every node). The
 * media server, the activities and the janitor depend on this interface only.
 */
export interface MediaStore {
  /** Stores the bytes; once it resolves the object is durable and visible to every reader of the store. */
  put(bytes: Buffer, meta: { contentType: string; name?: string; ttlMs: number }): Promise<ContentRef>;
  /** Metadata of a live object; undefined for unknown or expired ones. */
  head(id: string): Promise<ContentRef | undefined>;
  /** A byte range (inclusive `end`) of a live object. */
  read(id: string, range?: { start: number; end: number }): Promise<Readable | undefined>;
  get(id: string): Promise<Buffer | undefined>;
  delete(id: string): Promise<void>;
  /** Removes expired objects of the whole store (not just this node's); returns how many. */
  purgeExpired(now?: Date): Promise<number>;
  /**
   * Objects and bytes held, counted by listing the store (one directory read, or one S3 list
   * request per 1000 objects): for a metrics scrape, not for a request path.
   */
  usage(): Promise<{ objects: number; bytes: number }>;
  /** Releases connections (the S3 client's sockets); the store is unusable afterwards. */
  close(): void;
}

/** A fresh object id: 22 base64url characters = 132 random bits (MEDIA_ID). */
export function newMediaId(): string {
  return randomBytes(17).toString('base64url').slice(0, 22);
}

/** Public URL of a stored object, served by ingress/media-server.ts; the file name is cosmetic. */
export function mediaUrl(publicUrl: string, ref: Pick<ContentRef, 'id' | 'name'>): string {
  const base = publicUrl.replace(/\/+$/, '');
  return `${base}/m/${ref.id}${ref.name ? `/${encodeURIComponent(ref.name)}` : ''}`;
}

/** 22 base64url characters = 132 random bits; nothing else can name a stored file. */
export const MEDIA_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * Makes the directory's entries durable (POSIX: a rename is on disk only once its directory is
 * fsynced). Where a platform cannot fsync a directory (Windows: EPERM/EISDIR) there is nothing more
 * to do.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(dir, 'r');
  } catch (e) {
    if (process.platform === 'win32') return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await fh.close();
  }
}

/**
 * Filesystem store. Crash-safe: bytes and metadata are each written to a temporary file, fsynced
 * and renamed into place, and the directory is fsynced after each rename, data first, so a reader
 * never sees a half-written object, an object exists only once its metadata does, metadata never
 * survives a crash without its data, and an object put() has returned survives one. Temporary
 * files left by a crash are removed by purge.
 */
/** `now` is the store's clock (expiry is decided by it); tests pass their own. */
export function filesystemMediaStore(dir: string, now: () => number = Date.now): MediaStore {
  const dataPath = (id: string) => join(dir, `${id}.bin`);
  const metaPath = (id: string) => join(dir, `${id}.json`);
  const ready = mkdir(dir, { recursive: true });

  async function writeAtomic(path: string, bytes: Buffer) {
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await syncDirectory(dir);
  }

  async function head(id: string): Promise<ContentRef | undefined> {
    if (!MEDIA_ID.test(id)) return undefined;
    try {
      const ref = JSON.parse(await readFile(metaPath(id), 'utf8')) as ContentRef;
      return Date.parse(ref.expiresAt) > now() ? ref : undefined;
    } catch {
      return undefined;
    }
  }

  return {
    async put(bytes, meta) {
      await ready;
      const id = newMediaId();
      const ref: ContentRef = {
        id,
        contentType: meta.contentType,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        ...(meta.name ? { name: meta.name } : {}),
        expiresAt: new Date(now() + meta.ttlMs).toISOString(),
      };
      await writeAtomic(dataPath(id), bytes);
      await writeAtomic(metaPath(id), Buffer.from(JSON.stringify(ref)));
      return ref;
    },
    head,
    async read(id, range) {
      if (!(await head(id))) return undefined;
      return createReadStream(dataPath(id), range ? { start: range.start, end: range.end } : {});
    },
    async get(id) {
      if (!(await head(id))) return undefined;
      return readFile(dataPath(id));
    },
    async delete(id) {
      if (!MEDIA_ID.test(id)) return;
      await rm(metaPath(id), { force: true }); // metadata first: the object disappears atomically
      await rm(dataPath(id), { force: true });
    },
    async purgeExpired(at = new Date(now())) {
      await ready;
      let removed = 0;
      for (const f of await readdir(dir)) {
        const path = join(dir, f);
        if (f.endsWith('.tmp')) {
          // A crash mid-write; an hour is far longer than any write takes.
          const age = at.getTime() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? at.getTime());
          if (age > 3_600_000) await rm(path, { force: true });
          continue;
        }
        if (!f.endsWith('.json')) continue;
        const id = f.slice(0, -5);
        const ref = await readFile(path, 'utf8')
          .then((t) => JSON.parse(t) as ContentRef)
          .catch(() => undefined);
        if (!ref || Date.parse(ref.expiresAt) <= at.getTime()) {
          await rm(path, { force: true });
          await rm(dataPath(id), { force: true });
          removed++;
        }
      }
      // Data without metadata: a put that crashed between its two renames.
      for (const f of await readdir(dir)) {
        if (!f.endsWith('.bin')) continue;
        const id = f.slice(0, -4);
        const meta = await stat(metaPath(id)).catch(() => undefined);
        const data = await stat(join(dir, f)).catch(() => undefined);
        if (!meta && data && data.mtimeMs < at.getTime() - 3_600_000) await rm(join(dir, f), { force: true });
      }
      return removed;
    },
    async usage() {
      await ready;
      let objects = 0;
      let bytes = 0;
      for (const f of await readdir(dir)) {
        if (!f.endsWith('.json')) continue;
        const data = await stat(dataPath(f.slice(0, -5))).catch(() => undefined);
        if (!data) continue; // deleted between the listing and the stat
        objects++;
        bytes += data.size;
      }
      return { objects, bytes };
    },
    close() {},
  };
}
