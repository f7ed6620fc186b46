/**
 * Encryption at rest of everything our Temporal clients and worker send as payloads (workflow
 * inputs and results, activity arguments and results, signals, queries, memo, summaries): a
 * Temporal PayloadCodec with AES-256-GCM (NIST SP 800-38D), a fresh random 96-bit IV per payload
 * (§8.2.2) and the key id bound as additional authenticated data.
 *
 * An encrypted payload is `metadata: { encoding: binary/encrypted, encryption-key-id: <id> }` and
 * `data: IV (12) || ciphertext || tag (16)` of the original Payload in protobuf wire form
 * (temporal.api.common.v1.Payload), the layout Temporal's codec samples use, so other tools can
 * share the keys. Payloads without that encoding pass through decoding unchanged: histories written
 * before encryption was turned on still replay and read.
 *
 * Codecs run outside the workflow sandbox (client and worker side); nothing under workflows/ may
 * import this file.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Payload, PayloadCodec } from '@temporalio/common';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface PayloadKeys {
  /** Key that encrypts new payloads. */
  keyId: string;
  /** Every key that may decrypt (the current one and the older ones kept after a rotation). */
  keys: ReadonlyMap<string, Buffer>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly key: Buffer;
  private readonly keyIdBytes: Uint8Array;

  constructor(private readonly k: PayloadKeys) {
    const key = k.keys.get(k.keyId);
    if (!key || key.length !== KEY_BYTES) throw new Error(`payload key '${k.keyId}' is missing or not 32 bytes`);
    this.key = key;
    this.keyIdBytes = enc.encode(k.keyId);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(this.keyIdBytes);
      const body = Buffer.concat([cipher.update(encodePayload(p)), cipher.final()]);
      return {
        metadata: { encoding: enc.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: this.keyIdBytes },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const encoding = p.metadata?.encoding;
      if (!encoding || dec.decode(encoding) !== ENCRYPTED_ENCODING) return p;
      const idBytes = p.metadata?.[KEY_ID_METADATA];
      const keyId = idBytes ? dec.decode(idBytes) : '';
      const key = this.k.keys.get(keyId);
      if (!key) throw new Error(`payload encrypted with key '${keyId}', which is not among the configured keys`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(idBytes!);
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const clear = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return decodePayload(clear);
    });
  }
}

// --- temporal.api.common.v1.Payload in protobuf wire form -------------------------------------
// message Payload { map<string, bytes> metadata = 1; bytes data = 2; }; a map entry is
// message { string key = 1; bytes value = 2; } (protobuf encoding: varint lengths, wire type 2).

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

function field(tag: number, bytes: Uint8Array): Buffer {
  const head: number[] = [(tag << 3) | 2];
  varint(bytes.length, head);
  return Buffer.concat([Buffer.from(head), bytes]);
}

export function encodePayload(p: Payload): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(p.metadata ?? {}))
    parts.push(field(1, Buffer.concat([field(1, enc.encode(k)), field(2, v ?? new Uint8Array())])));
  if (p.data && p.data.length) parts.push(field(2, p.data));
  return Buffer.concat(parts);
}

/** Reads the fields of one message: [field number, bytes] for length-delimited ones, others skipped. */
function fields(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let i = 0;
  const readVarint = () => {
    let n = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length || shift > 49) throw new Error('truncated protobuf varint');
      const b = buf[i++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = readVarint();
    const wire = key % 8;
    const num = Math.floor(key / 8);
    if (wire === 2) {
      const len = readVarint();
      if (i + len > buf.length) throw new Error('truncated protobuf field');
      out.push([num, buf.subarray(i, i + len)]);
      i += len;
    } else if (wire === 0) readVarint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

export function decodePayload(buf: Buffer): Payload {
  const metadata: Record<string, Uint8Array> = {};
  let data: Uint8Array = new Uint8Array();
  for (const [num, bytes] of fields(buf)) {
    if (num === 2) data = new Uint8Array(bytes);
    else if (num === 1) {
      let k = '';
      let v: Uint8Array = new Uint8Array();
      for (const [n, b] of fields(bytes)) {
        if (n === 1) k = dec.decode(b);
        else if (n === 2) v = new Uint8Array(b);
      }
      // defineProperty: a key such as `__proto__` is a metadata entry like any other, not a prototype.
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return { metadata, data };
}

// --- keys files --------------------------------------------------------------------------------

/** Parses a keys file (JSON or YAML map `id -> base64 of 32 bytes`); an error message on a bad one. */
export function parseKeysFile(text: string): Map<string, Buffer> | string {
  let tree: unknown;
  try {
    tree = parseYaml(text);
  } catch (e) {
    return `not valid YAML/JSON (${(e as Error).message})`;
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree))
    return 'must hold a mapping of key id -> base64 key';
  const keys = new Map<string, Buffer>();
  for (const [id, v] of Object.entries(tree)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) return `key id '${id}' must be 1-64 of A-Z a-z 0-9 . _ -`;
    const key = typeof v === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(v.trim()) ? Buffer.from(v, 'base64') : null;
    if (!key || key.length !== KEY_BYTES)
      return `key '${id}' must be base64 of 32 bytes (AES-256), e.g. from \`openssl rand -base64 32\``;
    keys.set(id, key);
  }
  if (keys.size === 0) return 'holds no key';
  return keys;
}

/** Reads and checks a keys file and picks the key that encrypts; an error message when it cannot. */
export function loadPayloadKeys(file: string, keyId?: string): PayloadKeys | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `cannot be read (${(e as Error).message})`;
  }
  const keys = parseKeysFile(text);
  if (typeof keys === 'string') return keys;
  if (keyId === undefined) {
    if (keys.size > 1) return `holds ${keys.size} keys: temporal.encryption.keyId must say which one encrypts`;
    keyId = [...keys.keys()][0];
  }
  if (!keys.has(keyId))
    return `has no key '${keyId}' (temporal.encryption.keyId); it holds ${[...keys.keys()].join(', ')}`;
  return { keyId, keys };
}

/**
 * The embedded server's keys: created once (one random key, mode 0600, never overwritten) when the
 * file does not exist yet. `created` says whether this call wrote it.
 */
export function ensureGeneratedKeys(file: string, now = new Date()): { keys: PayloadKeys; created: boolean } {
  let created = false;
  if (!existsSync(file)) {
    const id = `k${now.toISOString().slice(0, 10).replaceAll('-', '')}`;
    try {
      writeFileSync(file, JSON.stringify({ [id]: randomBytes(KEY_BYTES).toString('base64') }, null, 2) + '\n', {
        mode: 0o600,
        flag: 'wx',
      });
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const keys = loadPayloadKeys(file);
  if (typeof keys === 'string') throw new Error(`${file}: ${keys}`);
  return { keys, created };
}
