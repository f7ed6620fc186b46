/**
 * The HTTP client for files CPM users point us at (FT-over-HTTP, RCC.07): the URL comes from a
 * user, so every connection is an SSRF risk. Closed by default:
 *
 * - http and https only, on ports 80 and 443 unless a `media.fetchHosts` entry names the port;
 * - every address connected to is checked as resolved (a `lookup` hook on the socket, so a name
 *   that resolves to a public address first and to 127.0.0.1 on the connection - DNS rebinding -
 *   is still refused; numeric hosts in odd forms such as `0x7f000001`, `2130706433` or
 *   `0177.0.0.1` are normalised by the WHATWG URL parser first): loopback, unspecified, private,
 *   link-local, CGNAT, multicast, broadcast and reserved addresses (and IPv4-mapped, NAT64 forms of
 *   them), and the addresses of this machine (where the IWF listens), are refused unless an entry
 *   names them: a host name or `*.suffix` matching the URL's host, or an IP/CIDR covering the
 *   address;
 * - redirects: at most 3, each checked as the first request;
 * - a size cap and one timeout over all hops.
 *
 * `media.fetchHosts` entries: `name`, `*.suffix`, `*` (any host, public addresses only), an IP or a
 * CIDR, each optionally with `:port` or `:*` (any port); IPv6 with a port in brackets:
 * `[fd00::/8]:8443`. An empty list is `*`: any host on a public address, ports 80/443.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { domainToASCII } from 'node:url';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';

/** A fetch our policy does not allow: permanent (asking again gives the same answer). */
export class FetchRefused extends Error {
  override name = 'FetchRefused';
}

/** The file is larger than the cap. */
export class FetchTooLarge extends Error {
  override name = 'FetchTooLarge';
  constructor(
    message: string,
    readonly limitBytes: number,
  ) {
    super(message);
  }
}

/** Ports fetched from when an entry names none. */
export const DEFAULT_PORTS = [80, 443];
export const DEFAULT_MAX_REDIRECTS = 3;
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface FetchHostEntry {
  /** As configured. */
  text: string;
  kind: 'any' | 'name' | 'suffix' | 'net';
  /** name: the host (ASCII, lower case, no trailing dot); suffix: `.example.net`; net: the CIDR. */
  value: string;
  /** undefined: DEFAULT_PORTS; '*': any. */
  ports?: number[] | '*';
  list?: BlockList;
}

const family = (ip: string) => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

function netList(addr: string, bits: number | undefined): BlockList | undefined {
  const fam = isIP(addr);
  const max = fam === 6 ? 128 : 32;
  if (!fam || (bits !== undefined && (!Number.isInteger(bits) || bits < 0 || bits > max))) return undefined;
  const list = new BlockList();
  list.addSubnet(addr, bits ?? max, family(addr));
  // An IPv4-mapped entry (`::ffff:10.0.0.1`) also stands for the IPv4 address it carries.
  const c = canonicalIp(addr);
  if (bits === undefined && c.v6) list.addAddress(c.ip, 'ipv4');
  return list;
}

/**
 * One `media.fetchHosts` entry, or undefined when it is none of: `*`, `name`, `*.suffix`, IP,
 * CIDR, each with an optional `:port` / `:*` (IPv6 with a port bracketed: `[::1]:8080`).
 */
export function parseFetchHost(text: string): FetchHostEntry | undefined {
  const t = text.trim().toLowerCase();
  let host = t;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}|\*))?$/.exec(t);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
    if (!host.includes(':')) return undefined;
  } else if ((t.match(/:/g) ?? []).length === 1) {
    [host, portText] = t.split(':');
  }
  let ports: FetchHostEntry['ports'];
  if (portText === '*') ports = '*';
  else if (portText !== undefined) {
    const p = Number(portText);
    if (!/^\d{1,5}$/.test(portText) || p < 1 || p > 65535) return undefined;
    ports = [p];
  }
  if (host === '*') return { text, kind: 'any', value: '*', ports };
  const [addr, bitsText, ...rest] = host.split('/');
  if (isIP(addr)) {
    if (rest.length || (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText))) return undefined;
    const list = netList(addr, bitsText === undefined ? undefined : Number(bitsText));
    return list ? { text, kind: 'net', value: host, ports, list } : undefined;
  }
  if (bitsText !== undefined || host.includes(':')) return undefined;
  const wildcard = host.startsWith('*.');
  const name = domainToASCII(wildcard ? host.slice(2) : host).replace(/\.$/, '');
  if (!name || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)) return undefined;
  // A numeric "name" (`0x7f000001`, `127.1`) is an address to the URL parser: say it as one.
  if (!wildcard && isIP(new URL(`http://${name}/`).hostname)) return undefined;
  return wildcard ? { text, kind: 'suffix', value: `.${name}`, ports } : { text, kind: 'name', value: name, ports };
}

/** The entries of `media.fetchHosts` (invalid ones are refused at start by the config). */
export function parseFetchHosts(entries: string[]): FetchHostEntry[] {
  return entries.flatMap((e) => parseFetchHost(e) ?? []);
}

