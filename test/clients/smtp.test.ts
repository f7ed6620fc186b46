/**
 * The SMTP client toward MMSC peers against a real smtp-server: what the peer's EHLO advertises
 * (SIZE, RFC 1870; 8BITMIME, RFC 6152), the SIZE= and BODY= it sends, a 552 for size, and an
 * envelope that is never split on `;`.
 */
import test from 'ava';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createSmtpClient, parseEhloExtensions, SmtpEnvelopeError, SmtpSendError } from '../../clients/smtp.js';

interface Got {
  mailFrom: string;
  args: Record<string, unknown> | false;
  rcptTo: string[];
  raw: Buffer;
}

async function peer(o: Partial<SMTPServerOptions> = {}) {
  const got: Got[] = [];
  let connections = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    ...o,
    onConnect(_s, cb) {
      connections++;
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        got.push({
          mailFrom: from ? from.address : '',
          args: from ? from.args : false,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)),
  );
  return {
    port,
    got,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const msg = (body = 'hello') =>
  Buffer.from(`From: a@iwf.example\r\nTo: b@mmsc.example\r\nSubject: t\r\n\r\n${body}\r\n`);

test('the EHLO SIZE and 8BITMIME are read once per peer and cached; fresh reads again', async (t) => {
  const p = await peer({ size: 4096 });
  const smtp = createSmtpClient({ heloName: 'iwf.example' });
  try {
    const caps = await smtp.capabilities({ host: '127.0.0.1', port: p.port });
    t.like(caps, { known: true, sizeLimit: 4096, eightBitMime: true, binaryMime: false });
    t.true(caps.extensions.includes('SIZE 4096'));
    await smtp.capabilities({ host: '127.0.0.1', port: p.port });
    t.is(p.connections(), 1, 'cached');
    await smtp.capabilities({ host: '127.0.0.1', port: p.port }, { fresh: true });
    t.is(p.connections(), 2);
  } finally {
    smtp.close();
    await p.close();
  }
});

test('a peer without SIZE or 8BITMIME advertises neither; an unreachable one is unknown', async (t) => {
  const p = await peer({ hide8BITMIME: true });
  const smtp = createSmtpClient({ heloName: 'iwf.example', timeoutMs: 2000 });
  try {
    t.like(await smtp.capabilities({ host: '127.0.0.1', port: p.port }), { known: true, eightBitMime: false });
    t.is((await smtp.capabilities({ host: '127.0.0.1', port: p.port })).sizeLimit, undefined);
    await p.close();
    const gone = await smtp.capabilities({ host: '127.0.0.1', port: p.port }, { fresh: true });
    t.like(gone, { known: false, eightBitMime: false, sizeLimit: undefined });
  } finally {
    smtp.close();
  }
});

test('EHLO lines: SIZE 0 or without a number is no fixed limit (RFC 1870 4)', (t) => {
  t.is(parseEhloExtensions(['SIZE 0', '8BITMIME']).sizeLimit, undefined);
  t.is(parseEhloExtensions(['SIZE']).sizeLimit, undefined);
  t.like(parseEhloExtensions(['size 1000', 'BINARYMIME', 'CHUNKING']), {
    sizeLimit: 1000,
    binaryMime: true,
    chunking: true,
    eightBitMime: false,
  });
});

test('a send declares SIZE= (RFC 1870) and BODY=8BITMIME for an 8bit body (RFC 6152)', async (t) => {
  const p = await peer({ size: 100_000 });
  const smtp = createSmtpClient({ heloName: 'iwf.example' });
  try {
    const raw = msg('Grüße');
    await smtp.send({
      host: '127.0.0.1',
      port: p.port,
      from: 'a@iwf.example',
      to: ['b@mmsc.example'],
      raw,
      body: '8bitmime',
    });
    t.like(p.got[0].args, { SIZE: String(raw.length), BODY: '8BITMIME' });
    await smtp.send({ host: '127.0.0.1', port: p.port, from: 'a@iwf.example', to: ['b@mmsc.example'], raw: msg() });
    t.falsy((p.got[1].args as Record<string, unknown>).BODY);
  } finally {
    smtp.close();
    await p.close();
  }
});

test('a message over the advertised SIZE is refused for its size before DATA', async (t) => {
  const p = await peer({ size: 1000, rejectOversized: true });
  const smtp = createSmtpClient({ heloName: 'iwf.example' });
  try {
    const err = await t.throwsAsync(
      smtp.send({
        host: '127.0.0.1',
        port: p.port,
        from: 'a@iwf.example',
        to: ['b@mmsc.example'],
        raw: msg('x'.repeat(2000)),
      }),
      { instanceOf: SmtpSendError },
    );
    t.true(err.sizeRefused, err.message);
    t.is(p.got.length, 0);
  } finally {
    smtp.close();
    await p.close();
  }
});

test('a peer that hides its SIZE and refuses after DATA answers 552: a size refusal', async (t) => {
  const p = await peer({ size: 1000, hideSize: true, rejectOversized: true });
  const smtp = createSmtpClient({ heloName: 'iwf.example' });
  try {
    const err = await t.throwsAsync(
      smtp.send({
        host: '127.0.0.1',
        port: p.port,
        from: 'a@iwf.example',
        to: ['b@mmsc.example'],
        raw: msg('x'.repeat(2000)),
      }),
      { instanceOf: SmtpSendError },
    );
    t.is(err.responseCode, 552);
    t.true(err.sizeRefused);
    t.is((await smtp.capabilities({ host: '127.0.0.1', port: p.port })).sizeLimit, undefined);
  } finally {
    smtp.close();
    await p.close();
  }
});

test('552 to RCPT TO (too many recipients, RFC 5321 4.5.3.1.10) is no size refusal; 5.3.4 is', (t) => {
  t.false(new SmtpSendError('x', 552, { command: 'RCPT TO', response: '552 too many recipients' }).sizeRefused);
  t.true(new SmtpSendError('x', 554, { command: 'DATA', response: '554 5.3.4 message too big' }).sizeRefused);
  t.false(new SmtpSendError('x', 554, { command: 'DATA', response: '554 5.7.1 no' }).sizeRefused);
});

test('an envelope address that is no mailbox never reaches the peer (no split on `;`)', async (t) => {
  const p = await peer();
  const smtp = createSmtpClient({ heloName: 'iwf.example' });
  try {
    for (const bad of ['system=mmsc.vc.test;party=+12025550100', '+12025550100/TYPE=PLMN', 'a@b.c, d@e.f']) {
      const err = await t.throwsAsync(
        smtp.send({ host: '127.0.0.1', port: p.port, from: 'a@iwf.example', to: [bad], raw: msg() }),
        { instanceOf: SmtpEnvelopeError },
      );
      t.is(err.address, bad);
    }
    t.is(p.got.length, 0);
    t.is(p.connections(), 0);
  } finally {
    smtp.close();
    await p.close();
  }
});
