/**
 * `npm start`: the whole IWF in one process tree (embedded Temporal unless TEMPORAL_ADDRESS or
 * temporal.address names a cluster). SIGINT/SIGTERM stop it cleanly. `--role all|ingress|worker`
 * (or IWF_ROLE; the flag wins) runs part of it, for several nodes on one cluster (worker/iwf.ts).
 */
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startIwf } from './iwf.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`cpm-mms-iwf: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.log.level, { showNumbers: config.log.showNumbers });
  // Nothing reachable from input may get here; if something does, it is logged with its context
  // and the process ends on purpose (exit 70, EX_SOFTWARE) so a supervisor restarts it, instead of
  // limping on in an unknown state. Durable state is in Temporal, so a restart loses nothing.
  const fatal = (kind: string) => (e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    log.fatal({ kind, error: err.message, stack: err.stack }, 'cpm-mms-iwf: unexpected failure, exiting');
    process.exit(70);
  };
  process.on('uncaughtException', fatal('uncaughtException'));
  process.on('unhandledRejection', fatal('unhandledRejection'));
  const iwf = await startIwf(config, log, {
    onTemporalLost: (reason) => {
      log.fatal({ reason }, 'cpm-mms-iwf: the embedded Temporal server cannot be kept running, exiting');
      process.exit(70);
    },
  });
  const frontEnds = iwf.role !== 'worker';
  const banner = [
    `cpm-mms-iwf is running (role ${iwf.role})`,
    ...(frontEnds ? [`  MM4 (SMTP)  ${iwf.mm4.host}:${iwf.mm4.port}`] : []),
    `  SIP         ${iwf.sip.host}:${iwf.sip.port} (UDP and TCP)${frontEnds ? '' : ', responses only'}, outbound proxy ${config.sip.outboundProxy.host}:${config.sip.outboundProxy.port}/${config.sip.transport}`,
    ...(frontEnds ? [`  Media       http://${iwf.media.host}:${iwf.media.port}`] : []),
    `  Temporal    ${iwf.temporalAddress} namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
    ...(iwf.uiUrl ? [`  Web UI      ${iwf.uiUrl}`] : []),
    ...(iwf.metrics
      ? [`  Metrics     http://${iwf.metrics.host}:${iwf.metrics.port}/metrics (/healthz, /readyz)`]
      : []),
  ];
  process.stderr.write(banner.join('\n') + '\n');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    iwf.stop().then(
      () => process.exit(0),
      (e: Error) => {
        log.error({ error: e.message }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: Error) => {
  // Found only once Temporal is located (an envconfig profile naming a cluster without payload keys).
  if (e instanceof ConfigError) {
    console.error(`cpm-mms-iwf: ${e.message}`);
    process.exit(2);
  }
  console.error(`cpm-mms-iwf: failed to start: ${e.message}`);
  process.exit(1);
});
