import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditActivities } from '../../activities/audit.js';
import { jsonlAuditStore, type AuditRecord } from '../../clients/audit-store.js';
import type { SmtpClient } from '../../clients/smtp.js';
import { cachedCheck, createHealthServer, type CheckResult } from '../../ingress/health.js';
import { filesystemMediaStore } from '../../clients/media-store.js';
import { createMediaServer } from '../../ingress/media-server.js';
import { buildConfig, ConfigError } from '../../worker/config.js';
import { reachableAt, startDevServer } from '../../worker/dev-server.js';
import { cachedStats, countingSmtp, IwfMetrics, mm4TypeOf } from '../../worker/metrics.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { dashboardMetricNames, httpGet, sample, sampleNames } from '../helpers/metrics.js';

test('counters carry bounded labels: values outside their closed set count as other', async (t) => {
  const m = new IwfMetrics({ defaultMetrics: false });
  m.deliveryStarted('mms-to-cpm', 'accepted');
  m.deliveryStarted('mms-to-cpm', 'accepted');
  m.deliveryFinished('cpm-to-mms', 'delivered', 12.5);
  m.deliveryFinished('cpm-to-mms', 'something-new', 1);
  m.sipResponse('received', 'MESSAGE', 202);
  m.sipResponse('sent', 'FOO+12025550100', 405);
  m.sipResponse('local', 'MESSAGE', 408);
  m.mm4Pdu('in', 'MM4_forward.REQ');
  m.mm4Pdu('in', 'X-made-up');
  m.mm4Pdu('in', 'malformed');
  m.ingressRefused('smtp', 'peer_not_allowed');
  m.ingressRefused('sip', '+12025550100 said no');
  m.pushBack('sip', 503, 'overloaded');
  const text = await m.text();
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'mms-to-cpm', result: 'accepted' }), 2);
  t.is(sample(text, 'iwf_deliveries_finished_total', { direction: 'cpm-to-mms', outcome: 'delivered' }), 1);
  t.is(sample(text, 'iwf_deliveries_finished_total', { direction: 'cpm-to-mms', outcome: 'other' }), 1);
  t.is(sample(text, 'iwf_delivery_duration_seconds_count', { direction: 'cpm-to-mms' }), 2);
  t.is(sample(text, 'iwf_delivery_duration_seconds_sum', { direction: 'cpm-to-mms' }), 13.5);
  t.is(sample(text, 'iwf_delivery_duration_seconds_bucket', { direction: 'cpm-to-mms', le: '10' }), 1);
  t.is(sample(text, 'iwf_sip_responses_total', { direction: 'received', method: 'MESSAGE', class: '2xx' }), 1);
  t.is(sample(text, 'iwf_sip_responses_total', { direction: 'sent', method: 'other', class: '4xx' }), 1);
  t.is(sample(text, 'iwf_sip_responses_total', { direction: 'local', method: 'MESSAGE', class: '4xx' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'in', type: 'MM4_forward.REQ' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'in', type: 'other' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'in', type: 'malformed' }), 1);
  t.is(sample(text, 'iwf_ingress_refusals_total', { protocol: 'smtp', reason: 'peer_not_allowed' }), 1);
  t.is(sample(text, 'iwf_ingress_refusals_total', { protocol: 'sip', reason: 'other' }), 1);
  t.is(sample(text, 'iwf_ingress_pushback_total', { protocol: 'sip', code: '503', reason: 'overloaded' }), 1);
  t.false(/12025550100/.test(text), 'no number reaches a label');
});

test('the closed label sets exist at zero before their first event, so rate() sees them', async (t) => {
  const text = await new IwfMetrics({ defaultMetrics: false }).text();
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'cpm-to-mms', result: 'unavailable' }), 0);
  t.is(sample(text, 'iwf_deliveries_finished_total', { direction: 'mms-to-cpm', outcome: 'failed' }), 0);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'out', type: 'MM4_delivery_report.RES' }), 0);
  t.is(sample(text, 'iwf_delivery_duration_seconds_count', { direction: 'mms-to-cpm' }), 0);
});

test('two instances keep their own registries (not the global one)', async (t) => {
  const a = new IwfMetrics({ defaultMetrics: false });
  const b = new IwfMetrics({ defaultMetrics: false });
  a.mm4Pdu('out', 'MM4_forward.RES');
  t.is(sample(await a.text(), 'iwf_mm4_pdus_total', { direction: 'out', type: 'MM4_forward.RES' }), 1);
  t.is(sample(await b.text(), 'iwf_mm4_pdus_total', { direction: 'out', type: 'MM4_forward.RES' }), 0);
});

