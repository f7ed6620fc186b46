/**
 * liblinphone (Debian `liblinphone-dev`, 5.1) as a real CPM client in the end-to-end tests, through
 * the small C driver test/peers/linphone-driver.c (compiled once into .tools/, rebuilt when the
 * source is newer than the binary).
 *
 * The client sends text in message/cpim (RFC 3862) in SIP MESSAGE pager mode (RFC 3428), asks for
 * and sends delivery and display notifications (RFC 5438), downloads FT-over-HTTP files on receipt
 * and can upload and send one. Each instance has its own directory (config, SQLite chat database,
 * downloads, log) and binds only its own loopback address.
 *
 * Every wait is bounded; the driver runs in its own process group, is stopped with `quit` (then
 * SIGTERM, then SIGKILL), and is killed when the test process exits.
 */
import { StringDecoder } from 'node:string_decoder';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnManaged, tailLines, type ManagedChild, type SipTransport } from './kamailio.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const LINPHONE_DRIVER_SOURCE = join(REPO, 'test/peers/linphone-driver.c');
export const LINPHONE_DRIVER_BINARY = join(REPO, '.tools/linphone-driver');
const LIBS = ['-llinphone', '-lbctoolbox', '-lmediastreamer', '-lortp', '-lbellesip'];

/** Why the driver cannot be built here (undefined when it can): gcc and liblinphone-dev needed. */
export function linphoneUnavailable(): string | undefined {
  if (spawnSync('gcc', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status !== 0)
    return 'gcc is not installed (apt-get install gcc)';
  if (spawnSync('pkg-config', ['--exists', 'linphone'], { stdio: 'ignore', timeout: 10_000 }).status !== 0)
    return 'liblinphone-dev is not installed (apt-get install liblinphone-dev pkg-config)';
  return undefined;
}

/**
 * Compiles the driver into .tools/linphone-driver unless the binary is newer than the source.
 * Safe when several test processes call it at once (each compiles to its own file, then renames).
 */
export function buildLinphoneDriver(): string {
  const src = statSync(LINPHONE_DRIVER_SOURCE);
  if (existsSync(LINPHONE_DRIVER_BINARY) && statSync(LINPHONE_DRIVER_BINARY).mtimeMs >= src.mtimeMs)
    return LINPHONE_DRIVER_BINARY;
  const why = linphoneUnavailable();
  if (why) throw new Error(`cannot build the linphone driver: ${why}`);
  mkdirSync(dirname(LINPHONE_DRIVER_BINARY), { recursive: true });
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'linphone'], { encoding: 'utf8', timeout: 10_000 });
  const flags = (pc.stdout ?? '').trim().split(/\s+/).filter(Boolean);
  const tmp = `${LINPHONE_DRIVER_BINARY}.${process.pid}.tmp`;
  // pkg-config's linphone.pc (5.1) lists the other libraries but not -llinphone itself.
  const args = ['-O1', '-Wall', '-Wno-deprecated-declarations', '-o', tmp, LINPHONE_DRIVER_SOURCE, ...flags, ...LIBS];
  const cc = spawnSync('gcc', args, { encoding: 'utf8', timeout: 120_000 });
  if (cc.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(
      `gcc ${args.join(' ')} failed (${cc.error?.message ?? `exit ${cc.status}`}):\n${tailLines(cc.stderr ?? '', 40)}`,
    );
  }
  renameSync(tmp, LINPHONE_DRIVER_BINARY);
  return LINPHONE_DRIVER_BINARY;
}

// ---------------------------------------------------------------- events

export type MessageState =
  | 'Idle'
  | 'InProgress'
  | 'Delivered'
  | 'NotDelivered'
  | 'FileTransferError'
  | 'FileTransferDone'
  | 'DeliveredToUser'
  | 'Displayed'
  | 'FileTransferInProgress';

export interface ReceivedContent {
  contentType: string;
  name: string | null;
  size: number;
  isFileTransfer: boolean;
  isFile: boolean;
  text?: string | null;
  path?: string | null;
}

export interface ReceivedFile {
  /** The `data url` of the FT-over-HTTP body. */
  url: string | null;
  name: string | null;
  size: number;
  /** The file's own type (file-info `content-type`). */
  contentType: string | null;
  /** Where the driver downloaded it (absent when the download failed). */
  path?: string;
  /** sha256 (hex) of the downloaded file, added by this wrapper. */
  sha256?: string;
  error?: string;
}

