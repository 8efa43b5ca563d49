import { request, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { KmslabError } from '../harness/common/errors.js';
import { printable } from '../harness/common/printable.js';
import type { ClusterApi } from './cluster-api.js';

/** The largest answer verify reads (a big cluster's /metrics is a few MiB). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * kubeconfigApi opens a cluster through a kubeconfig file as kubectl would (its context, certificates, tokens and
 * exec credential plugins, through @kubernetes/client-node). Nothing is sent until the first request.
 */
export async function kubeconfigApi(
  file: string,
  context: string | undefined,
  timeoutMs: number,
): Promise<ClusterApi & { server: string; context: string }> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (error) {
    // The parser's first line only: the lines after it quote the file, which holds credentials.
    const why = printable((error as Error).message.split('\n')[0] ?? '', 200);
    throw new KmslabError('usage', `--kubeconfig ${file}: not a kubeconfig kmslab can read (${why})`);
  }
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context))
      throw new KmslabError(
        'usage',
        `--context ${context}: no such context in ${file} (it has ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    kc.setCurrentContext(context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KmslabError('usage', `${file}: its current context names no cluster; pass --context`);
  const server = cluster.server;
  return {
    server,
    context: kc.getCurrentContext(),
    async request(method, path, body) {
      const url = new URL(path, server);
      const options: RequestOptions = { method, timeout: timeoutMs, headers: {} };
      await kc.applyToHTTPSOptions(options);
      const payload = body === undefined ? undefined : JSON.stringify(body);
      options.headers = {
        ...(options.headers as Record<string, string>),
        accept: 'application/json, text/plain',
        ...(payload
          ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
          : {}),
      };
      return new Promise((resolve, reject) => {
        const send = url.protocol === 'http:' ? httpRequest : request;
        const req = send(url, options, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY_BYTES)
              req.destroy(new Error(`${method} ${path}: answer larger than ${MAX_BODY_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}
