/**
 * A stand-in MMSC for trying the IWF by hand: the tests' SMTP listener, printing every MM4 PDU it
 * receives (MM4_forward.RES, reports). `npm run mmsc-sink -- 2526`
 */
import { startFakeMmsc } from '../test/helpers/mmsc.js';

const { port } = await startFakeMmsc(Number(process.argv[2] ?? 2526), (m) =>
  console.log(`--- ${m.pdu.type} for ${m.to.join(', ')} at ${new Date().toISOString()}\n${m.raw.toString('utf8')}`),
);
console.log(`MMSC sink listening on 127.0.0.1:${port}`);