export type LinphoneEvent =
  | { event: 'ready'; host: string; udpPort: number; tcpPort: number; version: string }
  | {
      event: 'reply';
      id: string;
      ok: boolean;
      error?: string;
      ref?: number;
      messageId?: string;
      state?: MessageState;
      unreadRooms?: number;
    }
  | {
      event: 'registration';
      state: 'None' | 'Progress' | 'Ok' | 'Cleared' | 'Failed';
      message: string;
      identity: string | null;
      contact: string | null;
    }
  | { event: 'registered'; identity: string }
  | {
      event: 'message-state';
      ref: number;
      messageId: string | null;
      state: MessageState;
      code?: number;
      reason?: string | null;
    }
  | MessageReceived
  | { event: 'imdn-received'; messageId: string | null; from: string | null; text: string | null }
  | { event: 'error'; message: string }
  | { event: 'log'; level: string; message: string }
  | { event: 'stopped' };

export interface MessageReceived {
  event: 'message-received';
  /** The IMDN Message-ID (RFC 5438 §6.3) or, without CPIM, the SIP Call-ID. */
  messageId: string | null;
  from: string | null;
  to: string | null;
  localAddress: string | null;
  peerAddress: string | null;
  contentType: string | null;
  text: string | null;
  callId: string | null;
  time: number;
  contents: ReceivedContent[];
  file?: ReceivedFile;
}

export interface SentMessage {
  /** The driver's number for the message (message-state events carry it). */
  ref: number;
  messageId: string | null;
}

export interface LinphoneOptions {
  /** The client's own loopback address, e.g. 127.0.0.21. */
  host: string;
  /** Identity: a full URI (sip:+4915...@ims.test;user=phone) or a user part (then sip:user@<proxy host>). */
  user: string;
  /** The proxy (Kamailio): { host, port } or 'host:port'. */
  proxy: { host: string; port: number } | string;
  /** Transport to the proxy (default udp). */
  transport?: SipTransport;
  /** Local SIP ports: -1 random (default), 0 disabled. */
  udpPort?: number;
  tcpPort?: number;
  /** liblinphone log level into <dir>/linphone.log (default warning; env LINPHONE_DRIVER_LOG). */
  logLevel?: 'debug' | 'message' | 'warning' | 'error';
  /** Registration expiry in s (default 600). */
  expires?: number;
  /** Wrap outgoing text in message/cpim (default true); false sends bare text/plain. */
  cpim?: boolean;
  /** Bound on the start (default 20 s). */
  startTimeoutMs?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Only events at or after this index of `events` (default 0: the whole history). */
  since?: number;
  /** Describes what is awaited, for the timeout message. */
  what?: string;
}

