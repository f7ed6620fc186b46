/**
 * A stand-in MMSC for trying the IWF by hand: an SMTP listener that prints every MM4 PDU it
 * receives (MM4_forward.RES, reports). `npm run mmsc-sink -- 2526`
 */
import { SMTPServer } from 'smtp-server';

const port = Number(process.argv[2] ?? 2526);
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, cb) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const rcpt = session.envelope.rcptTo.map((r) => r.address).join(', ');
      console.log(`--- MM4 PDU for ${rcpt} at ${new Date().toISOString()}\n${Buffer.concat(chunks).toString('utf8')}`);
      cb();
    });
  },
});
server.listen(port, '127.0.0.1', () => console.log(`MMSC sink listening on 127.0.0.1:${port}`));
