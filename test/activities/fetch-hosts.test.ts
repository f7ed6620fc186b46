/**
 * The SSRF guard of fetchFile (clients/http-fetch.ts): a CPM user's file URL reaches neither
 * loopback, private, link-local nor this IWF - in whatever form the address is written, whatever a
 * name resolves to, wherever a redirect points - unless media.fetchHosts names it; only http(s)
 * on 80/443 unless an entry names the port; at most 3 redirects. Refusals are permanent.
 */
import test from 'ava';
import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createMediaActivities } from '../../activities/media.js';
import {
  addressClass,
  canonicalIp,
  checkUrl,
  FetchRefused,
  guardedFetch,
  localAddresses,
  parseFetchHost,
  parseFetchHosts,
  refusal,
  type FetchPolicy,
} from '../../clients/http-fetch.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import type { SmtpClient } from '../../clients/smtp.js';
import { buildConfig, ConfigError } from '../../worker/config.js';

const policy = (entries: string[], self: string[] = []): FetchPolicy => ({
  entries: parseFetchHosts(entries),
  self: () => ({ names: [], addresses: self }),
});
/** Why checkUrl refuses the URL (before any connection), or 'ok'. */
const verdict = (url: string, entries: string[] = [], self: string[] = []) => {
  try {
    checkUrl(policy(entries, self), new URL(url));
    return 'ok';
  } catch (e) {
    if (!(e instanceof FetchRefused)) throw e;
    return e.message;
  }
};

test('entries: names, *.suffix, *, IPs and CIDRs, each with an optional port; nothing else', (t) => {
  t.like(parseFetchHost('FT.Operator.Example'), { kind: 'name', value: 'ft.operator.example', ports: undefined });
  t.like(parseFetchHost('files.example.net:8443'), { kind: 'name', value: 'files.example.net', ports: [8443] });
  t.like(parseFetchHost('*.cdn.example'), { kind: 'suffix', value: '.cdn.example' });
  t.like(parseFetchHost('*'), { kind: 'any' });
  t.like(parseFetchHost('*:8080'), { kind: 'any', ports: [8080] });
  t.like(parseFetchHost('10.0.0.0/8'), { kind: 'net' });
  t.like(parseFetchHost('127.0.0.0/8:*'), { kind: 'net', ports: '*' });
  t.like(parseFetchHost('fd00::/8'), { kind: 'net', ports: undefined });
  t.like(parseFetchHost('[fd00::/8]:8443'), { kind: 'net', ports: [8443] });
  t.like(parseFetchHost('[::1]'), { kind: 'net' });
  for (const bad of [
    '10.0.0.0/33',
    'a b',
    'x:0',
    'x:70000',
    'x:y',
    '0x7f000001',
    '2130706433',
    '[x]:80',
    '1.2.3.4/8/9',
  ])
    t.is(parseFetchHost(bad), undefined, bad);
});

test('the config refuses a bad media.fetchHosts entry at start, naming it', (t) => {
  const e = t.throws(() => buildConfig({ media: { fetchHosts: ['ft.example', 'ft.example:99999'] } }, {}), {
    instanceOf: ConfigError,
  });
  t.true(
    e.problems.some((p) => p.startsWith('media.fetchHosts[1]:')),
    e.message,
  );
  t.deepEqual(buildConfig({ media: { fetchHosts: ['*.cdn.example', '[fd00::/8]:*'] } }, {}).media.fetchHosts, [
    '*.cdn.example',
    '[fd00::/8]:*',
  ]);
  t.deepEqual(buildConfig({}, {}).media.fetchHosts, [], 'the default: public hosts, 80/443');
});

