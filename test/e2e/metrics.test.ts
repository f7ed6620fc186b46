/**
 * Metrics and health end to end, all real: an IWF with a Temporal dev server, a test MMSC and a
 * SIP peer (test/helpers/rig.ts). An MMS goes through; /metrics shows it (deliveries started and
 * finished, MM4 PDUs in and out, SIP responses, the SDK's own temporal_ metrics); /readyz is 200;
 * then the Temporal server is stopped and /readyz turns 503 naming temporal while /healthz stays 200.
 */
import test from 'ava';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import { forwardReq, sendMm4 } from '../helpers/mmsc.js';
import { dashboardMetricNames, httpGet, sample, sampleNames } from '../helpers/metrics.js';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';
import { startDevServer, type DevServer } from '../../worker/dev-server.js';

let env: Awaited<ReturnType<typeof startMmsToCpmRig>>;
/** The Temporal server started again on the same port by the last test. */
let again: DevServer | undefined;
test.before(async () => {
  env = await startMmsToCpmRig();
});
test.after.always(async () => {
  await env?.stop();
  await again?.stop();
});

const port = () => env.iwf.metrics!.port;
const scrape = async () => (await httpGet(port(), '/metrics')).body;
/** Scrapes until `name{labels}` is at least `atLeast`; answers the text of that scrape. */
const until = (name: string, labels: Record<string, string>, atLeast = 1) =>
  waitFor(`${name}${JSON.stringify(labels)} >= ${atLeast}`, async () => {
    const text = await scrape();
    return (sample(text, name, labels) ?? 0) >= atLeast ? text : undefined;
  });

test.serial('the listener is on the configured loopback address, apart from the front-ends', (t) => {
  const m = env.iwf.metrics;
  if (!m) return t.fail('no metrics listener');
  t.is(m.host, '127.0.0.1');
  t.not(m.port, 0);
  t.not(m.port, 9464, 'tests run on an ephemeral port, never the default');
});

test.serial('/readyz is 200 once Temporal answers, the front-ends listen and the worker polls', async (t) => {
  const r = await waitFor('ready', async () => {
    const a = await httpGet(port(), '/readyz');
    return a.status === 200 ? a : undefined;
  });
  t.deepEqual(JSON.parse(r.body), { status: 'ready' });
});

test.serial('an MMS moves the delivery, MM4 and SIP counters', async (t) => {
  const before = await scrape();
  const started0 = sample(before, 'iwf_deliveries_started_total', { direction: 'mms-to-cpm', result: 'accepted' });
  t.is(started0, 0);
  t.is(sample(before, 'iwf_deliveries_finished_total', { direction: 'mms-to-cpm', outcome: 'delivered' }), 0);

  const sent = await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-metrics', deliveryReport: false }), {
    from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
    to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
  });
  t.true(sent.ok, JSON.stringify(sent));

  // Finished is counted by the audit write at the end of the delivery.
  const text = await until('iwf_deliveries_finished_total', { direction: 'mms-to-cpm', outcome: 'delivered' });
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'mms-to-cpm', result: 'accepted' }), 1);
  t.is(sample(text, 'iwf_deliveries_finished_total', { direction: 'cpm-to-mms', outcome: 'delivered' }), 0);
  t.is(sample(text, 'iwf_delivery_duration_seconds_count', { direction: 'mms-to-cpm' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'in', type: 'MM4_forward.REQ' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'out', type: 'MM4_forward.RES' }), 1);
  t.is(sample(text, 'iwf_sip_responses_total', { direction: 'received', method: 'MESSAGE', class: '2xx' }), 1);
  // The MM4 PDU itself is kept in the media store (claim check); the store is counted every 10 s at most.
  const media = await waitFor(
    'the media store counted',
    async () => {
      const s = await scrape();
      return (sample(s, 'iwf_media_store_objects') ?? 0) >= 1 ? s : undefined;
    },
    25_000,
  );
  t.true((sample(media, 'iwf_media_store_bytes') ?? 0) > 0);
  // Routed, so no longer in flight once the admission gauge has counted again (every second).
  await waitFor('in flight back to 0', async () => sample(await scrape(), 'iwf_deliveries_in_flight') === 0);
  t.false(/12025550|M-metrics/.test(text), 'no number or id in any label');
});

test.serial('SIP answers the IWF sends are counted by method and class', async (t) => {
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  t.teardown(() => ua.close());
  const res = await ua.sendRequest(
    {
      method: 'OPTIONS',
      uri: 'sip:iwf@ims.iwf.example.net',
      headers: [
        { name: 'From', value: '<sip:probe@ims.iwf.example.net>;tag=1' },
        { name: 'To', value: '<sip:iwf@ims.iwf.example.net>' },
        { name: 'Call-ID', value: 'metrics-options-1' },
        { name: 'CSeq', value: '1 OPTIONS' },
      ],
    },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
  );
  t.is(res.status, 200);
  await until('iwf_sip_responses_total', { direction: 'sent', method: 'OPTIONS', class: '2xx' });
  t.pass();
});