/** The eight 16-bit words of an IPv6 address (dotted IPv4 tail allowed), or undefined. */
function ipv6Words(ip: string): number[] | undefined {
  if (isIP(ip) !== 6) return undefined;
  let s = ip.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : undefined;
  const words = t ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return words.length === 8 ? words.map((w) => parseInt(w, 16)) : undefined;
}

/**
 * `ip` as compared: IPv6 compressed and lower case (`v6`); IPv4-mapped (::ffff:0:0/96),
 * IPv4-translated (::ffff:0:0:0/96) and NAT64 (64:ff9b::/96) addresses as the IPv4 address they
 * carry (`ip`), so `::ffff:127.0.0.1` is the loopback address it is.
 */
export function canonicalIp(ip: string): { ip: string; v6?: string } {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const w = ipv6Words(bare);
  if (!w) return { ip: bare };
  const v6 = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const z = (n: number) => w.slice(0, n).every((x) => x === 0);
  const embeds =
    (z(5) && w[5] === 0xffff) ||
    (z(4) && w[4] === 0xffff && w[5] === 0) ||
    (w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((x) => x === 0));
  if (!embeds) return { ip: v6 };
  return { ip: [w[6] >> 8, w[6] & 255, w[7] >> 8, w[7] & 255].join('.'), v6 };
}

const CLASSES: [string, string[]][] = [
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['broadcast', ['255.255.255.255/32']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fec0::/10', '64:ff9b:1::/48']],
  ['CGNAT', ['100.64.0.0/10']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  // IETF protocol assignments, benchmarking, class E; IPv4-compatible IPv6 (deprecated), discard.
  ['reserved', ['192.0.0.0/24', '198.18.0.0/15', '240.0.0.0/4', '::/96', '100::/64']],
];
const CLASS_LISTS = CLASSES.map(([name, nets]) => {
  const list = new BlockList();
  for (const n of nets) {
    const [a, b] = n.split('/');
    list.addSubnet(a, Number(b), family(a));
  }
  return [name, list] as const;
});

/** Why an address is not a public one (`loopback`, `private`, ...), or undefined when it is. */
export function addressClass(ip: string): string | undefined {
  const c = canonicalIp(ip);
  if (!isIP(c.ip)) return 'invalid';
  return CLASS_LISTS.find(([, list]) => list.check(c.ip, family(c.ip)))?.[0];
}

/** The addresses of this machine's interfaces: wherever the IWF listens, it is one of them. */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((ifs) => (ifs ?? []).map((i) => canonicalIp(i.address).ip));
}

export interface FetchPolicy {
  entries: FetchHostEntry[];
  /** This IWF: host names and addresses it is reached at (refused unless an entry names them). */
  self?: () => { names: string[]; addresses: string[] };
  maxRedirects?: number;
}

const portsOf = (e: FetchHostEntry) => e.ports ?? DEFAULT_PORTS;
const portOk = (e: FetchHostEntry, port: number) => {
  const p = portsOf(e);
  return p === '*' || p.includes(port);
};

/**
 * Why `host` (as the URL parser gave it) on `port` at `address` may not be fetched, or undefined
 * when it may. Without `address` (before resolving a name) IP/CIDR entries may still match, so
 * only what is certain is refused.
 */
export function refusal(policy: FetchPolicy, host: string, port: number, address?: string): string | undefined {
  const name = host.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  const literal = isIP(name) ? canonicalIp(name) : undefined;
  const addr = address !== undefined ? canonicalIp(address) : literal;
  const entries: FetchHostEntry[] = policy.entries.length ? policy.entries : [{ text: '*', kind: 'any', value: '*' }];
  const inNet = (e: FetchHostEntry) =>
    !!addr &&
    isIP(addr.ip) !== 0 &&
    (e.list!.check(addr.ip, family(addr.ip)) || (addr.v6 !== undefined && e.list!.check(addr.v6, 'ipv6')));
  /** Whether the entry names the host or address: undefined = cannot tell yet. */
  const names = (e: FetchHostEntry): boolean | undefined => {
    switch (e.kind) {
      case 'any':
        return false;
      case 'name':
        return !literal && name === e.value;
      case 'suffix':
        return !literal && name.endsWith(e.value);
      case 'net':
        return addr ? inNet(e) : undefined;
    }
  };
  const covers = (e: FetchHostEntry) => e.kind === 'any' || names(e) !== false;
  const shown = addr && addr.ip !== name ? `${name} (${addr.ip})` : name;
  const matching = entries.filter(covers);
  if (!matching.length) return `${shown} is not in media.fetchHosts`;
  const withPort = matching.filter((e) => portOk(e, port));
  if (withPort.some((e) => names(e) !== false)) return undefined; // named explicitly (or to be decided per address)
  if (addr && !matching.some((e) => names(e) === true)) {
    const cls = addressClass(addr.ip);
    const ip = addr.v6 ? `${addr.ip} (as ${addr.v6})` : addr.ip;
    if (cls) return `${ip} is ${/^[aeiou]/i.test(cls) ? 'an' : 'a'} ${cls} address not in media.fetchHosts`;
    const self = policy.self?.() ?? { names: [], addresses: localAddresses() };
    if (self.addresses.map((a) => canonicalIp(a).ip).includes(addr.ip) || (!literal && self.names.includes(name)))
      return `${ip} is an address of this IWF, not in media.fetchHosts`;
  }
  if (!withPort.length)
    return `port ${port} of ${shown} is not allowed (${DEFAULT_PORTS.join('/')} unless a media.fetchHosts entry names it)`;
  return undefined;
}

/** The scheme, host and port of a URL as requested, or why it is refused before any connection. */
export function checkUrl(policy: FetchPolicy, url: URL): { host: string; port: number } {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new FetchRefused(`scheme ${url.protocol.replace(/:$/, '')} is not http or https`);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new FetchRefused('the URL has no host');
  const why = refusal(policy, host, port, isIP(host) ? host : undefined);
  if (why) throw new FetchRefused(why);
  return { host, port };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for the socket: resolves, then passes on only the addresses the policy allows. */
function guardedLookup(policy: FetchPolicy, port: number) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      let why: string | undefined;
      const ok = addresses.filter((a) => {
        const r = refusal(policy, hostname, port, a.address);
        why ??= r;
        return !r;
      });
      if (!ok.length) return callback(new FetchRefused(why ?? `${hostname} resolved to no address`), '');
      if (options.all) callback(null, ok);
      else callback(null, ok[0].address, ok[0].family);
    });
  };
}