test('by default no internal address is fetched from, in any form it is written', (t) => {
  const loopback = '127.0.0.1 is a loopback address not in media.fetchHosts';
  t.is(verdict('http://127.0.0.1/'), loopback);
  t.is(verdict('https://127.0.0.1/'), loopback);
  t.is(verdict('http://0x7f000001/'), loopback, 'hex');
  t.is(verdict('http://2130706433/'), loopback, 'decimal');
  t.is(verdict('http://0177.0.0.1/'), loopback, 'octal');
  t.is(verdict('http://127.1/'), loopback, 'short form');
  t.is(verdict('http://127.0.0.1./'), loopback, 'trailing dot');
  t.is(verdict('http://%31%32%37.0.0.1/'), loopback, 'percent-encoded');
  t.is(verdict('http://[::1]/'), '::1 is a loopback address not in media.fetchHosts');
  t.is(
    verdict('http://[::ffff:127.0.0.1]/'),
    '127.0.0.1 (as ::ffff:7f00:1) is a loopback address not in media.fetchHosts',
  );
  t.is(
    verdict('http://[0:0:0:0:0:ffff:7f00:1]/'),
    '127.0.0.1 (as ::ffff:7f00:1) is a loopback address not in media.fetchHosts',
  );
  t.regex(verdict('http://[::ffff:169.254.169.254]/'), /^169\.254\.169\.254 .*is a link-local address/);
  t.regex(verdict('http://[64:ff9b::10.0.0.1]/'), /^10\.0\.0\.1 .*is a private address/, 'NAT64');
  t.regex(verdict('http://[::127.0.0.1]/'), /is a reserved address/, 'IPv4-compatible');
  for (const [url, cls] of [
    ['http://10.1.2.3/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://172.31.255.255/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://[fd12:3456::1]/', 'private'],
    ['http://[fc00::1]/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://100.64.0.1/', 'CGNAT'],
    ['http://100.127.255.254/', 'CGNAT'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://240.0.0.1/', 'reserved'],
  ])
    t.regex(verdict(url), new RegExp(`is an? ${cls} address not in media.fetchHosts$`), url);
  t.is(verdict('http://172.32.0.1/'), 'ok', 'just outside 172.16/12');
  t.is(verdict('http://100.128.0.1/'), 'ok', 'just outside 100.64/10');
  t.is(verdict('https://8.8.8.8/'), 'ok');
  t.is(verdict('http://[2001:4860:4860::8888]/'), 'ok');
  t.is(verdict('http://[::ffff:8.8.8.8]/'), 'ok', 'a mapped public address is public');
});

test('names are checked by what they resolve to, on each connection (DNS rebinding)', (t) => {
  const p = policy([]);
  t.is(refusal(p, 'files.evil.example', 80), undefined, 'before resolving: not known to be internal');
  t.is(refusal(p, 'files.evil.example', 80, '93.184.216.34'), undefined);
  t.is(
    refusal(p, 'files.evil.example', 80, '127.0.0.1'),
    '127.0.0.1 is a loopback address not in media.fetchHosts',
    'the same name, resolving to loopback on the connection',
  );
  t.is(
    refusal(p, 'files.evil.example', 80, '::ffff:10.0.0.5'),
    '10.0.0.5 (as ::ffff:a00:5) is a private address not in media.fetchHosts',
  );
  t.is(refusal(p, 'localhost', 80, '::1'), '::1 is a loopback address not in media.fetchHosts');
});

test('only http and https, on 80 and 443 unless an entry names the port', (t) => {
  for (const url of [
    'ftp://8.8.8.8/f',
    'file:///etc/passwd',
    'gopher://8.8.8.8/',
    'data:text/plain,x',
    'ws://8.8.8.8/',
  ])
    t.regex(verdict(url), /^scheme \w+ is not http or https$/, url);
  t.is(
    verdict('http://8.8.8.8:22/'),
    'port 22 of 8.8.8.8 is not allowed (80/443 unless a media.fetchHosts entry names it)',
  );
  t.regex(verdict('https://files.example.net:8443/'), /^port 8443 of files.example.net is not allowed/);
  t.is(verdict('http://8.8.8.8:443/'), 'ok');
  t.is(verdict('https://8.8.8.8:80/'), 'ok');
  t.is(verdict('https://files.example.net:8443/', ['files.example.net:8443']), 'ok');
  t.regex(
    verdict('https://files.example.net/', ['files.example.net:8443']),
    /^port 443 of files.example.net/,
    'only that port',
  );
  t.is(verdict('http://8.8.8.8:8080/', ['*:8080']), 'ok');
  t.is(verdict('http://8.8.8.8:8080/', ['*:*']), 'ok');
  t.regex(verdict('http://127.0.0.1:8080/', ['*:*']), /loopback/, 'any port is still no internal address');
  t.regex(verdict('http://127.0.0.1:22/', ['127.0.0.1:8080']), /^port 22 of 127\.0\.0\.1 is not allowed/);
  t.is(verdict('http://127.0.0.1:8080/', ['127.0.0.1:8080']), 'ok');
});

test('an allowlist admits what it names, internal or not, and nothing else', (t) => {
  const allow = ['ft.operator.example', '*.cdn.example', '10.1.0.0/16', '::1', '[fd00::/8]:8443'];
  t.is(verdict('https://ft.operator.example/f', allow), 'ok');
  t.is(verdict('https://a.b.cdn.example/f', allow), 'ok');
  t.is(verdict('http://10.1.2.3/f', allow), 'ok');
  t.is(verdict('http://[::1]/f', allow), 'ok');
  t.is(verdict('https://[fd00::7]:8443/f', allow), 'ok');
  t.is(
    verdict('http://127.0.0.1:7233/', allow),
    '127.0.0.1 is not in media.fetchHosts',
    'internal services stay out of reach',
  );
  // Names only: an unknown name is refused before it is even resolved...
  const names = ['ft.operator.example', '*.cdn.example'];
  t.is(verdict('http://evil.example/ft.operator.example', names), 'evil.example is not in media.fetchHosts');
  t.is(verdict('http://cdn.example.evil/', names), 'cdn.example.evil is not in media.fetchHosts');
  t.is(verdict('http://cdn.example/', names), 'cdn.example is not in media.fetchHosts', '*.suffix is subdomains only');
  // ...with CIDRs in the list, when it resolves outside them.
  t.is(verdict('http://evil.example/', allow), 'ok', 'not decided before resolving');
  t.is(
    refusal(policy(allow), 'evil.example', 80, '93.184.216.34'),
    'evil.example (93.184.216.34) is not in media.fetchHosts',
  );
  t.is(verdict('http://10.2.0.1/', allow), '10.2.0.1 is not in media.fetchHosts');
  // A name named is trusted with what it resolves to; a CIDR admits names resolving into it.
  const p = policy(allow);
  t.is(refusal(p, 'ft.operator.example', 443, '10.9.9.9'), undefined);
  t.is(refusal(p, 'ft.internal', 80, '10.1.7.7'), undefined);
  t.is(refusal(p, 'ft.internal', 80, '10.2.7.7'), 'ft.internal (10.2.7.7) is not in media.fetchHosts');
  // `*` keeps any public host open next to named internal ones.
  t.is(verdict('https://files.example.org/', ['*', '10.1.0.0/16']), 'ok');
  t.regex(verdict('http://10.2.0.1/', ['*', '10.1.0.0/16']), /private address/);
  t.is(verdict('http://127.0.0.5:1234/', ['127.0.0.0/8:*']), 'ok', 'the test rig: loopback named');
});

test("this IWF's own addresses are refused unless named", (t) => {
  t.is(
    verdict('http://203.0.113.7/', [], ['203.0.113.7']),
    '203.0.113.7 is an address of this IWF, not in media.fetchHosts',
  );
  t.is(verdict('http://203.0.113.7/', ['203.0.113.7'], ['203.0.113.7']), 'ok');
  t.is(verdict('http://203.0.113.8/', [], ['203.0.113.7']), 'ok');
  const p = { entries: [], self: () => ({ names: ['mms-iwf.example.net'], addresses: [] }) };
  t.regex(refusal(p, 'mms-iwf.example.net', 80, '198.51.100.1') ?? '', /address of this IWF/);
  // Without a list of its own, every interface address of this machine is this IWF.
  for (const a of localAddresses().filter((ip) => !addressClass(ip)))
    t.regex(refusal({ entries: [] }, a, 80) ?? '', /address of this IWF/, a);
  t.is(addressClass('::ffff:127.0.0.1'), 'loopback');
  t.deepEqual(canonicalIp('::ffff:7f00:1'), { ip: '127.0.0.1', v6: '::ffff:7f00:1' });
});

// ---- against real servers on loopback ---------------------------------------------------------

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
async function serve(
  host: string,
  handler: Handler,
): Promise<{ base: string; port: number; hits: string[]; server: Server }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  // Every TCP connection, so "refused" can be told from "connected, then dropped".
  server.on('connection', () => hits.push('(connection)'));
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as { port: number };
  return { base: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, hits, server };
}

