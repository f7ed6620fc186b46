import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type ContentRef, filesystemMediaStore, MEDIA_ID, type MediaStore, newMediaId } from './media-store.js';

/** Where an S3-compatible media store lives (validated in worker/config.ts). */
export interface S3MediaOptions {
  /** `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`, ... */
  endpoint: string;
  bucket: string;
  region: string;
  /** Key prefix of everything this store writes (`iwf/media/`); '' = the bucket's root. */
  prefix: string;
  /** Both or neither: without them the SDK's default credential chain applies (instance role, ...). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `endpoint/bucket/key` rather than `bucket.endpoint/key` (MinIO, SeaweedFS, most non-AWS servers). */
  forcePathStyle: boolean;
}

/** The store `media.store` names (`config.media`; `s3` is there whenever `store` is `s3`). */
export function mediaStoreFor(config: { store: 'fs' | 's3'; dir: string; s3?: S3MediaOptions }): MediaStore {
  if (config.store === 'fs') return filesystemMediaStore(config.dir);
  if (!config.s3) throw new Error('media.store is s3 but media.s3 is missing');
  return s3MediaStore(config.s3);
}

/** Marker keys sort by expiry: 15 digits of epoch ms cover every date the store can be given. */
const EXPIRY_DIGITS = 15;

/** User metadata travels as HTTP headers (x-amz-meta-*): ASCII only, so the file name is percent-encoded. */
const META = { sha256: 'sha256', expiresAt: 'expires-at', name: 'name' } as const;

function status(e: unknown): number | undefined {
  return e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined;
}

/**
 * An S3-compatible store (AWS S3, SeaweedFS, MinIO, ...) that several IWF nodes share, so a file
 * stored by one node is served by any other and one janitor run expires the whole store.
 *
 * Layout under `prefix`:
 * - `objects/<id>`: the bytes, with their content type and the ContentRef fields as object
 *   metadata, written by one PutObject. A PUT is atomic in S3: the object appears only once the
 *   server has received every byte (Content-Length, and here an x-amz-checksum-sha256 it verifies),
 *   and its metadata is part of the same object, so a reader never sees the metadata of bytes not
 *   yet written, nor a partial object; an upload cut short leaves nothing. The PUT carries
 *   `If-None-Match: *` (RFC 9110 §13.1.2, S3 conditional writes), so an id already taken (two
 *   writers drawing the same id) is refused (412) rather than overwritten, and we draw another.
 *   A server that ignores the header is no worse off: ids carry 132 random bits.
 * - `expires/<epoch ms, 15 digits>-<id>`: an empty marker per object, written before the object.
 *   S3 lists keys in UTF-8 binary order, so the janitor lists this prefix and stops at the first
 *   marker still in the future: a purge costs requests in proportion to what expired, not to what
 *   the store holds, and needs no per-object HEAD. Written first, a marker can outlive its object
 *   (a crash between the two PUTs, a delete) but an object never lacks its marker; a marker
 *   without an object is removed at its expiry like any other.
 *
 * `now` is the store's clock (expiry is decided by it); `nextId` draws ids (tests force collisions).
 */