test('process metrics come under the iwf_ prefix', async (t) => {
  const text = await new IwfMetrics().text();
  t.true(
    sampleNames(text).has('iwf_process_resident_memory_bytes') ||
      sampleNames(text).has('iwf_nodejs_heap_size_used_bytes'),
  );
});

test('gauges read their sources at scrape time: in flight, media objects and bytes', async (t) => {
  const m = new IwfMetrics({ defaultMetrics: false });
  let inFlight = 3;
  let reads = 0;
  m.setSources({ inFlight: () => inFlight, mediaStats: async () => (reads++, { objects: 2, bytes: 2048 }) });
  let text = await m.text();
  t.is(sample(text, 'iwf_deliveries_in_flight'), 3);
  t.is(sample(text, 'iwf_media_store_objects'), 2);
  t.is(sample(text, 'iwf_media_store_bytes'), 2048);
  t.is(reads, 1, 'one store read serves both gauges of a scrape');
  inFlight = 0;
  text = await m.text();
  t.is(sample(text, 'iwf_deliveries_in_flight'), 0);
});

test('a media store that fails to count keeps its last values, and the scrape still answers', async (t) => {
  const m = new IwfMetrics({ defaultMetrics: false });
  let fail = false;
  m.setSources({
    mediaStats: async () => {
      if (fail) throw new Error('bucket gone');
      return { objects: 5, bytes: 500 };
    },
  });
  t.is(sample(await m.text(), 'iwf_media_store_objects'), 5);
  fail = true;
  const text = await m.text();
  t.is(sample(text, 'iwf_media_store_objects'), 5);
  t.is(sample(text, 'iwf_media_store_bytes'), 500);
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'cpm-to-mms', result: 'accepted' }), 0);
});

test('cachedStats reads at most once per max age, by the injected clock', async (t) => {
  let now = 1_000;
  let reads = 0;
  const stats = cachedStats(
    async () => ++reads,
    30_000,
    () => now,
  );
  t.is(await stats(), 1);
  now += 29_999;
  t.is(await stats(), 1);
  now += 1;
  t.is(await stats(), 2);
  const [a, b] = await Promise.all([((now += 30_000), stats()), stats()]);
  t.deepEqual([a, b], [3, 3], 'concurrent callers share one read');
});

test('cachedCheck probes once per ttl and reports a failure with its message', async (t) => {
  let now = 0;
  let calls = 0;
  let fail = false;
  const check = cachedCheck(
    async () => {
      calls++;
      if (fail) throw new Error('connect ECONNREFUSED 127.0.0.1:7233');
    },
    3_000,
    () => now,
  );
  t.deepEqual(await check(), { ok: true });
  fail = true;
  now += 2_999;
  t.deepEqual(await check(), { ok: true }, 'cached');
  now += 1;
  t.deepEqual(await check(), { ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:7233' });
  t.is(calls, 2);
});

test('mm4TypeOf reads X-Mms-Message-Type from the header block only', (t) => {
  const pdu = (type: string, body = '') =>
    Buffer.from(`From: a@b\r\nX-Mms-Message-Type: ${type}\r\nX-Mms-3GPP-MMS-Version: 6.10.0\r\n\r\n${body}`);
  t.is(mm4TypeOf(pdu('MM4_forward.REQ')), 'MM4_forward.REQ');
  t.is(mm4TypeOf(pdu('MM4_delivery_report.RES')), 'MM4_delivery_report.RES');
  t.is(mm4TypeOf(Buffer.from('From: a@b\r\n\r\nX-Mms-Message-Type: MM4_forward.REQ\r\n')), 'other');
});

test('countingSmtp counts a PDU out only once the peer accepted it', async (t) => {
  const m = new IwfMetrics({ defaultMetrics: false });
  let refuse = false;
  const inner: SmtpClient = {
    send: async () => {
      if (refuse) throw new Error('451 try later');
    },
    capabilities: async () => ({
      eightBitMime: false,
      binaryMime: false,
      chunking: false,
      extensions: [],
      known: false,
      at: 0,
    }),
    close: () => {},
  };
  const smtp = countingSmtp(inner, m);
  const raw = Buffer.from('X-Mms-Message-Type: MM4_forward.RES\r\n\r\n');
  await smtp.send({ host: '127.0.0.1', port: 1, from: 'a@b.c', to: ['d@e.f'], raw });
  refuse = true;
  await t.throwsAsync(smtp.send({ host: '127.0.0.1', port: 1, from: 'a@b.c', to: ['d@e.f'], raw }));
  t.is(sample(await m.text(), 'iwf_mm4_pdus_total', { direction: 'out', type: 'MM4_forward.RES' }), 1);
});

const record = (workflowId: string): AuditRecord => ({
  workflowId,
  runId: 'run-1',
  direction: 'mms-to-cpm',
  ids: {},
  outcome: { result: 'delivered', mm4Status: 'Ok', statusText: 'delivered' },
  trail: [],
  startedAt: '2026-01-01T10:00:00.000Z',
  endedAt: '2026-01-01T10:00:04.000Z',
});

test('the audit write counts a finished delivery once, with its duration; a retried write does not count again', async (t) => {
  const m = new IwfMetrics({ defaultMetrics: false });
  const audit = jsonlAuditStore(join(mkdtempSync(join(tmpdir(), 'iwf-metrics-audit-')), 'audit.jsonl'));
  const activities = createAuditActivities({ audit, metrics: m });
  t.is(await activities.writeAuditRecord(record('mmsToCpm-1')), 'written');
  t.is(await activities.writeAuditRecord(record('mmsToCpm-1')), 'exists');
  const text = await m.text();
  t.is(sample(text, 'iwf_deliveries_finished_total', { direction: 'mms-to-cpm', outcome: 'delivered' }), 1);
  t.is(sample(text, 'iwf_delivery_duration_seconds_sum', { direction: 'mms-to-cpm' }), 4);
  await audit.close?.();
});

// ------------------------------------------------------------------------------------------------
// The listener

async function listener(readiness: Record<string, () => CheckResult | Promise<CheckResult>>) {
  const m = new IwfMetrics({ defaultMetrics: false });
  m.deliveryStarted('cpm-to-mms', 'accepted');
  const server = createHealthServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: {
      contentType: m.contentType,
      parts: [
        () => m.text(),
        async () => '# HELP temporal_x An SDK metric\n# TYPE temporal_x counter\ntemporal_x 7',
        () => Promise.reject(new Error('SDK exporter down')),
      ],
    },
    readiness,
  });
  const addr = await server.listen();
  return { server, port: addr.port };
}

