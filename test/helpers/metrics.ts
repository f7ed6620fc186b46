import { readFileSync } from 'node:fs';
import { request } from 'node:http';

/** The value of one sample line (`name{labels} value`) of an exposition text, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/**
 * Every name an exposition text exports: each sample's, and each declared family's (`# TYPE`), with
 * `_bucket`, `_sum` and `_count` for a histogram, so a counter no event has touched yet still counts.
 */
export function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const family = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (family) {
      names.add(family[1]);
      if (family[2] === 'histogram' || family[2] === 'summary')
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(family[1] + suffix);
    } else if (line && !line.startsWith('#')) names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '');
  }
  return names;
}

/** The metric names the dashboard's PromQL expressions use. */
export function dashboardMetricNames(): Set<string> {
  const dash = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  const names = new Set<string>();
  for (const p of dash.panels)
    for (const t of p.targets ?? [])
      for (const m of t.expr.matchAll(/\b(?:iwf|temporal)_[a-zA-Z0-9_]+/g)) names.add(m[0]);
  return names;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One plain HTTP request to a loopback listener. */
export function httpGet(port: number, path: string, method = 'GET', host = '127.0.0.1'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
