/**
 * The stand-ins for trying the IWF by hand (`npm run mmsc`, `npm run cpm-ua`), run as the README
 * runs them: `--listen HOST:PORT` is where they listen, SIGTERM/SIGINT stop them with exit 0, and a
 * port in use is one line on stderr with a non-zero exit, no stack trace.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

const script = (name: string) => fileURLToPath(new URL(`../../scripts/${name}.ts`, import.meta.url));

interface Run {
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with stdout once it matches. */
  waitOut(re: RegExp): Promise<string>;
  kill(signal: NodeJS.Signals): void;
}

function run(name: string, args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', script(name), ...args], { stdio: 'pipe' });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (d: Buffer) => ((out += d.toString()), waiters.forEach((w) => w())));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    exit,
    stdout: () => out,
    stderr: () => err,
    waitOut: (re) =>
      new Promise((resolve, reject) => {
        const check = () => re.test(out) && resolve(out);
        waiters.push(check);
        check();
        void exit.then((e) => reject(new Error(`exited ${e.code ?? e.signal} before ${re}: ${out}${err}`)));
      }),
    kill: (s) => child.kill(s),
  };
}

const occupyTcp = (host: string) =>
  new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(0, host, () => resolve(s));
  });
const portOf = (s: Server) => (s.address() as AddressInfo).port;

/** One line, naming the address and saying it is in use, without a stack frame. */
function assertInUseLine(t: import('ava').ExecutionContext, stderr: string, where: string) {
  const lines = stderr.trim().split('\n');
  t.is(lines.length, 1, stderr);
  t.true(lines[0].includes(where), lines[0]);
  t.regex(lines[0], /already in use/);
  t.notRegex(stderr, /^\s+at /m, 'no stack trace');
}

test('mmsc: a port in use is one line and exit 1', async (t) => {
  const busy = await occupyTcp('127.0.0.1');
  try {
    const where = `127.0.0.1:${portOf(busy)}`;
    const r = run('mmsc', ['--listen', where]);
    const { code } = await r.exit;
    t.is(code, 1);
    assertInUseLine(t, r.stderr(), where);
  } finally {
    busy.close();
  }
});

test('mmsc: listens on the --listen address (not only 127.0.0.1) and stops on SIGTERM with 0', async (t) => {
  const r = run('mmsc', ['--listen', '127.0.0.2:0']);
  const out = await r.waitOut(/listening on 127\.0\.0\.2:(\d+)/);
  const port = Number(/listening on 127\.0\.0\.2:(\d+)/.exec(out)![1]);
  // The SMTP greeting (RFC 5321 4.2) comes from the MMSC behind the address.
  const greeting = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.2');
    s.once('data', (d: Buffer) => (resolve(d.toString()), s.destroy()));
    s.once('error', reject);
  });
  t.regex(greeting, /^220 /);
  r.kill('SIGTERM');
  t.deepEqual(await r.exit, { code: 0, signal: null });
  t.is(r.stderr(), '');
});

test('mmsc: a bad --listen value is a usage error (exit 2), one line', async (t) => {
  const r = run('mmsc', ['--listen', 'localhost']);
  t.is((await r.exit).code, 2);
  t.regex(r.stderr().trim(), /^mmsc: --listen: 'localhost' is not HOST:PORT/);
  t.notRegex(r.stderr(), /^\s+at /m);
});

test('cpm-ua: a TCP or UDP port in use is one line and exit 1', async (t) => {
  const busy = await occupyTcp('127.0.0.1');
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  try {
    for (const port of [portOf(busy), udp.address().port]) {
      const where = `127.0.0.1:${port}`;
      const r = run('cpm-ua', ['listen', '--listen', where]);
      t.is((await r.exit).code, 1);
      assertInUseLine(t, r.stderr(), where);
    }
  } finally {
    busy.close();
    udp.close();
  }
});

test('cpm-ua: listens on the --listen address and stops on SIGINT with 0', async (t) => {
  const r = run('cpm-ua', ['listen', '--listen', '127.0.0.3:0']);
  const out = await r.waitOut(/listening on 127\.0\.0\.3:(\d+)/);
  const port = Number(/listening on 127\.0\.0\.3:(\d+)/.exec(out)![1]);
  // A SIP OPTIONS over UDP gets its 200 from that address (RFC 3261 11.2), sent to the Via (18.2.2).
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const answer = new Promise<string>((resolve) => sock.once('message', (m) => resolve(m.toString())));
  sock.send(
    [
      'OPTIONS sip:ua@127.0.0.3 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK-standin-1`,
      'Max-Forwards: 70',
      'From: <sip:test@127.0.0.1>;tag=1',
      'To: <sip:ua@127.0.0.3>',
      'Call-ID: standin-1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
    '127.0.0.3',
  );
  t.regex(await answer, /^SIP\/2\.0 200 /);
  sock.close();
  r.kill('SIGINT');
  t.deepEqual(await r.exit, { code: 0, signal: null });
  t.is(r.stderr(), '');
});

test('npm run temporal: the provisioned Temporal CLI, its output and exit status passed through', async (t) => {
  const cli = (args: string[]) => {
    const child = spawn(process.execPath, [
      '--import',
      'tsx',
      fileURLToPath(new URL('../../cli/temporal.ts', import.meta.url)),
      ...args,
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise<{ code: number | null; out: string }>((resolve) =>
      child.once('exit', (code) => resolve({ code, out })),
    );
  };
  const version = await cli(['--version']);
  t.is(version.code, 0, version.out);
  t.regex(version.out, /^temporal version \d+\.\d+\.\d+/);
  // Nothing listens on port 1: the CLI's own failure and status.
  const unreachable = await cli(['workflow', 'list', '--address', '127.0.0.1:1']);
  t.not(unreachable.code, 0);
  t.regex(unreachable.out, /127\.0\.0\.1:1/);
});