test('/metrics serves the registry and the appended parts; a failing part is left out', async (t) => {
  const { server, port } = await listener({});
  t.teardown(() => server.close());
  const r = await httpGet(port, '/metrics');
  t.is(r.status, 200);
  t.regex(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  t.is(sample(r.body, 'iwf_deliveries_started_total', { direction: 'cpm-to-mms', result: 'accepted' }), 1);
  t.is(sample(r.body, 'temporal_x'), 7);
  t.true(r.body.endsWith('\n'));
});

test('/healthz is 200 while /readyz is 503 naming each input that is not ready, then 200', async (t) => {
  let temporal: CheckResult = { ok: false, detail: 'connect ECONNREFUSED' };
  const { server, port } = await listener({
    temporal: () => temporal,
    listeners: () => ({ ok: true }),
    worker: async () => {
      throw new Error('worker FAILED');
    },
  });
  t.teardown(() => server.close());
  t.is((await httpGet(port, '/healthz')).status, 200);
  let r = await httpGet(port, '/readyz');
  t.is(r.status, 503);
  t.deepEqual(JSON.parse(r.body), {
    status: 'not ready',
    notReady: { temporal: 'connect ECONNREFUSED', worker: 'worker FAILED' },
  });
  t.is(r.headers['content-type'], 'application/json');
  temporal = { ok: true };
  r = await httpGet(port, '/readyz');
  t.is(r.status, 503);
  t.deepEqual(Object.keys((JSON.parse(r.body) as { notReady: object }).notReady), ['worker']);
});

test('/readyz is 200 when every input is ok', async (t) => {
  const { server, port } = await listener({ a: () => ({ ok: true }), b: async () => ({ ok: true }) });
  t.teardown(() => server.close());
  const r = await httpGet(port, '/readyz');
  t.is(r.status, 200);
  t.deepEqual(JSON.parse(r.body), { status: 'ready' });
});

test('other paths are 404; methods other than GET and HEAD are 405 with Allow; HEAD has no body', async (t) => {
  const { server, port } = await listener({});
  t.teardown(() => server.close());
  t.is((await httpGet(port, '/')).status, 404);
  t.is((await httpGet(port, '/metrics/extra')).status, 404);
  t.is((await httpGet(port, '/readyz?x=1')).status, 200, 'a query does not change the path');
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const r = await httpGet(port, '/metrics', method);
    t.is(r.status, 405, method);
    t.is(r.headers.allow, 'GET, HEAD');
  }
  const head = await httpGet(port, '/metrics', 'HEAD');
  t.is(head.status, 200);
  t.is(head.body, '');
  t.true(Number(head.headers['content-length']) > 0);
});

test('CONNECT is answered 405, not dropped', async (t) => {
  const { server, port } = await listener({});
  t.teardown(() => server.close());
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write('CONNECT example.net:443 HTTP/1.1\r\nHost: example.net\r\n\r\n'),
    );
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
  t.regex(answer, /^HTTP\/1\.1 405 /);
});

