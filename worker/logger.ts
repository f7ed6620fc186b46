import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';

export type Logger = PinoLogger;

/** The root logger: JSON lines on stdout. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'cpm-mms-iwf' }, timestamp: pino.stdTimeFunctions.isoTime });
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
