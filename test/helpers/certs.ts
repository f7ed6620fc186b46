/**
 * Throwaway PKI for the TLS tests, made with the openssl CLI (not with our code): a CA, a server
 * certificate for 127.0.0.1 / localhost and a client certificate signed by it, and a second,
 * unrelated CA with a server certificate of its own (a peer whose certificate the first CA did not
 * sign). EC P-256 keys, valid two days. Files are PEM in a fresh temporary directory.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  /** Paths of the PEM files. */
  certFile: string;
  keyFile: string;
  /** The PEM text. */
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: { certFile: string; cert: string };
  /** Signed by `ca`, for IP 127.0.0.1 and DNS localhost. */
  server: CertPair;
  /** Signed by `ca`, CN mmsc-client.test, extendedKeyUsage clientAuth. */
  client: CertPair;
  /** A CA `ca` knows nothing of, and a server certificate for 127.0.0.1 / localhost it signed. */
  rogueCa: { certFile: string; cert: string };
  rogueServer: CertPair;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string) {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

async function makeLeaf(
  dir: string,
  name: string,
  ca: { certFile: string; keyFile: string },
  cn: string,
  ext: string[],
): Promise<CertPair> {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext.join('\n')}\n`);
  await run('openssl', ['req', '-new', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    // Its own serial (no shared .srl file: the leaves are made at the same time).
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '2',
    '-out',
    certFile,
    '-extfile',
    extFile,
  ]);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

const SERVER_EXT = [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
];

/** Makes the whole set in a new temporary directory (a few openssl runs, well under a second). */
export async function makeTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-pki-'));
  const ca = await makeCa(dir, 'ca');
  const rogue = await makeCa(dir, 'rogue-ca');
  const [server, client, rogueServer] = await Promise.all([
    makeLeaf(dir, 'server', ca, 'localhost', SERVER_EXT),
    makeLeaf(dir, 'client', ca, 'mmsc-client.test', [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature',
      'extendedKeyUsage=clientAuth',
    ]),
    makeLeaf(dir, 'rogue-server', rogue, 'localhost', SERVER_EXT),
  ]);
  return {
    dir,
    ca: { certFile: ca.certFile, cert: ca.cert },
    server,
    client,
    rogueCa: { certFile: rogue.certFile, cert: rogue.cert },
    rogueServer,
  };
}