type Served = Awaited<ReturnType<typeof serve>>;
let files: Served;
let redirector: Served;
test.before(async () => {
  files = await serve('127.0.0.1', (req, res) => {
    const m = /^\/hop\/(\d+)$/.exec(req.url ?? '');
    if (m) {
      const n = Number(m[1]);
      res.writeHead(302, { location: n > 1 ? `/hop/${n - 1}` : '/file' }).end();
    } else if (req.url === '/file') res.writeHead(200, { 'content-type': 'image/png' }).end('PNGDATA');
    else if (req.url === '/gz')
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(Buffer.from('unzipped')));
    else if (req.url === '/big') res.writeHead(200, { 'content-length': '5000' }).end(Buffer.alloc(5000));
    else if (req.url === '/stream') {
      res.writeHead(200);
      res.write(Buffer.alloc(600));
      res.end(Buffer.alloc(600));
    } else if (req.url === '/500') res.writeHead(500).end();
    else res.writeHead(404).end();
  });
  /** An "allowed" content server on another loopback address that redirects where it is told. */
  redirector = await serve('127.0.0.2', (req, res) => {
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/';
    res.writeHead(302, { location: to }).end();
  });
});
test.after.always(() => {
  files.server.close();
  redirector.server.close();
});

const fetchFile = (fetchHosts: string[]) => {
  const activities = createMediaActivities({
    media: filesystemMediaStore(mkdtempSync(join(tmpdir(), 'fetch-'))),
    mediaTtlMs: 3_600_000,
    mediaPublicUrl: () => 'http://media.example',
    maxFileBytes: 1000,
    mm4: { peers: [] },
    smtp: {} as SmtpClient,
    fetchHosts,
  });
  return (f: Parameters<typeof activities.fetchFile>[0]) => activities.fetchFile(f);
};