test.serial('a CPM message to an MMS user moves the cpm-to-mms counters', async (t) => {
  env.mmsc.answerForwards(env.iwf.mm4.port);
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  t.teardown(() => ua.close());
  const uri = 'tel:+4915112345678';
  const cpim = [
    'From: <sip:anonymous@anonymous.invalid>',
    `To: <${uri}>`,
    'DateTime: 2025-03-04T10:15:02.000Z',
    'NS: imdn <urn:ietf:params:imdn>',
    'imdn.Message-ID: metrics-cpm-1',
    '',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hallo',
  ].join('\r\n');
  const res = await ua.sendRequest(
    {
      method: 'MESSAGE',
      uri,
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=m1' },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: 'metrics-message-1' },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: '<sip:+12025550101@ims.example.net;user=phone>, <tel:+12025550101>' },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body: Buffer.from(cpim),
    },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
  );
  t.is(res.status, 202);
  const text = await until('iwf_deliveries_finished_total', { direction: 'cpm-to-mms', outcome: 'delivered' });
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'cpm-to-mms', result: 'accepted' }), 1);
  t.is(sample(text, 'iwf_delivery_duration_seconds_count', { direction: 'cpm-to-mms' }), 1);
  t.is(sample(text, 'iwf_sip_responses_total', { direction: 'sent', method: 'MESSAGE', class: '2xx' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'out', type: 'MM4_forward.REQ' }), 1);
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'in', type: 'MM4_forward.RES' }), 1);
  t.false(/4915112345678|metrics-cpm-1/.test(text), 'no number or id in any label');
});

test.serial('a refused MM4 connection is counted by reason', async (t) => {
  // 127.0.0.2 is no peer's `allow`: 554 5.7.1 at the greeting (RFC 5321 3.1).
  const sent = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-stranger', deliveryReport: false }),
    { from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs', to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'] },
    '127.0.0.2',
  );
  t.false(sent.ok);
  const text = await until('iwf_ingress_refusals_total', { protocol: 'smtp', reason: 'peer_not_allowed' });
  t.is(sample(text, 'iwf_mm4_pdus_total', { direction: 'in', type: 'MM4_forward.REQ' }), 1, 'never read');
});

test.serial("the Temporal SDK's worker metrics are on the same endpoint", async (t) => {
  const text = await waitFor('temporal_ metrics', async () => {
    const s = await scrape();
    return /^temporal_\w+/m.test(s) ? s : undefined;
  });
  const names = [...sampleNames(text)].filter((n) => n.startsWith('temporal_'));
  t.true(names.length > 5, names.join(' '));
  t.true(
    names.some((n) => n.startsWith('temporal_worker_task_slots')),
    names.join(' '),
  );
});

test.serial('every metric the Grafana dashboard uses is exported by /metrics', async (t) => {
  const exported = sampleNames(await scrape());
  const used = [...dashboardMetricNames()];
  t.true(
    used.some((n) => n.startsWith('temporal_')),
    'the dashboard shows SDK metrics too',
  );
  t.deepEqual(
    used.filter((n) => !exported.has(n)),
    [],
  );
});

test.serial('Temporal stopped: /readyz is 503 naming temporal, /healthz still 200', async (t) => {
  await env.temporal.stop();
  const r = await waitFor(
    'unready',
    async () => {
      const a = await httpGet(port(), '/readyz');
      return a.status === 503 ? a : undefined;
    },
    20_000,
  );
  const body = JSON.parse(r.body) as { status: string; notReady: Record<string, string> };
  t.is(body.status, 'not ready');
  t.truthy(body.notReady.temporal, r.body);
  t.is((await httpGet(port(), '/healthz')).status, 200);
  t.is((await httpGet(port(), '/metrics')).status, 200, 'metrics are still served');
  // A new MMS meanwhile is pushed back (451, the MMSC retries) and counted as such.
  const sent = await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-metrics-later', deliveryReport: false }), {
    from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
    to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
  });
  t.like(sent, { ok: false, code: 451 });
  const text = await until('iwf_ingress_pushback_total', { protocol: 'smtp', code: '451', reason: 'unavailable' });
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'mms-to-cpm', result: 'unavailable' }), 1);
});

test.serial('Temporal back on its address: /readyz is 200 again', async (t) => {
  const temporalPort = Number(/:(\d+)$/.exec(env.temporal.address)?.[1]);
  again = await startDevServer({ port: temporalPort, namespace: 'default' });
  const r = await waitFor(
    'ready again',
    async () => {
      const a = await httpGet(env.iwf.metrics!.port, '/readyz');
      return a.status === 200 ? a : undefined;
    },
    60_000,
  );
  t.deepEqual(JSON.parse(r.body), { status: 'ready' });
  // And deliveries flow again (this also lets every connection recover before the IWF stops).
  await waitFor(
    'an MMS taken again',
    async () => {
      const sent = await sendMm4(
        env.iwf.mm4.port,
        forwardReq({ messageId: 'M-metrics-again', deliveryReport: false }),
        {
          from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
          to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
        },
      );
      return sent.ok || undefined;
    },
    60_000,
  );
  const text = await until('iwf_deliveries_finished_total', { direction: 'mms-to-cpm', outcome: 'delivered' }, 2);
  t.is(sample(text, 'iwf_deliveries_started_total', { direction: 'mms-to-cpm', result: 'accepted' }), 2);
});
