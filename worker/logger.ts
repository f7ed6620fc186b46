import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { redactLine } from './redact.js';

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** `log.showNumbers`: log phone numbers in full. Default: masked (worker/redact.ts). */
  showNumbers?: boolean;
  /** Where the JSON lines go; default stdout. */
  destination?: DestinationStream;
}

/** The root logger: JSON lines on stdout, phone numbers masked unless `showNumbers`. */
export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      base: { svc: 'cpm-mms-iwf' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Once per record, on the finished line: children, workflow and SDK logs all pass here.
      ...(opts.showNumbers ? {} : { hooks: { streamWrite: redactLine } }),
    },
    ...(opts.destination ? [opts.destination] : []),
  );
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Adapts pino (fields first) to Temporal's Logger (message first), so `log` calls from workflows
 * (replay-aware) and the SDK's own messages land in the same JSON stream.
 */
export function temporalLogger(root: Logger): TemporalLogger {
  const emit = (level: LogLevel, message: string, meta?: LogMetadata) => root[LEVELS[level]](meta ?? {}, message);
  return {
    log: emit,
    trace: (m, meta) => emit('TRACE', m, meta),
    debug: (m, meta) => emit('DEBUG', m, meta),
    info: (m, meta) => emit('INFO', m, meta),
    warn: (m, meta) => emit('WARN', m, meta),
    error: (m, meta) => emit('ERROR', m, meta),
  };
}