async function refused(
  t: import('ava').ExecutionContext,
  p: Promise<unknown>,
  message: string | RegExp,
  type = 'ContentNotAccepted',
) {
  const e = await t.throwsAsync(p);
  t.true(e instanceof ApplicationFailure, `a permanent activity failure: ${e?.message}`);
  const f = e as ApplicationFailure;
  t.true(f.nonRetryable, 'not retried');
  t.is(f.type, type);
  if (typeof message === 'string') t.is(f.message, message);
  else t.regex(f.message, message);
}

test.serial('the shipped default refuses a loopback URL without connecting: a permanent failure', async (t) => {
  const before = files.hits.length;
  await refused(
    t,
    fetchFile([])({ url: `${files.base}/file`, contentType: 'image/png' }),
    'fetch refused: 127.0.0.1 is a loopback address not in media.fetchHosts',
  );
  await refused(
    t,
    fetchFile(['*:*'])({ url: `${files.base}/file`, contentType: 'image/png' }),
    'fetch refused: 127.0.0.1 is a loopback address not in media.fetchHosts',
  );
  await refused(
    t,
    fetchFile([])({ url: 'http://127.0.0.1:22/', contentType: '' }),
    'fetch refused: 127.0.0.1 is a loopback address not in media.fetchHosts',
  );
  await refused(
    t,
    fetchFile([])({ url: 'http://0x7f000001/', contentType: '' }),
    'fetch refused: 127.0.0.1 is a loopback address not in media.fetchHosts',
  );
  await refused(
    t,
    fetchFile([])({ url: 'http://[::1]/', contentType: '' }),
    'fetch refused: ::1 is a loopback address not in media.fetchHosts',
  );
  await refused(
    t,
    fetchFile([])({ url: 'file:///etc/passwd', contentType: '' }),
    'fetch refused: scheme file is not http or https',
  );
  await refused(t, fetchFile([])({ url: 'not a url', contentType: '' }), /^fetch refused: 'not a url' is not a URL/);
  t.is(files.hits.length, before, 'not even a TCP connection was made');
});

test.serial('a name is refused by the address it resolves to, through the socket lookup', async (t) => {
  const before = files.hits.length;
  // localhost resolves to 127.0.0.1 (and maybe ::1): refused on connecting, whatever the name says.
  await refused(
    t,
    fetchFile(['*:*'])({ url: `http://localhost:${files.port}/file`, contentType: 'image/png' }),
    /^fetch refused: (127\.0\.0\.1|::1) is a loopback address not in media.fetchHosts$/,
  );
  t.is(files.hits.length, before, 'no connection was made');
  const ok = await fetchFile([`localhost:${files.port}`])({
    url: `http://localhost:${files.port}/file`,
    contentType: '',
  });
  t.is(ok.size, 7, 'named, localhost is fetched from');
});

