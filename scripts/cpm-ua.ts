/**
 * A stand-in for the CPM side, for trying the IWF by hand (not used by the tests, which drive
 * the same SIP stack directly):
 *
 *   npm run cpm-ua -- listen [--listen 127.0.0.1:5070] [--iwf 127.0.0.1:5060] [--offline] [--no-imdn]
 *     Plays the outbound proxy + CPM client: answers MESSAGEs 202 (480 with --offline), prints
 *     them, and for each CPIM message that asks for notifications sends the IMDNs back to the IWF
 *     (delivered, then displayed). IMDNs the IWF sends (CPM -> MMS reports) are printed.
 *
 *   npm run cpm-ua -- send --to tel:+4915112345678 [--from tel:+12025550101] [--text hi]
 *       [--notify positive-delivery,negative-delivery,display] [--iwf 127.0.0.1:5060]
 *     Sends one pager-mode MESSAGE (CPIM text) to the IWF as the S-CSCF would hand it over
 *     (from --listen's host, any port).
 *
 * `--listen HOST:PORT` is where the IWF's sip.outboundProxy points (`--port N` is short for
 * 127.0.0.1:N). SIGINT/SIGTERM stop it; a port in use is one line on stderr and exit 1.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseHostPort } from '../worker/config-schema.js';
import { createSipEndpoint, type SipEndpoint } from '../clients/sip/endpoint.js';
import { buildCpimMessage, buildImdnCpim, parseCpim, readImdnFields, serializeCpim } from '../protocols/cpim/cpim.js';
import { parseImdn } from '../protocols/cpim/imdn.js';
import { getHeader, type SipRequest } from '../protocols/sip/message.js';

const fail = (line: string, code = 2): never => {
  console.error(`cpm-ua: ${line}`);
  process.exit(code);
};
const options = {
  allowPositionals: true,
  options: {
    listen: { type: 'string' },
    port: { type: 'string' },
    iwf: { type: 'string', default: '127.0.0.1:5060' },
    offline: { type: 'boolean', default: false },
    'no-imdn': { type: 'boolean', default: false },
    to: { type: 'string' },
    from: { type: 'string', default: 'tel:+12025550101' },
    text: { type: 'string', default: 'Hello from CPM' },
    notify: { type: 'string', default: 'positive-delivery,negative-delivery,display' },
  },
} as const;
let args: ReturnType<typeof parseArgs<typeof options>> | undefined;
try {
  args = parseArgs(options);
} catch (e) {
  fail((e as Error).message);
}
const { positionals, values: o } = args!;
const me = parseHostPort(o.listen ?? `127.0.0.1:${o.port ?? '5070'}`);
if (!me) fail(`--listen: '${o.listen ?? o.port}' is not HOST:PORT like 127.0.0.1:5070`);
const iwfAddr = parseHostPort(o.iwf);
if (!iwfAddr) fail(`--iwf: '${o.iwf}' is not HOST:PORT like 127.0.0.1:5060`);
const iwf = { host: iwfAddr!.host, port: iwfAddr!.port, transport: 'udp' as const };
const shown = (h: { host: string; port: number }) => `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;

/** The SIP endpoint, or one clear line when the address cannot be bound (EADDRINUSE: another cpm-ua, SIPp ...). */
async function endpointOn(host: string, port: number): Promise<SipEndpoint> {
  try {
    return await createSipEndpoint({ host, port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      return fail(
        `${shown({ host, port })} is already in use (UDP or TCP: another cpm-ua, SIPp, the IWF?); choose one with --listen HOST:PORT`,
        1,
      );
    return fail(`cannot listen on ${shown({ host, port })}: ${code ?? (e as Error).message}`, 1);
  }
}
const uriOf = (v: string | undefined) => /<([^>]+)>/.exec(v ?? '')?.[1] ?? v ?? '';
const token = () => randomBytes(6).toString('hex');

function message(ep: SipEndpoint, from: string, to: string, body: Buffer) {
  return ep.sendRequest(
    {
      method: 'MESSAGE',
      uri: to,
      headers: [
        { name: 'From', value: `<${from}>;tag=${token()}` },
        { name: 'To', value: `<${to}>` },
        { name: 'Call-ID', value: `${token()}@cpm-ua` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: `<${from}>` },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body,
    },
    iwf,
  );
}

/** The IMDN a CPM client sends for a message it received (RFC 5438 7.2, CPIM per 6.3). */
async function sendImdn(
  ep: SipEndpoint,
  me: string,
  to: string,
  messageId: string,
  datetime: string,
  kind: 'delivery' | 'display',
) {
  const notification =
    kind === 'delivery'
      ? { messageId, datetime, recipientUri: me, kind, status: 'delivered' as const }
      : { messageId, datetime, recipientUri: me, kind, status: 'displayed' as const };
  const body = serializeCpim(
    buildImdnCpim({ from: me, to, dateTime: new Date(), imdnMessageId: token(), notification }),
  );
  const res = await message(ep, me, to, body);
  console.log(`--> IMDN ${kind} for ${messageId}: ${res.status} ${res.reason}`);
}

async function listen() {
  const ep = await endpointOn(me!.host, me!.port);
  ep.onRequest((req: SipRequest) => {
    if (req.method !== 'MESSAGE') return { status: req.method === 'OPTIONS' ? 200 : 405 };
    const cpim = parseCpim(req.body);
    const inner = cpim.ok ? cpim.message.content : undefined;
    const type = inner?.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value ?? '?';
    console.log(`<-- MESSAGE ${req.uri} from ${uriOf(getHeader(req.headers, 'From'))}: ${type}`);
    if (inner && type.startsWith('message/imdn+xml')) {
      const n = parseImdn(inner.body.toString());
      console.log(
        n.ok
          ? `    IMDN ${n.notification.kind}: ${n.notification.status} for ${n.notification.messageId}`
          : `    bad IMDN: ${n.error}`,
      );
      return { status: 200 };
    }
    if (inner) console.log(`    ${inner.body.toString().slice(0, 500)}`);
    if (o.offline) return { status: 480, reason: 'Temporarily Unavailable' };
    if (cpim.ok && !o['no-imdn']) {
      const f = readImdnFields(cpim.message);
      const me = req.uri;
      const sender = f.from ?? uriOf(getHeader(req.headers, 'From'));
      const datetime = f.dateTime?.toISOString() ?? new Date().toISOString();
      if (f.messageId && f.disposition.includes('positive-delivery'))
        setTimeout(() => void sendImdn(ep, me, sender, f.messageId!, datetime, 'delivery'), 1000);
      if (f.messageId && f.disposition.includes('display'))
        setTimeout(() => void sendImdn(ep, me, sender, f.messageId!, datetime, 'display'), 2500);
    }
    return { status: 202 };
  });
  console.log(
    `CPM side listening on ${shown({ host: me!.host, port: ep.port })} (UDP+TCP)${o.offline ? ', every user offline (480)' : ''}; IMDNs go to ${o.iwf}`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void ep.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref(); // a transaction still running does not hold the exit
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
}

async function send() {
  if (!o.to) return fail('send needs --to <tel: or sip: URI>');
  const ep = await endpointOn(me!.host, 0);
  const notify = o.notify
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const id = token();
  const body = serializeCpim(
    buildCpimMessage({
      from: o.from,
      to: o.to,
      dateTime: new Date(),
      imdnMessageId: id,
      disposition: notify as never,
      contentType: 'text/plain; charset=utf-8',
      body: Buffer.from(o.text),
    }),
  );
  const res = await message(ep, o.from, o.to, body);
  console.log(`MESSAGE ${o.to} (imdn.Message-ID ${id}): ${res.status} ${res.reason}`);
  await ep.close();
  process.exitCode = res.status >= 200 && res.status < 300 ? 0 : 1;
}

const command = positionals[0] ?? 'listen';
if (command === 'listen') await listen();
else if (command === 'send') await send();
else {
  fail(`unknown command '${command}' (listen | send)`);
}