export function s3MediaStore(o: S3MediaOptions, deps: { now?: () => number; nextId?: () => string } = {}): MediaStore {
  const now = deps.now ?? Date.now;
  const nextId = deps.nextId ?? newMediaId;
  const s3 = new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: o.forcePathStyle,
    ...(o.accessKeyId && o.secretAccessKey
      ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } }
      : {}),
    // Without bounds a stalled server holds an activity or a download forever.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  });
  const Bucket = o.bucket;
  const objectKey = (id: string) => `${o.prefix}objects/${id}`;
  const expiresPrefix = `${o.prefix}expires/`;
  const markerKey = (expiresAtMs: number, id: string) =>
    `${expiresPrefix}${String(expiresAtMs).padStart(EXPIRY_DIGITS, '0')}-${id}`;

  function refOf(
    id: string,
    r: { ContentType?: string; ContentLength?: number; Metadata?: Record<string, string> },
    size = r.ContentLength,
  ): ContentRef | undefined {
    const m = r.Metadata ?? {};
    const expiresAt = m[META.expiresAt];
    // Not written by this store (or by an older layout): nothing to serve.
    if (!m[META.sha256] || !expiresAt || size === undefined || !Number.isFinite(Date.parse(expiresAt)))
      return undefined;
    let name: string | undefined;
    try {
      name = m[META.name] ? decodeURIComponent(m[META.name]) : undefined;
    } catch {
      name = undefined;
    }
    return {
      id,
      contentType: r.ContentType ?? 'application/octet-stream',
      size,
      sha256: m[META.sha256],
      ...(name ? { name } : {}),
      expiresAt,
    };
  }

  const live = (ref: ContentRef | undefined) => (ref && Date.parse(ref.expiresAt) > now() ? ref : undefined);

  async function head(id: string): Promise<ContentRef | undefined> {
    if (!MEDIA_ID.test(id)) return undefined;
    try {
      return live(refOf(id, await s3.send(new HeadObjectCommand({ Bucket, Key: objectKey(id) }))));
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  /** GetObject of a live object (a Range answered 206 by S3), or undefined. */
  async function fetchObject(id: string, range?: { start: number; end: number }) {
    if (!MEDIA_ID.test(id)) return undefined;
    try {
      const r = await s3.send(
        new GetObjectCommand({
          Bucket,
          Key: objectKey(id),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      // With a Range, ContentLength is the part's; the whole size is after the slash of Content-Range.
      const total = r.ContentRange ? Number(/\/(\d+)$/.exec(r.ContentRange)?.[1]) : r.ContentLength;
      const body = r.Body as (Readable & { transformToByteArray(): Promise<Uint8Array> }) | undefined;
      if (!body) return undefined;
      if (!live(refOf(id, r, total))) {
        body.destroy();
        return undefined;
      }
      return body;
    } catch (e) {
      // 404: unknown (or deleted meanwhile); 416: a range beyond an object replaced meanwhile.
      if (status(e) === 404 || status(e) === 416) return undefined;
      throw e;
    }
  }

  async function listAll(Prefix: string, each: (key: string, size: number) => boolean | void): Promise<void> {
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken }));
      for (const c of page.Contents ?? []) if (c.Key && each(c.Key, c.Size ?? 0) === false) return;
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async function deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const r = await s3.send(
        new DeleteObjectsCommand({
          Bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
      // Deleting a missing key is a success in S3; anything listed here really failed.
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0)
        throw new Error(`S3 delete failed for ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`);
    }
  }

  return {
    async put(bytes, meta) {
      const sha256 = createHash('sha256').update(bytes).digest();
      const expiresAtMs = now() + meta.ttlMs;
      const expiresAt = new Date(expiresAtMs).toISOString();
      for (let attempt = 0; ; attempt++) {
        const id = nextId();
        await s3.send(new PutObjectCommand({ Bucket, Key: markerKey(expiresAtMs, id), Body: new Uint8Array(0) }));
        try {
          await s3.send(
            new PutObjectCommand({
              Bucket,
              Key: objectKey(id),
              Body: bytes,
              ContentLength: bytes.length,
              ContentType: meta.contentType,
              ChecksumSHA256: sha256.toString('base64'),
              IfNoneMatch: '*',
              Metadata: {
                [META.sha256]: sha256.toString('hex'),
                [META.expiresAt]: expiresAt,
                ...(meta.name ? { [META.name]: encodeURIComponent(meta.name) } : {}),
              },
            }),
          );
        } catch (e) {
          // 412: the id is taken (by a concurrent writer, with a broken id source); 409: a
          // conditional write raced another on the same key. Either way that id is not ours.
          if ((status(e) === 412 || status(e) === 409) && attempt < 5) continue;
          throw e;
        }
        return {
          id,
          contentType: meta.contentType,
          size: bytes.length,
          sha256: sha256.toString('hex'),
          ...(meta.name ? { name: meta.name } : {}),
          expiresAt,
        };
      }
    },
    head,
    read: (id, range) => fetchObject(id, range),
    async get(id) {
      const body = await fetchObject(id);
      return body ? Buffer.from(await body.transformToByteArray()) : undefined;
    },
    async delete(id) {
      if (!MEDIA_ID.test(id)) return;
      const ref = await head(id).catch(() => undefined);
      await s3.send(new DeleteObjectCommand({ Bucket, Key: objectKey(id) }));
      if (ref) await s3.send(new DeleteObjectCommand({ Bucket, Key: markerKey(Date.parse(ref.expiresAt), id) }));
    },
    async purgeExpired(at = new Date(now())) {
      const due: { marker: string; id: string }[] = [];
      await listAll(expiresPrefix, (key) => {
        const m = /^(\d+)-([A-Za-z0-9_-]{22})$/.exec(key.slice(expiresPrefix.length));
        if (!m) return; // not ours
        if (Number(m[1]) > at.getTime()) return false; // sorted: every later marker is in the future too
        due.push({ marker: key, id: m[2] });
      });
      // Objects first: should this run stop half-way, the markers that remain bring the next run back.
      await deleteKeys(due.map((d) => objectKey(d.id)));
      await deleteKeys(due.map((d) => d.marker));
      return due.length;
    },
    async usage() {
      let objects = 0;
      let bytes = 0;
      await listAll(`${o.prefix}objects/`, (_key, size) => {
        objects++;
        bytes += size;
      });
      return { objects, bytes };
    },
    close() {
      s3.destroy();
    },
  };
}
