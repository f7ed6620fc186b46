/**
 * SeaweedFS (`weed server -s3`) as the S3-compatible server of the media-store tests: a real,
 * independent implementation of the S3 API, started on loopback with a fresh data directory and
 * its own ports, so parallel test files never share one.
 *
 * `weed` is looked up in the repository's .tools/ (scripts/provision-seaweedfs.sh builds it there)
 * and then on PATH. Without an identity config SeaweedFS lets anonymous requests in and ignores
 * signatures, so any key pair signs. Every step is bounded: the start (until a bucket is created
 * and an object written and read back) and the stop (SIGTERM, then SIGKILL to the process group,
 * also sent when the test process dies).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3MediaOptions } from '../../clients/media-store-s3.js';
import { spawnManaged } from './kamailio.js';
import { freePort } from './ports.js';
import { weedBinary } from './tools.js';

export interface SeaweedFs {
  /** `http://ip:port` of the S3 gateway. */
  endpoint: string;
  bucket: string;
  /** Options for clients/media-store-s3.ts against this server's bucket, under `prefix`. */
  s3(prefix?: string): S3MediaOptions;
  /** stdout + stderr tail. */
  log(): string;
  stop(): Promise<void>;
}

export async function startSeaweedFs(o: { ip?: string; bucket?: string; startTimeoutMs?: number } = {}) {
  const ip = o.ip ?? '127.0.0.7';
  const bucket = o.bucket ?? 'iwf-media';
  const dir = mkdtempSync(join(tmpdir(), 'seaweedfs-'));
  const [s3Port, s3Grpc, masterPort, masterGrpc, volumePort, volumeGrpc, filerPort, filerGrpc] = await Promise.all(
    Array.from({ length: 8 }, () => freePort()),
  );
  const proc = spawnManaged(weedBinary(), [
    'server',
    `-dir=${dir}`,
    `-ip=${ip}`,
    `-ip.bind=${ip}`,
    '-s3',
    `-s3.port=${s3Port}`,
    `-s3.port.grpc=${s3Grpc}`,
    // Iceberg and Lance catalogues have fixed default ports: off, so two servers never collide.
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-master.port=${masterPort}`,
    `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volumePort}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filerPort}`,
    `-filer.port.grpc=${filerGrpc}`,
    // Its default is /tmp/seaweedfs-filer-<port>.sock: into the test's directory, removed with it.
    `-filer.localSocket=${join(dir, 'filer.sock')}`,
    // Small volumes: the default 30 GB limit is meant for a disk of its own, not a test's tmpdir.
    '-master.volumeSizeLimitMB=64',
    // The volume server waits 10 s after SIGTERM by default (for load balancers to notice): none here.
    '-volume.preStopSeconds=0',
  ]);
  const endpoint = `http://${ip}:${s3Port}`;
  const clean = () => {
    rmSync(dir, { recursive: true, force: true });
    // gRPC shortcut sockets weed always puts in /tmp, named by port.
    for (const [name, port] of [
      ['master', masterGrpc],
      ['volume', volumeGrpc],
      ['filer', filerGrpc],
    ] as const)
      rmSync(`/tmp/seaweedfs-${name}-grpc-${port}.sock`, { force: true });
  };
  const stop = async () => {
    // Its data is thrown away: 2 s for a clean exit (the filer's shutdown hooks can take 10), then SIGKILL.
    await proc.stop(2_000);
    clean();
  };
  const end = Date.now() + (o.startTimeoutMs ?? 90_000);
  // Ready when a bucket can be created (the filer is up) and an object written and read back
  // (a volume server has registered with the master): before that, S3 answers 500/503.
  for (;;) {
    if (proc.exited()) {
      const why = `weed server ${proc.exitInfo()}:\n${proc.output().slice(-4000)}`;
      clean();
      throw new Error(why);
    }
    const ok = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' })
      .then(async (r) => {
        // 200 created; 409 BucketAlreadyOwnedByYou on a retry after a timed-out first answer.
        if (!r.ok && r.status !== 409) return false;
        const w = await fetch(`${endpoint}/${bucket}/.ready`, { method: 'PUT', body: 'ok' });
        if (!w.ok) return false;
        const g = await fetch(`${endpoint}/${bucket}/.ready`);
        const okBody = g.ok && (await g.text()) === 'ok';
        if (okBody) await fetch(`${endpoint}/${bucket}/.ready`, { method: 'DELETE' });
        return okBody;
      })
      .catch(() => false);
    if (ok) break;
    if (Date.now() > end) {
      const why = `weed server not ready in time:\n${proc.output().slice(-4000)}`;
      await stop();
      throw new Error(why);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    endpoint,
    bucket,
    s3: (prefix = '') => ({
      endpoint,
      bucket,
      region: 'us-east-1',
      prefix,
      accessKeyId: 'test',
      secretAccessKey: 'test-secret',
      forcePathStyle: true,
    }),
    log: () => proc.output(),
    stop,
  } satisfies SeaweedFs;
}
