/**
 * The logging side of number masking: one pass over each finished log line (pino's `streamWrite`
 * hook), so the message, the child bindings, every field and nested object are covered at once,
 * whoever logged them (our code, workflow `log` calls through the Temporal runtime logger, the SDK).
 *
 * Working on the serialized JSON is safe: masking only replaces digits with `*` inside an address
 * (model/mask.ts), and an address can only occur inside a JSON string (a JSON number never starts
 * with `+` nor is followed by `/TYPE=PLMN`, RFC 8259 §6), so the line stays valid JSON with the same
 * keys. The work is linear in the line length.
 */
import { maskNumbers } from '../model/mask.js';

export { maskDigits, maskNumbers } from '../model/mask.js';

/** A log line (or any text) with the phone numbers in it masked. */
export function redactLine(line: string): string {
  return maskNumbers(line);
}
