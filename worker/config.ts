import { existsSync, readFileSync } from 'node:fs';
import { BlockList, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { RetryPolicy } from '../model/delivery.js';
import {
  CONTENT_CLASSES,
  DEFAULT_MMS_MEDIA_TYPES,
  MM4_BINARY_ENCODINGS,
  MM4_PROFILE_RULES,
  MM4_PROFILES,
  type Mm4Peer,
  type Mm4Rules,
} from '../model/peer.js';
import { isMailbox } from '../protocols/mm4/serialize.js';
import { localAddresses, parseFetchHost } from '../clients/http-fetch.js';
import type { S3MediaOptions } from '../clients/media-store-s3.js';
import { keyMatchesCertificate, readCertificates, readPrivateKey, type TlsMaterial } from '../clients/tls.js';
import { ConfigError, Reader, type Obj } from './config-schema.js';
import { loadPayloadKeys, type PayloadKeys } from './payload-codec.js';

export { ConfigError } from './config-schema.js';

export interface HostPort {
  host: string;
  port: number;
}

export type { Mm4Peer, Mm4Rules };

/** The keys of `mm4.peers[].mm4`: single MM4 rules over the peer's profile (model/peer.ts Mm4Rules). */
const MM4_RULE_KEYS = ['systemAddress', 'statusHeaders', 'reportAck', 'multipart', 'binaryEncoding', 'quoteIds'];

/** A peer's MM4 rules: its profile's, then each rule `mm4.peers[].mm4` sets (validated; `x` is the peer). */
function peerMm4Rules(sub: Reader, tree: unknown): Mm4Rules {
  const rules = (tree as Obj | undefined)?.mm4;
  if (rules !== undefined && (typeof rules !== 'object' || rules === null || Array.isArray(rules)))
    sub.fail('x.mm4', `must be a mapping of MM4 rules (${MM4_RULE_KEYS.join(', ')})`);
  sub.unknownKeys('x.mm4', MM4_RULE_KEYS);
  const profile = sub.oneOf('x.profile', MM4_PROFILES, 'standard');
  const base = MM4_PROFILE_RULES[profile];
  const systemAddress = sub.str('x.mm4.systemAddress');
  // The envelope and To of our answers: an RFC 5321 4.1.2 Mailbox with a domain, never `;` or a list.
  if (systemAddress && !isMailbox(systemAddress))
    sub.fail('x.mm4.systemAddress', `'${systemAddress}' is not a mailbox like mm4-system@mms.example.net`);
  return {
    profile,
    ...(systemAddress && isMailbox(systemAddress) ? { systemAddress } : {}),
    statusHeaders: sub.oneOf('x.mm4.statusHeaders', ['standard', 'both'] as const, base.statusHeaders),
    reportAck: sub.oneOf('x.mm4.reportAck', ['request', 'none'] as const, base.reportAck),
    multipart: sub.oneOf('x.mm4.multipart', ['auto', 'always'] as const, base.multipart),
    binaryEncoding: sub.oneOf('x.mm4.binaryEncoding', MM4_BINARY_ENCODINGS, base.binaryEncoding),
    quoteIds: sub.bool('x.mm4.quoteIds', base.quoteIds),
  };
}

/**
 * PEM files named at `path` (`cert`, `key`, `ca`; relative to the config file, like cpm.usersFile),
 * read and checked once: certificates parse, the key is unencrypted and belongs to `cert`.
 * Undefined when `path` is absent.
 */
function tlsMaterial(r: Reader, path: string, baseDir: string): TlsMaterial | undefined {
  if (![`${path}.cert`, `${path}.key`, `${path}.ca`].some((k) => r.str(k) !== undefined)) return undefined;
  const out: TlsMaterial = {};
  const read = (k: 'cert' | 'key' | 'ca', how: (f: string, b: string) => string) => {
    const file = r.str(`${path}.${k}`);
    if (!file) return;
    try {
      out[k] = how(file, baseDir);
    } catch (e) {
      r.fail(`${path}.${k}`, (e as Error).message);
    }
  };
  read('cert', readCertificates);
  read('key', readPrivateKey);
  read('ca', readCertificates);
  if (out.cert && out.key && !keyMatchesCertificate(out.cert, out.key))
    r.fail(`${path}.key`, `is not the private key of ${path}.cert`);
  if (!!r.str(`${path}.cert`) !== !!r.str(`${path}.key`)) r.fail(path, 'cert and key go together');
  return out;
}

/** `mm4.peers[].tls` with its `ca`, `clientCert`, `clientKey` (`x` is the peer). */
function peerTls(sub: Reader, baseDir: string): Mm4Peer['tls'] {
  const mode = sub.oneOf('x.tls', ['none', 'optional', 'required'] as const, 'optional');
  const material = (k: 'ca' | 'clientCert' | 'clientKey', how: (f: string, b: string) => string) => {
    const file = sub.str(`x.${k}`);
    if (!file) return undefined;
    try {
      return how(file, baseDir);
    } catch (e) {
      sub.fail(`x.${k}`, (e as Error).message);
      return undefined;
    }
  };
  const ca = material('ca', readCertificates);
  const clientCert = material('clientCert', readCertificates);
  const clientKey = material('clientKey', readPrivateKey);
  if (!!sub.str('x.clientCert') !== !!sub.str('x.clientKey'))
    sub.fail('x.clientCert', 'clientCert and clientKey go together');
  else if (clientCert && clientKey && !keyMatchesCertificate(clientCert, clientKey))
    sub.fail('x.clientKey', 'is not the private key of clientCert');
  if (mode === 'none' && (ca || clientCert))
    sub.fail('x.tls', 'none: ca, clientCert and clientKey would never be used');
  return { mode, ...(ca ? { ca } : {}), ...(clientCert && clientKey ? { clientCert, clientKey } : {}) };
}

export interface Config {
  /**
   * What this process runs (`--role`, `IWF_ROLE`, `role`): `ingress` the MM4, SIP and media front-ends that
   * start and signal deliveries; `worker` the Temporal worker and what its activities need; `all` both.
   */
  role: IwfRole;
  /** Folder for the embedded Temporal database and other local state. */
  dataDir: string;
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    /** Phone numbers in full in the logs; default masked (worker/redact.ts). */
    showNumbers: boolean;
  };
  temporal: {
    /** Cluster to use; when absent (and no envconfig profile names one) an embedded dev server is started. */
    address?: string;
    namespace: string;
    taskQueue: string;
    /** Profile of `@temporalio/envconfig` (TLS, API key ...) for an external cluster. */
    profile?: string;
    /** `ip`: the embedded server's (and its UI's) bind address; default 127.0.0.1. */
    embedded: { ip: string; port: number; uiPort: number; ui: boolean; dbFile: string };
    /**
     * Payload encryption (worker/payload-codec.ts). `keys` absent while enabled: the embedded server's
     * key is generated into `keysFile` at start (`generate`).
     */
    encryption: { enabled: boolean; keysFile?: string; generate: boolean; keys?: PayloadKeys };
    /**
     * Remote codec endpoint for the Web UI and `temporal --codec-endpoint` (ingress/codec-server.ts).
     * `listen` absent: 127.0.0.1:8234 when the embedded UI runs, else no endpoint.
     */
    codec: { listen?: HostPort; corsOrigins: string[]; token?: string };
  };
  mm4: {
    listen: HostPort;
    domain: string;
    /** Our MM4 system mailbox: MAIL FROM and From of the PDUs we originate. */
    systemAddress: string;
    maxMessageBytes: number;
    peers: Mm4Peer[];
    /** Peer for CPM -> MMS recipients no `numbers` prefix matches. */
    defaultPeer?: string;
    /** Inbound SMTP connections from all peers at once; more get 421 4.3.2. */
    maxConnections: number;
    /** Our certificate and key (PEM, read at start): with them the MM4 server offers STARTTLS (RFC 3207). */
    tls?: { cert: string; key: string };
  };
  sip: {
    listen: HostPort;
    domain: string;
    outboundProxy: HostPort;
    /** Transport toward the outbound proxy. */
    transport: 'udp' | 'tcp' | 'tls';
    /** SIP over TLS listener (RFC 3261 26.2, RFC 5630); absent: none. */
    tlsListen?: HostPort;
    /** PEM material: cert/key for the TLS listener, ca to verify the outbound proxy (read at start). */
    tls?: TlsMaterial;
    trusted: string[];
    timers: { t1: number; t2: number; t4: number };
    /** Source address of our outgoing TCP connections; default the listen address. */
    sourceAddress?: string;
    /** Path MTU toward the outbound proxy when known (RFC 3261 18.1.1 size rule). */
    pathMtu?: number;
    /** Inbound TCP/TLS connections one source IP may hold open; more are closed at once. */
    maxTcpConnectionsPerSource: number;
  };
  cpm: {
    /** E.164 numbers; an entry ending in `*` is a prefix. Merged from `cpm.users` and `cpm.usersFile`. */
    users: string[];
    defaultCountry: string;
    /** Request-URI form for CPM recipients: `tel:+E164` or `sip:+E164@domain;user=phone`. */
    uriForm: 'tel' | 'sip';
    /** Short codes and alphanumeric senders (lower-cased) -> the CPM URI they appear as. */
    shortCodes: Record<string, string>;
  };
  delivery: {
    retry: RetryPolicy;
    /** Upper bound on how long a delivery may keep retrying when the MMS gives no expiry. */
    defaultExpiryMs: number;
    /** Cap on any X-Mms-Expiry: no delivery waits longer than this. */
    maxExpiryMs: number;
    /** CPM -> MMS: how long to wait for MM4_forward.RES, and how often to send the request. */
    mm4Ack: { timeoutMs: number; maxAttempts: number };
  };
  /** Media Storage Server (FT-over-HTTP downloads of stored media). */
  media: {
    listen: HostPort;
    /** Base URL clients use to reach `media.listen` (behind a proxy: its public address); default the bound address. */
    publicUrl?: string;
    /** `fs`: files under `dir` (one node); `s3`: an S3-compatible bucket every node shares (clients/media-store-s3.ts). */
    store: 'fs' | 's3';
    dir: string;
    /** With `store: s3`. */
    s3?: S3MediaOptions;
    ttlMs: number;
    purgeIntervalMs: number;
    /**
     * Content servers CPM files may be fetched from beyond the default (any host on a public
     * address, ports 80/443): names, `*.suffix`, `*`, IPs or CIDRs, each with an optional `:port`
     * or `:*`; a non-empty list without `*` is an allowlist. Internal addresses (loopback, private,
     * link-local, ...) and this machine's own are reached only when an entry names them.
     */
    fetchHosts: string[];
  };
  /** Audit records of finished deliveries, kept beyond Temporal's retention. */
  audit: { store: 'jsonl' | 'postgres'; file: string; postgresUrl?: string };
  /**
   * Operations listener (ingress/health.ts): Prometheus `/metrics`, `/healthz`, `/readyz`.
   * `enabled: false`: no listener at all.
   */
  metrics: { enabled: boolean; listen: HostPort };
  /** Push-back under overload (ingress/admission.ts). */
  ingress: {
    /**
     * Deliveries accepted but not yet routed, counted in Temporal over every IWF process of the
     * task queue; beyond it SMTP answers 451 4.3.2 and SIP 503. 0 = unbounded.
     */
    maxInFlight: number;
    /** Retry-After of those SIP 503s, in whole seconds. */
    retryAfterSeconds: number;
  };
  /** Interworking Selection Function policy for CPM -> MMS. */
  isf: {
    /** Largest CPIM content interworked; larger gets 413. */
    maxMessageBytes: number;
    /** Largest file (FT-over-HTTP) fetched for MMS; larger gets 413. */
    maxFileBytes: number;
    /** Content types interworked; others get 415. */
    contentTypes: string[];
    /** Whether a recipient listed as a CPM user may still be interworked (e.g. CPM fallback). */
    interworkCpmUsers: boolean;
  };
}

