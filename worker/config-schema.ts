import { isIP } from 'node:net';
/**
 * A tiny validating reader for the config tree. Every problem is collected with the dotted key
 * that caused it, so one start-up error lists everything wrong at once.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export type Obj = Record<string, unknown>;

export class Reader {
  readonly problems: string[] = [];

  constructor(private readonly root: Obj) {}

  private raw(path: string): unknown {
    let cur: unknown = this.root;
    for (const part of path.split('.')) {
      if (cur === undefined || cur === null) return undefined;
      if (typeof cur !== 'object' || Array.isArray(cur)) return undefined;
      cur = (cur as Obj)[part];
    }
    return cur;
  }

  fail(path: string, msg: string): undefined {
    this.problems.push(`${path}: ${msg}`);
    return undefined;
  }

  /** Reports keys the schema does not know, catching typos such as `mm4.lisen`. */
  unknownKeys(path: string, known: string[]): void {
    const v = path ? this.raw(path) : this.root;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return;
    for (const k of Object.keys(v)) {
      if (!known.includes(k)) this.problems.push(`${path ? `${path}.` : ''}${k}: unknown key`);
    }
  }

  str(path: string, dflt?: string): string | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string' || v.trim() === '') return this.fail(path, 'must be a non-empty string');
    return v.trim();
  }

  reqStr(path: string): string {
    const v = this.str(path);
    if (v === undefined && this.raw(path) === undefined) this.fail(path, 'is required');
    return v ?? '';
  }

  int(path: string, dflt: number, min: number, max: number): number {
    const v = this.raw(path);
    if (v === undefined || v === null) return dflt;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      return this.fail(path, `must be an integer from ${min} to ${max}`) ?? dflt;
    }
    return n;
  }

  /** An integer in range, or undefined when absent. */
  optionalInt(path: string, min: number, max: number): number | undefined {
    return this.raw(path) === undefined ? undefined : this.int(path, min, min, max);
  }

  num(path: string, dflt: number, min: number, max: number): number {
    const v = this.raw(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      return this.fail(path, `must be a number from ${min} to ${max}`) ?? dflt;
    }
    return v;
  }

  bool(path: string, dflt: boolean): boolean {
    const v = this.raw(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    return this.fail(path, 'must be true or false') ?? dflt;
  }

  oneOf<T extends string>(path: string, values: readonly T[], dflt: T): T {
    const v = this.raw(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string' || !values.includes(v as T)) {
      return this.fail(path, `must be one of ${values.join(', ')}`) ?? dflt;
    }
    return v as T;
  }

  /** A duration as milliseconds: a number of ms or a string like `500ms`, `30s`, `5m`, `2h`, `7d`. */
  duration(path: string, dflt: number): number {
    const v = this.raw(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number' && v >= 0 && Number.isFinite(v)) return v;
    const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(v.trim()) : null;
    if (!m) return this.fail(path, 'must be a duration like 500ms, 30s, 5m, 2h or 7d') ?? dflt;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
    return Math.round(Number(m[1]) * unit);
  }

  /** An IPv4 or IPv6 address (no host names: it is bound to). */
  ip(path: string): string | undefined {
    const v = this.str(path);
    if (v === undefined) return undefined;
    return isIP(v) ? v : this.fail(path, `must be an IP address, got '${v}'`);
  }

  /** `host:port` (IPv6 as `[::1]:5060`). */
  hostPort(path: string, dflt?: string): { host: string; port: number } | undefined {
    const v = this.str(path, dflt);
    if (v === undefined) return undefined;
    const parsed = parseHostPort(v);
    return parsed ?? this.fail(path, `must be host:port, got '${v}'`);
  }

  list(path: string): unknown[] {
    const v = this.raw(path);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return this.fail(path, 'must be a list') ?? [];
    return v;
  }

  /**
   * A list of IPs and CIDRs (`10.0.0.0/8`, `::1`), each checked as node:net's BlockList would take
   * it, so a bad entry is named at start instead of throwing on the first connection.
   */
  cidrList(path: string): string[] {
    return this.strList(path).filter((e, i) => {
      const [addr, bits, ...rest] = e.split('/');
      const fam = isIP(addr);
      const max = fam === 6 ? 128 : 32;
      const ok =
        fam !== 0 && rest.length === 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
      if (!ok) this.fail(`${path}[${i}]`, `'${e}' is not an IP address or CIDR`);
      return ok;
    });
  }

  /** A mapping of non-empty strings to non-empty strings (YAML `key: value` lines). */
  strMap(path: string): Record<string, string> {
    const v = this.raw(path);
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) return this.fail(path, 'must be a mapping of key: value') ?? {};
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v as Obj)) {
      if (typeof val === 'string' && val.trim() !== '') out[k] = val.trim();
      else if (typeof val === 'number') out[k] = String(val);
      else this.fail(`${path}.${k}`, 'must be a non-empty string');
    }
    return out;
  }

  strList(path: string): string[] {
    return this.list(path).flatMap((item, i) => {
      if (typeof item === 'string' && item.trim() !== '') return [item.trim()];
      this.fail(`${path}[${i}]`, 'must be a non-empty string');
      return [];
    });
  }
}

export function parseHostPort(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}