test('every iwf_ metric the Grafana dashboard uses is exported', async (t) => {
  const m = new IwfMetrics();
  m.setSources({ inFlight: () => 0, mediaStats: async () => ({ objects: 0, bytes: 0 }) });
  const exported = sampleNames(await m.text());
  const used = [...dashboardMetricNames()].filter((n) => n.startsWith('iwf_'));
  t.true(used.length >= 8, `the dashboard uses ${used.length} iwf_ metrics`);
  t.deepEqual(
    used.filter((n) => !exported.has(n)),
    [],
  );
});

// ------------------------------------------------------------------------------------------------
// Configuration, the embedded server's address, the media server's download log

test('metrics.enabled and metrics.listen: defaults, values, and a bad value names its key', (t) => {
  const d = buildConfig({}, {});
  t.deepEqual(d.metrics, { enabled: true, listen: { host: '127.0.0.1', port: 9464 } });
  const c = buildConfig({ metrics: { enabled: false, listen: '0.0.0.0:9100' } }, {});
  t.deepEqual(c.metrics, { enabled: false, listen: { host: '0.0.0.0', port: 9100 } });
  t.deepEqual(buildConfig({}, { IWF_METRICS_LISTEN: '127.0.0.2:9999' }).metrics.listen, {
    host: '127.0.0.2',
    port: 9999,
  });
  const bad = t.throws(() => buildConfig({ metrics: { listen: 'nine', enabled: 'yes', extra: 1 } }, {}), {
    instanceOf: ConfigError,
  });
  t.regex(bad.message, /metrics\.listen/);
  t.regex(bad.message, /metrics\.enabled/);
  t.regex(bad.message, /metrics\.extra/);
});

test('temporal.embedded.ip: default 127.0.0.1, an IP, else an error naming the key', (t) => {
  t.is(buildConfig({}, {}).temporal.embedded.ip, '127.0.0.1');
  t.is(buildConfig({ temporal: { embedded: { ip: '0.0.0.0' } } }, {}).temporal.embedded.ip, '0.0.0.0');
  const bad = t.throws(() => buildConfig({ temporal: { embedded: { ip: 'localhost:7233' } } }, {}), {
    instanceOf: ConfigError,
  });
  t.regex(bad.message, /temporal\.embedded\.ip/);
});

test('the embedded server is reached where it binds: a wildcard on loopback, IPv6 bracketed', (t) => {
  t.is(reachableAt('127.0.0.1', 7233), '127.0.0.1:7233');
  t.is(reachableAt('0.0.0.0', 7233), '127.0.0.1:7233');
  t.is(reachableAt('::', 7233), '[::1]:7233');
  t.is(reachableAt('fd00::5', 8233), '[fd00::5]:8233');
  t.is(reachableAt('10.1.2.3', 7233), '10.1.2.3:7233');
});

test('the media server logs each download: id, range, status, bytes', async (t) => {
  const store = filesystemMediaStore(mkdtempSync(join(tmpdir(), 'iwf-metrics-media-')));
  const ref = await store.put(Buffer.from('0123456789'), { contentType: 'image/png', ttlMs: 60_000 });
  const lines: Record<string, unknown>[] = [];
  const server = createMediaServer({
    store,
    listen: { host: '127.0.0.1', port: 0 },
    log: { info: (o, m) => lines.push({ ...o, m }), warn: () => {} },
  });
  const { port } = await server.listen();
  t.teardown(() => server.close());
  const whole = await httpGet(port, `/m/${ref.id}`);
  t.is(whole.body, '0123456789');
  const part = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/m/${ref.id}`, headers: { Range: 'bytes=2-4' } }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(part, '234');
  await httpGet(port, '/m/AAAAAAAAAAAAAAAAAAAAAA');
  await waitFor('three log lines', () => lines.length >= 3 || undefined);
  t.like(lines[0], { m: 'media download', id: ref.id, status: 200, bytes: 10, complete: true, method: 'GET' });
  t.like(lines[1], { id: ref.id, range: 'bytes=2-4', status: 206, bytes: 3 });
  t.like(lines[2], { id: 'AAAAAAAAAAAAAAAAAAAAAA', status: 404, bytes: 0 });
});

test('temporal.embedded.ip is where the embedded server binds, and only there', async (t) => {
  const server = await startDevServer({ ip: '127.0.0.2', port: freePort, namespace: 'default' });
  t.teardown(() => server.stop());
  t.regex(server.address, /^127\.0\.0\.2:\d+$/);
  const port = Number(server.address.split(':')[1]);
  const reach = (host: string) =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  t.true(await reach('127.0.0.2'));
  t.false(await reach('127.0.0.1'), 'not on another loopback address');
});