export const ROLES = ['all', 'ingress', 'worker'] as const;
export type IwfRole = (typeof ROLES)[number];

const TOP = [
  'role',
  'dataDir',
  'log',
  'temporal',
  'mm4',
  'sip',
  'cpm',
  'delivery',
  'ingress',
  'isf',
  'media',
  'audit',
  'metrics',
];

/** Environment overrides for the common keys (documented in README and iwf.example.yaml). */
const ENV: [string, string][] = [
  ['TEMPORAL_ADDRESS', 'temporal.address'],
  ['TEMPORAL_NAMESPACE', 'temporal.namespace'],
  ['IWF_TEMPORAL_ADDRESS', 'temporal.address'],
  ['IWF_TASK_QUEUE', 'temporal.taskQueue'],
  ['IWF_DATA_DIR', 'dataDir'],
  ['IWF_LOG_LEVEL', 'log.level'],
  ['IWF_ENCRYPTION_KEYS_FILE', 'temporal.encryption.keysFile'],
  ['IWF_ENCRYPTION_KEY_ID', 'temporal.encryption.keyId'],
  ['IWF_MM4_LISTEN', 'mm4.listen'],
  ['IWF_MM4_DOMAIN', 'mm4.domain'],
  ['IWF_SIP_LISTEN', 'sip.listen'],
  ['IWF_SIP_DOMAIN', 'sip.domain'],
  ['IWF_SIP_OUTBOUND_PROXY', 'sip.outboundProxy'],
  ['IWF_TEMPORAL_UI_PORT', 'temporal.embedded.uiPort'],
  ['IWF_TEMPORAL_PORT', 'temporal.embedded.port'],
  ['IWF_AUDIT_STORE', 'audit.store'],
  ['IWF_AUDIT_POSTGRES_URL', 'audit.postgresUrl'],
  ['IWF_METRICS_LISTEN', 'metrics.listen'],
  ['IWF_ROLE', 'role'],
];

