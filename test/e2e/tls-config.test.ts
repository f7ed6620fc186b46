/**
 * The TLS keys of the configuration (mm4.tls, mm4.peers[].tls/ca/clientCert/clientKey,
 * sip.tlsListen, sip.tls): PEM files read once at start, relative to the config file, and every
 * problem a ConfigError naming its key (exit 2 from `npm start`).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildConfig, ConfigError } from '../../worker/config.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { testWith } from '../helpers/tools.js';

const test = testWith('openssl');

let pki: TestPki;
test.before(async () => {
  pki = await makeTestPki();
});

const peer = (more: Record<string, unknown> = {}) => ({
  name: 'operator-a',
  domains: ['mms.mnc001.mcc001.gprs'],
  smtp: '127.0.0.1:2526',
  allow: ['127.0.0.1'],
  ...more,
});

/** The problems buildConfig reports for `tree`, relative files read from `baseDir`. */
function problems(tree: Record<string, unknown>, baseDir = pki.dir): string[] {
  try {
    buildConfig(tree, {}, baseDir);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

test('valid material is read once, relative to the config file', (t) => {
  const config = buildConfig(
    {
      mm4: {
        tls: { cert: 'server.crt', key: 'server.key' },
        peers: [peer({ tls: 'required', ca: 'ca.crt', clientCert: 'client.crt', clientKey: 'client.key' })],
      },
      sip: {
        tlsListen: '127.0.0.1:5061',
        transport: 'tls',
        tls: { cert: 'server.crt', key: 'server.key', ca: 'ca.crt' },
      },
    },
    {},
    pki.dir,
  );
  t.is(config.mm4.tls?.cert, pki.server.cert);
  t.is(config.mm4.tls?.key, pki.server.key);
  t.like(config.mm4.peers[0].tls, { mode: 'required', ca: pki.ca.cert, clientCert: pki.client.cert });
  t.deepEqual(config.sip.tlsListen, { host: '127.0.0.1', port: 5061 });
  t.is(config.sip.transport, 'tls');
  t.is(config.sip.tls?.ca, pki.ca.cert);
});

test('a peer without tls is optional; no mm4.tls means no STARTTLS material', (t) => {
  const config = buildConfig({ mm4: { peers: [peer()] } }, {}, pki.dir);
  t.deepEqual(config.mm4.peers[0].tls, { mode: 'optional' });
  t.is(config.mm4.tls, undefined);
  t.is(config.sip.tlsListen, undefined);
});

test('an unreadable, unparsable or mismatched file is named by its key', (t) => {
  const junk = join(pki.dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  t.deepEqual(
    problems({ mm4: { tls: { cert: 'missing.crt', key: 'server.key' } } }).map((p) => p.split(':')[0]),
    ['mm4.tls.cert'],
  );
  t.regex(
    problems({ mm4: { tls: { cert: 'junk.pem', key: 'server.key' } } })[0],
    /^mm4\.tls\.cert: .*no PEM certificate/,
  );
  t.regex(problems({ mm4: { tls: { cert: 'server.crt', key: 'junk.pem' } } })[0], /^mm4\.tls\.key: /);
  t.regex(
    problems({ mm4: { tls: { cert: 'server.crt', key: 'client.key' } } })[0],
    /^mm4\.tls\.key: is not the private key of mm4\.tls\.cert/,
  );
  t.regex(problems({ mm4: { tls: { cert: 'server.crt' } } }).join('\n'), /^mm4\.tls: /m);
  t.regex(problems({ sip: { tls: { ca: 'junk.pem' } } })[0], /^sip\.tls\.ca: /);
});

test('peer TLS keys are checked', (t) => {
  const tls = { tls: { cert: 'server.crt', key: 'server.key' } };
  t.regex(problems({ mm4: { ...tls, peers: [peer({ tls: 'always' })] } })[0], /^mm4\.peers\[0\]\.tls: /);
  t.regex(
    problems({ mm4: { ...tls, peers: [peer({ ca: 'missing.crt' })] } })[0],
    /^mm4\.peers\[0\]\.ca: cannot be read/,
  );
  t.regex(
    problems({ mm4: { ...tls, peers: [peer({ clientCert: 'client.crt' })] } })[0],
    /^mm4\.peers\[0\]\.clientCert: /,
  );
  t.regex(
    problems({ mm4: { ...tls, peers: [peer({ clientCert: 'client.crt', clientKey: 'server.key' })] } })[0],
    /^mm4\.peers\[0\]\.clientKey: is not the private key/,
  );
  t.regex(
    problems({ mm4: { ...tls, peers: [peer({ tls: 'none', ca: 'ca.crt' })] } })[0],
    /^mm4\.peers\[0\]\.tls: none/,
  );
  // Inbound `required` needs a server certificate to offer STARTTLS with.
  t.regex(
    problems({ mm4: { peers: [peer({ tls: 'required' })] } })[0],
    /^mm4\.peers\[0\]\.tls: required: needs mm4\.tls/,
  );
});

test('sip.tlsListen needs sip.tls cert and key; sip.transport takes tls', (t) => {
  t.regex(problems({ sip: { tlsListen: '127.0.0.1:5061' } })[0], /^sip\.tlsListen: needs sip\.tls\.cert/);
  t.regex(problems({ sip: { tlsListen: '127.0.0.1:5061', tls: { ca: 'ca.crt' } } })[0], /^sip\.tlsListen: /);
  t.deepEqual(problems({ sip: { transport: 'tls', tls: { ca: 'ca.crt' } } }), []);
  t.regex(
    problems({ sip: { tls: { cert: 'server.crt', key: 'server.key', pin: 'x' } } })[0],
    /^sip\.tls\.pin: unknown key/,
  );
});

test('npm start with an unreadable certificate exits 2 naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-tls-config-'));
  copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
  const file = join(dir, 'iwf.yaml');
  writeFileSync(file, 'mm4:\n  tls:\n    cert: nowhere.crt\n    key: server.key\n');
  const err = await promisify(execFile)('npx', ['tsx', 'worker/main.ts', '--config', file], {
    cwd: join(import.meta.dirname, '../..'),
    timeout: 60_000,
  }).then(
    () => undefined,
    (e: { code?: number; stderr?: string; stdout?: string }) => e,
  );
  t.is(err?.code, 2);
  t.regex(`${err?.stderr}${err?.stdout}`, /mm4\.tls\.cert: cannot be read/);
});
