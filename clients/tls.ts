import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** PEM material read once at start: what `tls.createServer` / `tls.connect` take as `cert`, `key`, `ca`. */
export interface TlsMaterial {
  /** PEM certificate chain, leaf first. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** PEM CA certificates the peer's certificate is verified against. */
  ca?: string;
}

/** Why a PEM file cannot be used; the caller names the config key. */
export class PemError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PemError';
  }
}

function readPem(file: string, baseDir: string): string {
  try {
    return readFileSync(resolve(baseDir, file), 'utf8');
  } catch (e) {
    throw new PemError(`cannot be read (${(e as Error).message})`);
  }
}

/** One or more PEM certificates in `file` (relative to `baseDir`); every one must parse as X.509. */
export function readCertificates(file: string, baseDir: string): string {
  const text = readPem(file, baseDir);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new PemError(`'${file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new PemError(`'${file}' holds a certificate that does not parse (${(e as Error).message})`);
    }
  }
  return text;
}

/** A PEM private key in `file` (relative to `baseDir`), unencrypted (nobody is there to type a passphrase). */
export function readPrivateKey(file: string, baseDir: string): string {
  const text = readPem(file, baseDir);
  try {
    createPrivateKey(text);
  } catch (e) {
    throw new PemError(`'${file}' holds no usable unencrypted PEM private key (${(e as Error).message})`);
  }
  return text;
}

/** Whether `key` is the private key of the leaf certificate of `cert` (both PEM). */
export function keyMatchesCertificate(cert: string, key: string): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}