function setPath(obj: Obj, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Obj;
  }
  cur[parts.at(-1)!] = value;
}

/** Reads the file named by `--config FILE` or `IWF_CONFIG` (YAML or JSON), or none. */
export function readConfigFile(argv: string[], env: NodeJS.ProcessEnv): { tree: Obj; file?: string } {
  const i = argv.indexOf('--config');
  const file = i >= 0 ? argv[i + 1] : env.IWF_CONFIG;
  if (i >= 0 && !file) throw new ConfigError(['--config: needs a file name']);
  if (!file) return { tree: {} };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot be read (${(e as Error).message})`]);
  }
  let tree: unknown;
  try {
    tree = parseYaml(text); // YAML is a superset of JSON, so one parser serves both.
  } catch (e) {
    throw new ConfigError([`${file}: not valid YAML/JSON (${(e as Error).message})`]);
  }
  if (tree === null || tree === undefined) tree = {};
  if (typeof tree !== 'object' || Array.isArray(tree)) throw new ConfigError([`${file}: must hold a mapping`]);
  return { tree: tree as Obj, file: resolve(file) };
}

/** Validates a config tree (after env overrides); throws one ConfigError naming every bad key. */
export function buildConfig(tree: Obj, env: NodeJS.ProcessEnv = {}, baseDir = process.cwd()): Config {
  const merged = structuredClone(tree);
  for (const [name, path] of ENV) if (env[name]) setPath(merged, path, env[name]);
  const r = new Reader(merged);
  r.unknownKeys('', TOP);
  r.unknownKeys('temporal', ['address', 'namespace', 'taskQueue', 'profile', 'embedded', 'encryption', 'codec']);
  r.unknownKeys('temporal.encryption', ['enabled', 'keyId', 'keysFile']);
  r.unknownKeys('temporal.codec', ['listen', 'corsOrigins', 'token']);
  r.unknownKeys('temporal.embedded', ['ip', 'port', 'uiPort', 'ui', 'dbFile']);
  r.unknownKeys('metrics', ['enabled', 'listen']);
  r.unknownKeys('mm4', [
    'listen',
    'domain',
    'systemAddress',
    'maxMessageBytes',
    'peers',
    'defaultPeer',
    'tls',
    'maxConnections',
  ]);
  r.unknownKeys('mm4.tls', ['cert', 'key']);
  r.unknownKeys('sip.tls', ['cert', 'key', 'ca']);
  r.unknownKeys('sip', [
    'listen',
    'domain',
    'outboundProxy',
    'transport',
    'trusted',
    'timers',
    'sourceAddress',
    'pathMtu',
    'maxTcpConnectionsPerSource',
    'tlsListen',
    'tls',
  ]);
  r.unknownKeys('sip.timers', ['t1', 't2', 't4']);
  r.unknownKeys('cpm', ['users', 'usersFile', 'defaultCountry', 'uriForm', 'shortCodes']);
  r.unknownKeys('delivery', ['retry', 'defaultExpiry', 'maxExpiry', 'mm4Ack']);
  r.unknownKeys('delivery.mm4Ack', ['timeout', 'maxAttempts']);
  r.unknownKeys('isf', ['maxMessageBytes', 'maxFileBytes', 'contentTypes', 'interworkCpmUsers']);
  r.unknownKeys('ingress', ['maxInFlight', 'retryAfter']);
  r.unknownKeys('audit', ['store', 'file', 'postgresUrl']);
  r.unknownKeys('media', ['listen', 'publicUrl', 'store', 'dir', 's3', 'ttl', 'purgeInterval', 'fetchHosts']);
  r.unknownKeys('media.s3', [
    'endpoint',
    'bucket',
    'region',
    'prefix',
    'accessKeyId',
    'secretAccessKey',
    'forcePathStyle',
  ]);
  r.unknownKeys('delivery.retry', ['maxAttempts', 'initialInterval', 'backoffCoefficient', 'maxInterval']);

  // dataDir is relative to the working directory (where `npm start` runs); files named inside the
  // config (cpm.usersFile) are relative to the config file.
  const dataDir = resolve(r.str('dataDir', '.data')!);
  const domain = r.str('mm4.domain', 'mms.iwf.example.net')!;
  const peers = r.list('mm4.peers').map((_, i): Mm4Peer => {
    const p = `mm4.peers[${i}]`;
    const sub = new Reader({ x: _ });
    sub.unknownKeys('x', [
      'name',
      'domains',
      'smtp',
      'allow',
      'numbers',
      'contentClass',
      'maxMessageBytes',
      'maxImage',
      'mediaTypes',
      'profile',
      'mm4',
      'maxConnections',
      'maxPerSecond',
      'tls',
      'ca',
      'clientCert',
      'clientKey',
    ]);
    const cls = sub.oneOf('x.contentClass', Object.keys(CONTENT_CLASSES), 'megapixel');
    const base = CONTENT_CLASSES[cls];
    const maxImage = sub.str('x.maxImage');
    const dims = maxImage ? /^(\d{2,5})x(\d{2,5})$/.exec(maxImage) : null;
    if (maxImage && !dims) sub.fail('x.maxImage', 'must be WIDTHxHEIGHT like 640x480');
    const peer: Mm4Peer = {
      name: sub.reqStr('x.name'),
      domains: sub.strList('x.domains').map((d) => d.toLowerCase()),
      smtp: sub.hostPort('x.smtp') ?? { host: '', port: 0 },
      allow: sub.cidrList('x.allow'),
      numbers: sub.strList('x.numbers').map((n) => n.replace(/\*$/, '')),
      accepts: {
        maxMessageBytes: sub.int('x.maxMessageBytes', base.maxMessageBytes, 1024, 100 * 1024 * 1024),
        maxImage: dims ? { width: Number(dims[1]), height: Number(dims[2]) } : base.maxImage,
        mediaTypes: sub.strList('x.mediaTypes').length
          ? sub.strList('x.mediaTypes').map((m) => m.toLowerCase())
          : DEFAULT_MMS_MEDIA_TYPES,
      },
      mm4: peerMm4Rules(sub, _),
      maxConnections: sub.int('x.maxConnections', 20, 1, 10_000),
      ...((_ as Obj)?.maxPerSecond === undefined ? {} : { maxPerSecond: sub.num('x.maxPerSecond', 1, 0.01, 100_000) }),
      tls: peerTls(sub, baseDir),
    };
    for (const n of peer.numbers)
      if (!/^\+\d{1,15}$/.test(n)) sub.fail('x.numbers', `'${n}' is not an E.164 prefix like +4915`);
    for (const d of peer.domains)
      if (!isMailbox(`x@${d}`)) sub.fail('x.domains', `'${d}' is not a domain like mms.mnc001.mcc001.gprs`);
    if (!(_ as Obj)?.smtp) sub.fail('x.smtp', 'is required');
    r.problems.push(...sub.problems.map((m) => m.replace(/^x\./, `${p}.`)));
    return peer;
  });
  const names = new Set<string>();
  for (const [i, peer] of peers.entries()) {
    if (names.has(peer.name)) r.fail(`mm4.peers[${i}].name`, `duplicate peer name '${peer.name}'`);
    names.add(peer.name);
  }

  const mm4Tls = tlsMaterial(r, 'mm4.tls', baseDir);
  const mm4ServerTls = mm4Tls?.cert && mm4Tls.key ? { cert: mm4Tls.cert, key: mm4Tls.key } : undefined;
  for (const [i, peer] of peers.entries())
    if (peer.tls?.mode === 'required' && !mm4ServerTls)
      r.fail(`mm4.peers[${i}].tls`, 'required: needs mm4.tls (cert, key) so the server can offer STARTTLS');
  const sipTls = tlsMaterial(r, 'sip.tls', baseDir);
  const tlsListen = r.hostPort('sip.tlsListen');
  if (tlsListen && !(sipTls?.cert && sipTls.key)) r.fail('sip.tlsListen', 'needs sip.tls.cert and sip.tls.key');

  const systemAddress = r.str('mm4.systemAddress', `mm4-system@${domain}`)!;
  if (!isMailbox(systemAddress))
    r.fail('mm4.systemAddress', `'${systemAddress}' is not a mailbox like mm4-system@${domain}`);

  const defaultPeer = r.str('mm4.defaultPeer');
  if (defaultPeer && !names.has(defaultPeer)) r.fail('mm4.defaultPeer', `no peer named '${defaultPeer}'`);

  const users = r.strList('cpm.users');
  const usersFile = r.str('cpm.usersFile');
  if (usersFile) {
    try {
      const text = readFileSync(resolve(baseDir, usersFile), 'utf8');
      users.push(
        ...text
          .split(/\r?\n/)
          .map((l) => l.replace(/#.*/, '').trim())
          .filter(Boolean),
      );
    } catch (e) {
      r.fail('cpm.usersFile', `cannot be read (${(e as Error).message})`);
    }
  }
  for (const u of users)
    if (!/^\+?\d{1,15}\*?$/.test(u)) r.fail('cpm.users', `'${u}' is not an E.164 number or prefix*`);

  // Keys: a short code (digits) or an alphanumeric sender name, matched case-insensitively.
  const shortCodes: Record<string, string> = {};
  for (const [code, uri] of Object.entries(r.strMap('cpm.shortCodes'))) {
    if (!/^(\d{3,8}|[A-Za-z0-9 ._-]{1,11})$/.test(code))
      r.fail(`cpm.shortCodes.${code}`, 'must be a short code (3-8 digits) or a sender name (up to 11 characters)');
    else if (!/^(sip|sips|tel):\S+$/.test(uri))
      r.fail(`cpm.shortCodes.${code}`, `'${uri}' is not a sip:, sips: or tel: URI`);
    else shortCodes[/^\d+$/.test(code) ? code : code.toLowerCase()] = uri;
  }
  const defaultCountry = r.str('cpm.defaultCountry', 'US')!.toUpperCase();
  if (!/^[A-Z]{2}$/.test(defaultCountry)) r.fail('cpm.defaultCountry', 'must be an ISO 3166 alpha-2 code like US');
  const sipDomain = r.str('sip.domain', 'ims.iwf.example.net')!;
  const t1 = r.duration('sip.timers.t1', 500);

  const role = r.oneOf('role', ROLES, 'all');
  const config: Config = {
    role,
    dataDir,
    log: {
      level: r.oneOf('log.level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
      showNumbers: r.bool('log.showNumbers', false),
    },
    temporal: {
      address: r.str('temporal.address'),
      namespace: r.str('temporal.namespace', 'default')!,
      taskQueue: r.str('temporal.taskQueue', 'iwf')!,
      profile: r.str('temporal.profile'),
      embedded: {
        ip: r.ip('temporal.embedded.ip') ?? '127.0.0.1',
        port: r.int('temporal.embedded.port', 7233, 1, 65535),
        uiPort: r.int('temporal.embedded.uiPort', 8233, 1, 65535),
        ui: r.bool('temporal.embedded.ui', true),
        dbFile: resolve(dataDir, r.str('temporal.embedded.dbFile', 'temporal.sqlite')!),
      },
      encryption: encryptionConfig(r, dataDir, baseDir),
      codec: {
        listen: r.hostPort('temporal.codec.listen'),
        corsOrigins: r.strList('temporal.codec.corsOrigins').filter((o, i) => {
          if (/^https?:\/\/[^\s/]+$/.test(o)) return true;
          r.fail(`temporal.codec.corsOrigins[${i}]`, `'${o}' is not an origin like https://temporal-ui.example.net`);
          return false;
        }),
        token: r.str('temporal.codec.token'),
      },
    },
    mm4: {
      listen: r.hostPort('mm4.listen', '127.0.0.1:2525')!,
      domain,
      systemAddress,
      maxMessageBytes: r.int('mm4.maxMessageBytes', 10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
      peers,
      defaultPeer,
      maxConnections: r.int('mm4.maxConnections', 100, 1, 100_000),
      ...(mm4ServerTls ? { tls: mm4ServerTls } : {}),
    },
    sip: {
      listen: r.hostPort('sip.listen', '127.0.0.1:5060')!,
      domain: sipDomain,
      outboundProxy: r.hostPort('sip.outboundProxy', '127.0.0.1:5070')!,
      transport: r.oneOf('sip.transport', ['udp', 'tcp', 'tls'] as const, 'udp'),
      ...(tlsListen ? { tlsListen } : {}),
      ...(sipTls ? { tls: sipTls } : {}),
      trusted: r.cidrList('sip.trusted'),
      timers: { t1, t2: r.duration('sip.timers.t2', 4000), t4: r.duration('sip.timers.t4', 5000) },
      sourceAddress: localSourceAddress(r, 'sip.sourceAddress'),
      pathMtu: r.optionalInt('sip.pathMtu', 576, 65535),
      maxTcpConnectionsPerSource: r.int('sip.maxTcpConnectionsPerSource', 64, 1, 100_000),
    },
    cpm: { users, defaultCountry, uriForm: r.oneOf('cpm.uriForm', ['tel', 'sip'] as const, 'sip'), shortCodes },
    delivery: {
      retry: {
        maxAttempts: r.int('delivery.retry.maxAttempts', 6, 1, 1000),
        initialIntervalMs: r.duration('delivery.retry.initialInterval', 30_000),
        backoffCoefficient: r.num('delivery.retry.backoffCoefficient', 2, 1, 10),
        maxIntervalMs: r.duration('delivery.retry.maxInterval', 30 * 60_000),
      },
      defaultExpiryMs: r.duration('delivery.defaultExpiry', 3 * 86_400_000),
      maxExpiryMs: r.duration('delivery.maxExpiry', 7 * 86_400_000),
      mm4Ack: {
        timeoutMs: r.duration('delivery.mm4Ack.timeout', 10 * 60_000),
        maxAttempts: r.int('delivery.mm4Ack.maxAttempts', 3, 1, 100),
      },
    },
    media: (() => {
      const listen = r.hostPort('media.listen', '127.0.0.1:8090')!;
      const publicUrl = r.str('media.publicUrl');
      if (publicUrl && !/^https?:\/\/[^\s/]+/.test(publicUrl)) r.fail('media.publicUrl', 'must be an http(s) URL');
      // A worker node serves no media: the URLs it puts into file-transfer descriptors name an ingress node's server.
      if (role === 'worker' && !publicUrl)
        r.fail('media.publicUrl', "is required when role is worker (an ingress node's media URL)");
      const store = r.oneOf('media.store', ['fs', 's3'] as const, 'fs');
      return {
        listen,
        publicUrl,
        store,
        dir: resolve(dataDir, r.str('media.dir', 'media')!),
        ...(store === 's3' ? { s3: readS3Media(r, env) } : {}),
        ttlMs: r.duration('media.ttl', 7 * 86_400_000),
        purgeIntervalMs: r.duration('media.purgeInterval', 10 * 60_000),
        fetchHosts: r.strList('media.fetchHosts').filter((h, i) => {
          if (parseFetchHost(h)) return true;
          r.fail(
            `media.fetchHosts[${i}]`,
            `'${h}' is not a host name, *.suffix, *, IP or CIDR (optionally :port or :*; IPv6 with a port as [addr]:port)`,
          );
          return false;
        }),
      };
    })(),
    audit: (() => {
      const store = r.oneOf('audit.store', ['jsonl', 'postgres'] as const, 'jsonl');
      const postgresUrl = r.str('audit.postgresUrl');
      if (store === 'postgres' && !postgresUrl) r.fail('audit.postgresUrl', 'is required when audit.store is postgres');
      return { store, file: resolve(dataDir, r.str('audit.file', 'audit.jsonl')!), postgresUrl };
    })(),
    metrics: {
      enabled: r.bool('metrics.enabled', true),
      listen: r.hostPort('metrics.listen', '127.0.0.1:9464')!,
    },
    ingress: (() => {
      const retryAfterMs = r.duration('ingress.retryAfter', 30_000);
      // Retry-After is whole delta-seconds (RFC 3261 20.33).
      if (retryAfterMs < 1000 || retryAfterMs > 86_400_000) r.fail('ingress.retryAfter', 'must be from 1s to 24h');
      return {
        maxInFlight: r.int('ingress.maxInFlight', 200, 0, 1_000_000),
        retryAfterSeconds: Math.min(86_400, Math.max(1, Math.round(retryAfterMs / 1000))),
      };
    })(),
    isf: {
      maxMessageBytes: r.int('isf.maxMessageBytes', 64 * 1024, 1, 100 * 1024 * 1024),
      maxFileBytes: r.int('isf.maxFileBytes', 10 * 1024 * 1024, 1, 1024 * 1024 * 1024),
      contentTypes: (r.strList('isf.contentTypes').length
        ? r.strList('isf.contentTypes')
        : ['text/plain', 'application/vnd.gsma.rcs-ft-http+xml']
      ).map((c) => c.toLowerCase()),
      interworkCpmUsers: r.bool('isf.interworkCpmUsers', false),
    },
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return config;
}