export interface Linphone {
  host: string;
  /** The identity URI it registers. */
  identity: string;
  udpPort: number;
  tcpPort: number;
  /** The instance's directory (linphonerc, chat.db, downloads/, linphone.log). */
  dir: string;
  /** Every event so far, in order. */
  events: LinphoneEvent[];
  /** REGISTER at the proxy and wait for 200 (default 10 s). */
  register(timeoutMs?: number): Promise<void>;
  unregister(timeoutMs?: number): Promise<void>;
  /** Sends `text` (any UTF-8) to `to`; resolves once the driver has handed it to liblinphone. */
  send(to: string, text: string): Promise<SentMessage>;
  /** Uploads `path` to the FT-over-HTTP server `ftServerUrl`, then sends the file-info to `to`. */
  sendFile(to: string, path: string, ftServerUrl: string, contentType?: string): Promise<SentMessage>;
  /**
   * Marks the chat with `peer` (or all chats, '*') read: display notifications go out for its
   * unread messages. Resolves with the number of chats that had unread messages.
   */
  markRead(peer?: string): Promise<number>;
  /** Adds a content type the client accepts (e.g. 'image/jpeg'). */
  accept(contentType: string): Promise<void>;
  /** Whether FT-over-HTTP files are downloaded on receipt (default on). */
  autoDownload(on: boolean): Promise<void>;
  /** The first event (from `since`) matching `predicate`; rejects after the timeout (default 15 s). */
  waitFor<E extends LinphoneEvent = LinphoneEvent>(
    predicate: (e: LinphoneEvent) => boolean,
    o?: WaitOptions,
  ): Promise<E>;
  /** The first received message (not IMDN) matching `predicate`. */
  waitForMessage(predicate?: (m: MessageReceived) => boolean, o?: WaitOptions): Promise<MessageReceived>;
  /** Waits until message `sent` has reached `state`; rejects at once on NotDelivered (unless awaited). */
  waitForState(sent: SentMessage | number, state: MessageState, o?: WaitOptions): Promise<void>;
  /** The states message `sent` went through, in order. */
  states(sent: SentMessage | number): MessageState[];
  /** Received messages so far (IMDNs excluded). */
  messages(): MessageReceived[];
  /** Driver stderr and the tail of linphone.log, for diagnostics. */
  log(): string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- the wrapper

const DEFAULT_WAIT = 15_000;

export async function startLinphone(o: LinphoneOptions): Promise<Linphone> {
  const binary = buildLinphoneDriver();
  const dir = mkdtempSync(join(tmpdir(), 'linphone-'));
  const proxy = typeof o.proxy === 'string' ? o.proxy : `${o.proxy.host}:${o.proxy.port}`;
  const proxyHost = proxy.replace(/:\d+$/, '');
  const identity = /^(sip|sips|tel):/.test(o.user) ? o.user : `sip:${o.user}@${proxyHost}`;
  const transport = o.transport ?? 'udp';
  const events: LinphoneEvent[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  // One decoder for the stream: a UTF-8 character split across two chunks stays whole.
  const utf8 = new StringDecoder('utf8');
  const onStdout = (d: Buffer) => {
    partial += utf8.write(d);
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      if (!line) continue;
      let e: LinphoneEvent;
      try {
        e = JSON.parse(line) as LinphoneEvent;
      } catch {
        e = { event: 'error', message: `unparsable driver output: ${line}` };
      }
      events.push(normalize(e));
    }
    for (const l of [...listeners]) l();
  };
  const args = [
    '--dir',
    dir,
    '--host',
    o.host,
    '--udp-port',
    String(o.udpPort ?? -1),
    '--tcp-port',
    String(o.tcpPort ?? -1),
    '--log-level',
    o.logLevel ?? (process.env.LINPHONE_DRIVER_LOG as LinphoneOptions['logLevel']) ?? 'warning',
  ];
  const proc: ManagedChild = spawnManaged(binary, args, { cwd: dir, stdin: true, onStdout });
  proc.child.stdin!.on('error', () => {
    /* the driver is gone; the waits report it */
  });
  proc.child.once('exit', () => listeners.forEach((l) => l()));

  const diag = () => {
    const file = join(dir, 'linphone.log');
    const lib = existsSync(file) ? tailLines(readFileSync(file, 'utf8'), 40) : '';
    return `driver ${proc.exited() ? proc.exitInfo() : 'running'}; stderr:\n${tailLines(proc.output(), 20)}\nlinphone.log:\n${lib}`;
  };

  function waitFor<E extends LinphoneEvent>(predicate: (e: LinphoneEvent) => boolean, w: WaitOptions = {}): Promise<E> {
    const timeoutMs = w.timeoutMs ?? DEFAULT_WAIT;
    let i = w.since ?? 0;
    return new Promise<E>((resolve, reject) => {
      const check = () => {
        for (; i < events.length; i++) {
          if (predicate(events[i])) {
            done();
            resolve(events[i] as E);
            return;
          }
        }
        if (proc.exited()) {
          done();
          reject(new Error(`linphone ${identity}: driver exited while waiting for ${w.what ?? 'an event'}\n${diag()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `linphone ${identity}: timed out after ${timeoutMs} ms waiting for ${w.what ?? 'an event'}; last events:\n${events
              .slice(-8)
              .map((e) => JSON.stringify(e))
              .join('\n')}\n${diag()}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }

  let seq = 0;
  async function command(line: string, timeoutMs = 10_000): Promise<Extract<LinphoneEvent, { event: 'reply' }>> {
    const id = `c${++seq}`;
    const since = events.length;
    if (proc.exited())
      throw new Error(`linphone ${identity}: driver is not running (${line.split(' ')[0]})\n${diag()}`);
    proc.child.stdin!.write(`${id} ${line}\n`);
    const r = await waitFor<Extract<LinphoneEvent, { event: 'reply' }>>((e) => e.event === 'reply' && e.id === id, {
      since,
      timeoutMs,
      what: `the reply to "${line.slice(0, 80)}"`,
    });
    if (!r.ok) throw new Error(`linphone ${identity}: "${line.slice(0, 80)}" failed: ${r.error}`);
    return r;
  }

  const refOf = (s: SentMessage | number) => (typeof s === 'number' ? s : s.ref);
  const states = (s: SentMessage | number) =>
    events
      .filter(
        (e): e is Extract<LinphoneEvent, { event: 'message-state' }> =>
          e.event === 'message-state' && e.ref === refOf(s),
      )
      .map((e) => e.state);

  try {
    const ready = await waitFor<Extract<LinphoneEvent, { event: 'ready' }>>((e) => e.event === 'ready', {
      timeoutMs: o.startTimeoutMs ?? 20_000,
      what: 'the driver to start',
    });
    const peer: Linphone = {
      host: o.host,
      identity,
      udpPort: ready.udpPort,
      tcpPort: ready.tcpPort,
      dir,
      events,
      async register(timeoutMs = 10_000) {
        const since = events.length;
        await command(
          `register ${identity} ${proxy} ${transport} ${o.expires ?? 600}${o.cpim === false ? ' nocpim' : ''}`,
        );
        const r = await waitFor<Extract<LinphoneEvent, { event: 'registration' }>>(
          (e) => e.event === 'registration' && (e.state === 'Ok' || e.state === 'Failed'),
          {
            since,
            timeoutMs,
            what: `registration of ${identity} at ${proxy}/${transport}`,
          },
        );
        if (r.state !== 'Ok')
          throw new Error(`linphone ${identity}: registration at ${proxy}/${transport} failed: ${r.message}`);
      },
      async unregister(timeoutMs = 10_000) {
        const since = events.length;
        await command('unregister');
        await waitFor(
          (e) => e.event === 'registration' && (e.state === 'Cleared' || e.state === 'Failed' || e.state === 'None'),
          { since, timeoutMs, what: `unregistration of ${identity}` },
        );
      },
      async send(to, text) {
        const r = await command(`send64 ${to} ${Buffer.from(text, 'utf8').toString('base64')}`);
        return { ref: r.ref!, messageId: r.messageId ?? null };
      },
      async sendFile(to, path, ftServerUrl, contentType) {
        if (/\s/.test(path) || /\s/.test(ftServerUrl))
          throw new Error('sendFile: path and URL must not contain spaces');
        const r = await command(`sendfile ${to} ${path} ${ftServerUrl}${contentType ? ` ${contentType}` : ''}`);
        return { ref: r.ref!, messageId: r.messageId ?? null };
      },
      async markRead(peerUri = '*') {
        return (await command(`markread ${peerUri}`)).unreadRooms ?? 0;
      },
      async accept(contentType) {
        await command(`accept ${contentType}`);
      },
      async autoDownload(on) {
        await command(`autodownload ${on ? 'on' : 'off'}`);
      },
      waitFor,
      waitForMessage(predicate = () => true, w = {}) {
        return waitFor<MessageReceived>((e) => e.event === 'message-received' && predicate(e), {
          what: 'a received message',
          ...w,
        });
      },
      async waitForState(sent, state, w = {}) {
        const ref = refOf(sent);
        const e = await waitFor<Extract<LinphoneEvent, { event: 'message-state' }>>(
          (x) =>
            x.event === 'message-state' &&
            x.ref === ref &&
            (x.state === state || (x.state === 'NotDelivered' && state !== 'NotDelivered')),
          { what: `message ${ref} to reach ${state}`, ...w },
        );
        if (e.state !== state)
          throw new Error(
            `linphone ${identity}: message ${ref} is NotDelivered (${e.code ?? ''} ${e.reason ?? ''}) while waiting for ${state}; states: ${states(ref).join(' > ')}`,
          );
      },
      states,
      messages: () => events.filter((e): e is MessageReceived => e.event === 'message-received'),
      log: diag,
      async stop() {
        if (!proc.exited()) {
          try {
            proc.child.stdin!.write(`q quit\n`);
            proc.child.stdin!.end();
          } catch {
            /* gone */
          }
          await Promise.race([
            new Promise<void>((r) => proc.child.once('exit', () => r())),
            new Promise((r) => setTimeout(r, 5000)),
          ]);
        }
        await proc.stop(2000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return peer;
  } catch (e) {
    await proc.stop(1000);
    throw e;
  }
}

/** Splits IMDNs off message-received and adds the sha256 of a downloaded file. */
function normalize(e: LinphoneEvent): LinphoneEvent {
  if (e.event !== 'message-received') return e;
  if (e.contentType === 'message/imdn+xml')
    return { event: 'imdn-received', messageId: e.messageId, from: e.from, text: e.text };
  if (e.file?.path && existsSync(e.file.path))
    e.file.sha256 = createHash('sha256').update(readFileSync(e.file.path)).digest('hex');
  return e;
}
