/**
 * Who is a CPM user. Today a static list from config (`cpm.users`, `cpm.usersFile`): E.164
 * numbers, or prefixes ending in `*`. Behind this interface an HSS/XDMS or capability-cache lookup
 * can replace it without touching the activities.
 */
export interface CpmDirectory {
  isCpmUser(e164: string): Promise<boolean>;
}

export function staticCpmDirectory(entries: string[]): CpmDirectory {
  const norm = (s: string) => (s.startsWith('+') ? s : `+${s}`);
  const exact = new Set(entries.filter((e) => !e.endsWith('*')).map(norm));
  const prefixes = entries.filter((e) => e.endsWith('*')).map((e) => norm(e.slice(0, -1)));
  return {
    async isCpmUser(e164) {
      return exact.has(e164) || prefixes.some((p) => e164.startsWith(p));
    },
  };
}