test.serial('what is named is fetched, and its type kept', async (t) => {
  const ref = await fetchFile([`127.0.0.1:${files.port}`])({
    url: `${files.base}/file`,
    contentType: '',
    name: 'a.png',
  });
  t.like(ref, { contentType: 'image/png', size: 7, name: 'a.png' });
  const gz = await guardedFetch(`${files.base}/gz`, { policy: policy(['127.0.0.0/8:*']), maxBytes: 1000 });
  t.is(gz.body?.toString(), 'unzipped', 'a server compressing anyway is decoded');
});

test.serial('redirects: at most 3, each checked like the first request', async (t) => {
  const allow = [`127.0.0.1:${files.port}`];
  t.like(
    await fetchFile(allow)({ url: `${files.base}/hop/3`, contentType: 'image/png' }),
    { size: 7 },
    '3 redirects are followed',
  );
  await refused(
    t,
    fetchFile(allow)({ url: `${files.base}/hop/4`, contentType: 'image/png' }),
    'fetch refused: more than 3 redirects (the last to /file)',
  );
  // From an allowed content server to loopback: refused at the redirect.
  const via = (to: string) => `${redirector.base}/?to=${encodeURIComponent(to)}`;
  const before = files.hits.length;
  await refused(
    t,
    fetchFile([`127.0.0.2:${redirector.port}`, '*:*'])({ url: via(`${files.base}/file`), contentType: '' }),
    `fetch refused: redirect 1 to ${files.base}/file: 127.0.0.1 is a loopback address not in media.fetchHosts`,
  );
  await refused(
    t,
    fetchFile([`127.0.0.2:${redirector.port}`, '*:*'])({
      url: via(`http://localhost:${files.port}/file`),
      contentType: '',
    }),
    /^fetch refused: redirect 1 to http:\/\/localhost:\d+\/file: (127\.0\.0\.1|::1) is a loopback address/,
  );
  await refused(
    t,
    fetchFile([`127.0.0.2:${redirector.port}`])({ url: via(`${files.base}/file`), contentType: '' }),
    `fetch refused: redirect 1 to ${files.base}/file: 127.0.0.1 is not in media.fetchHosts`,
  );
  await refused(
    t,
    fetchFile([`127.0.0.2:${redirector.port}`])({
      url: via('http://169.254.169.254/latest/meta-data/'),
      contentType: '',
    }),
    /^fetch refused: redirect 1 to http:\/\/169\.254\.169\.254\/latest\/meta-data\/: 169\.254\.169\.254 is not in media\.fetchHosts/,
  );
  await refused(
    t,
    fetchFile([`127.0.0.2:${redirector.port}`])({ url: via('file:///etc/passwd'), contentType: '' }),
    'fetch refused: redirect 1 to file:///etc/passwd: scheme file is not http or https',
  );
  await refused(
    t,
    fetchFile([`127.0.0.2:${redirector.port}`, '127.0.0.1'])({ url: via(`${files.base}/file`), contentType: '' }),
    `fetch refused: redirect 1 to ${files.base}/file: port ${files.port} of 127.0.0.1 is not allowed (80/443 unless a media.fetchHosts entry names it)`,
  );
  t.is(files.hits.length, before, 'no refused redirect reached its target');
});

test.serial('size cap and HTTP answers: too large and 4xx are permanent, 5xx is retried', async (t) => {
  const f = fetchFile(['127.0.0.0/8:*']);
  await refused(
    t,
    f({ url: `${files.base}/big`, contentType: '' }),
    'file of 5000 bytes exceeds 1000',
    'MessageTooLarge',
  );
  await refused(t, f({ url: `${files.base}/stream`, contentType: '' }), 'file exceeds 1000 bytes', 'MessageTooLarge');
  await refused(t, f({ url: `${files.base}/gone`, contentType: '' }), `file ${files.base}/gone answered HTTP 404`);
  const e = await t.throwsAsync(f({ url: `${files.base}/500`, contentType: '' }));
  t.false(e instanceof ApplicationFailure, 'a server error is retried');
  t.regex(e.message, /HTTP 500/);
});