export interface FetchResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL answered (after redirects). */
  url: string;
  /** The body of a 2xx answer (decoded when the server compressed it anyway). */
  body?: Buffer;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One GET, checked before connecting (literal addresses) and on resolving (names). */
function once(policy: FetchPolicy, url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  const { host, port } = checkUrl(policy, url);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)({
      protocol: url.protocol,
      host,
      port,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { 'user-agent': 'cpm-mms-iwf', accept: '*/*', 'accept-encoding': 'identity' },
      agent: false, // a connection of its own: nothing reused across hosts
      lookup: guardedLookup(policy, port),
      signal,
    });
    req.on('socket', (s: Socket) => {
      // Belt and braces: whatever path led to the connection, what it reached is checked too.
      s.once('connect', () => {
        const why = s.remoteAddress ? refusal(policy, host, port, s.remoteAddress) : undefined;
        if (why) req.destroy(new FetchRefused(why));
      });
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

/**
 * GET `url` under `policy`: redirects followed (at most `maxRedirects`, each checked), the body of
 * a 2xx read up to `maxBytes` (FetchTooLarge beyond), all within `timeoutMs`. A refusal by the
 * policy is a FetchRefused; network errors and timeouts are plain errors (worth another try).
 */
export async function guardedFetch(
  url: string,
  o: { policy: FetchPolicy; maxBytes: number; timeoutMs?: number },
): Promise<FetchResult> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const max = o.policy.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new FetchRefused(`'${url}' is not a URL`);
  }
  const timedOut = (e: unknown) =>
    signal.aborted ? new Error(`timed out after ${timeoutMs} ms`, { cause: e }) : (e as Error);
  for (let hop = 0; ; hop++) {
    let res: IncomingMessage;
    try {
      res = await once(o.policy, current, signal);
    } catch (e) {
      if (e instanceof FetchRefused && hop > 0)
        throw new FetchRefused(`redirect ${hop} to ${current.href}: ${e.message}`);
      throw timedOut(e);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location) {
      res.resume();
      res.destroy();
      if (hop >= max) throw new FetchRefused(`more than ${max} redirects (the last to ${location})`);
      try {
        current = new URL(location, current);
      } catch {
        throw new FetchRefused(`redirect ${hop + 1} to '${location}', not a URL`);
      }
      continue;
    }
    if (status < 200 || status > 299) {
      res.resume();
      res.destroy();
      return { status, headers: res.headers, url: current.href };
    }
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (declared > o.maxBytes) {
      res.destroy();
      throw new FetchTooLarge(`file of ${declared} bytes exceeds ${o.maxBytes}`, o.maxBytes);
    }
    const enc = String(res.headers['content-encoding'] ?? 'identity').toLowerCase();
    const decoder =
      enc === 'gzip' || enc === 'x-gzip'
        ? createGunzip()
        : enc === 'deflate'
          ? createInflate()
          : enc === 'br'
            ? createBrotliDecompress()
            : undefined;
    const stream: Readable = decoder ? res.pipe(decoder) : res;
    if (decoder) res.on('error', (e) => decoder.destroy(e));
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > o.maxBytes) throw new FetchTooLarge(`file exceeds ${o.maxBytes} bytes`, o.maxBytes);
        chunks.push(chunk);
      }
    } catch (e) {
      throw e instanceof FetchTooLarge ? e : timedOut(e);
    } finally {
      res.destroy();
      decoder?.destroy();
    }
    return { status, headers: res.headers, url: current.href, body: Buffer.concat(chunks) };
  }
}