/**
 * `temporal.encryption`: a keys file (relative to the config file) and the id of the key that
 * encrypts, or `enabled: false` to send payloads in clear. Without a keysFile the keys are
 * `<dataDir>/payload-keys.json`, generated at start for the embedded server; an external cluster
 * without configured keys is refused when the IWF starts (worker/iwf.ts): its operators (and its
 * backups) would see every phone number and message in clear, and a key generated on one IWF host
 * would leave the other workers of that cluster unable to read the histories.
 */
/**
 * `media.s3.*`. The secret pair may come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the SDK's
 * own names) so it need not sit in the file; with neither, the SDK's default credential chain
 * (instance role, web identity, ...) signs.
 */
function readS3Media(r: Reader, env: NodeJS.ProcessEnv): S3MediaOptions {
  const endpoint = r.reqStr('media.s3.endpoint');
  if (endpoint && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(endpoint)) r.fail('media.s3.endpoint', 'must be an http(s) URL');
  const bucket = r.reqStr('media.s3.bucket');
  // S3 bucket naming rules: 3-63 characters, lower-case letters, digits, dots and hyphens.
  if (bucket && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    r.fail('media.s3.bucket', `'${bucket}' is not an S3 bucket name (3-63 of a-z 0-9 . -)`);
  let prefix = r.str('media.s3.prefix', '')!;
  if (prefix.startsWith('/')) r.fail('media.s3.prefix', 'must not start with /');
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  const accessKeyId = r.str('media.s3.accessKeyId') ?? (env.AWS_ACCESS_KEY_ID || undefined);
  const secretAccessKey = r.str('media.s3.secretAccessKey') ?? (env.AWS_SECRET_ACCESS_KEY || undefined);
  if (accessKeyId && !secretAccessKey)
    r.fail('media.s3.secretAccessKey', 'is required with media.s3.accessKeyId (or AWS_SECRET_ACCESS_KEY)');
  if (secretAccessKey && !accessKeyId)
    r.fail('media.s3.accessKeyId', 'is required with media.s3.secretAccessKey (or AWS_ACCESS_KEY_ID)');
  return {
    endpoint,
    bucket,
    region: r.str('media.s3.region', 'us-east-1')!,
    prefix,
    ...(accessKeyId ? { accessKeyId } : {}),
    ...(secretAccessKey ? { secretAccessKey } : {}),
    forcePathStyle: r.bool('media.s3.forcePathStyle', false),
  };
}

function encryptionConfig(r: Reader, dataDir: string, baseDir: string): Config['temporal']['encryption'] {
  const enabled = r.bool('temporal.encryption.enabled', true);
  const keyId = r.str('temporal.encryption.keyId');
  const named = r.str('temporal.encryption.keysFile');
  if (!enabled) return { enabled: false, generate: false };
  const keysFile = named ? resolve(baseDir, named) : resolve(dataDir, 'payload-keys.json');
  if (!named && !existsSync(keysFile)) {
    if (keyId) r.fail('temporal.encryption.keyId', 'is set but temporal.encryption.keysFile is not');
    return { enabled: true, keysFile, generate: true };
  }
  const keys = loadPayloadKeys(keysFile, keyId);
  if (typeof keys === 'string') {
    const key = keyId && keys.includes("has no key '") ? 'temporal.encryption.keyId' : 'temporal.encryption.keysFile';
    r.fail(key, `${keysFile} ${keys}`);
    return { enabled: false, generate: false };
  }
  return { enabled: true, keysFile, generate: !named, keys };
}

/**
 * An IP this host can send from: one of its interfaces' addresses, or loopback (the whole of
 * 127.0.0.0/8 is local on Linux). Binding any other (RFC 3261 18.1.1 sends over a connection
 * we open from it) would fail at the first TCP request, long after start.
 */
function localSourceAddress(r: Reader, path: string): string | undefined {
  const ip = r.ip(path);
  if (ip === undefined) return undefined;
  const plain = ip.replace(/^::ffff:/i, '');
  const loopback = new BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  if (loopback.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4') || localAddresses().includes(plain)) return ip;
  return r.fail(path, `'${ip}' is not an address of this host (${localAddresses().join(', ')})`);
}

/** Reads and validates the configuration once at start. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  const { tree, file } = readConfigFile(argv, env);
  // `--role` wins over IWF_ROLE and the file's `role` (validated with the rest, so a bad value names `role`).
  const i = argv.indexOf('--role');
  if (i >= 0) {
    const role = argv[i + 1];
    if (!role || role.startsWith('--')) throw new ConfigError([`--role: needs one of ${ROLES.join(', ')}`]);
    return buildConfig(tree, { ...env, IWF_ROLE: role }, file ? resolve(file, '..') : process.cwd());
  }
  return buildConfig(tree, env, file ? resolve(file, '..') : process.cwd());
}
