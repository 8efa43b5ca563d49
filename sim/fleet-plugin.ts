import { FleetCalls, type Burst, type CallSink, type FleetMethod } from './fleet-calls.js';

/**
 * PluginStatusCost is what one KMS v2 Status costs a plugin at its cloud KMS: the Encrypt and Decrypt calls it makes
 * to answer it, and how long it reuses an answer instead (0: it asks the cloud on every Status). Encrypt and Decrypt
 * at the socket cost one cloud call each whatever the style; KMS v1 has no Status.
 */
export interface PluginStatusCost {
  encrypt: number;
  decrypt: number;
  cacheMs: number;
}

/** A plugin style by name: its cost per Status, and where that figure comes from (docs/cloud.md). */
export interface PluginStyle extends PluginStatusCost {
  name: string;
  source: string;
}

/** The named styles `kmslab fleet --plugin` knows; the first is the default. */
export const PLUGIN_STYLES: readonly PluginStyle[] = [
  {
    name: 'aws-kmslab',
    encrypt: 1,
    decrypt: 0,
    cacheMs: 0,
    source: "kmslab's aws-kms-plugin: one Encrypt of a probe per Status",
  },
  {
    name: 'ack',
    encrypt: 1,
    decrypt: 1,
    cacheMs: 0,
    source: 'ack-kms-plugin (and kmslab’s alibaba-kms-plugin): Encrypt then Decrypt of "healthcheck" on every Status',
  },
  {
    name: 'aws-encryption-provider',
    encrypt: 1,
    decrypt: 1,
    cacheMs: 30_000,
    source: 'aws-encryption-provider: Encrypt + Decrypt at most once per 30 s (its health check cache)',
  },
  {
    name: 'status-cache',
    encrypt: 0,
    decrypt: 0,
    cacheMs: 0,
    source: 'a plugin answering Status from its own state (dc-tec/openbao-kubernetes-kms): no cloud call',
  },
];

/** The style the model assumes when none is given: one cloud call per Status. */
export const DEFAULT_PLUGIN_STYLE = PLUGIN_STYLES[0]!;

/**
 * pluginStyle reads a style: a name from PLUGIN_STYLES, or a cost written `<encrypts>+<decrypts>` with an optional
 * `/<seconds>` cache (`1+1/30`). Returns a problem to report instead when it cannot.
 */
export function pluginStyle(text: string): PluginStyle | { problem: string } {
  const named = PLUGIN_STYLES.find((s) => s.name === text);
  if (named) return named;
  const m = /^(\d{1,2})\+(\d{1,2})(?:\/(\d{1,5}(?:\.\d+)?))?$/.exec(text.trim());
  if (!m)
    return {
      problem: `--plugin "${text.slice(0, 40)}" is neither a style (${PLUGIN_STYLES.map((s) => s.name).join(', ')}) nor <encrypts>+<decrypts>[/<cache seconds>], e.g. 1+1/30`,
    };
  return {
    name: text.trim(),
    encrypt: Number(m[1]),
    decrypt: Number(m[2]),
    cacheMs: Math.round(Number(m[3] ?? 0) * 1000),
    source: 'given on the command line',
  };
}

/**
 * PluginCloudCalls counts what the fleet's plugins ask their cloud KMS: every Encrypt and Decrypt the apiservers make
 * at a socket is one cloud call; a Status is what the style says, unless that apiserver's plugin answered from its
 * cache. A Status the cloud refuses (an outage) costs one refused call: the plugin stops at its first failure.
 */
export class PluginCloudCalls implements CallSink {
  readonly calls: FleetCalls;
  /** Cloud calls answered for Status, included in `calls`. */
  fromStatus = 0;
  private readonly lastAsked = new Map<number, number>();

  constructor(
    durationMs: number,
    private readonly style: PluginStatusCost,
  ) {
    this.calls = new FleetCalls(durationMs);
  }

  at(timeMs: number, method: FleetMethod, n: number, ok: boolean, apiserver?: number): void {
    if (method !== 'Status') return this.calls.at(timeMs, method, n, ok);
    const { encrypt, decrypt, cacheMs } = this.style;
    let asks = n;
    if (cacheMs > 0 && apiserver !== undefined) {
      const last = this.lastAsked.get(apiserver);
      if (last !== undefined && timeMs - last < cacheMs) return;
      this.lastAsked.set(apiserver, timeMs);
      asks = 1;
    }
    if (!ok) {
      if (encrypt + decrypt > 0) this.calls.at(timeMs, encrypt > 0 ? 'Encrypt' : 'Decrypt', asks, false);
      return;
    }
    if (encrypt > 0) this.calls.at(timeMs, 'Encrypt', asks * encrypt);
    if (decrypt > 0) this.calls.at(timeMs, 'Decrypt', asks * decrypt);
    this.fromStatus += asks * (encrypt + decrypt);
  }

  burst(timeMs: number, method: FleetMethod, n: number, perSecond: number): Burst {
    return this.calls.burst(timeMs, method, n, perSecond);
  }

  spread(fromMs: number, toMs: number, method: FleetMethod, n: number): void {
    this.calls.spread(fromMs, toMs, method, n);
  }

  settle(timeMs: number): void {
    this.calls.settle(timeMs);
  }

  finish(): void {
    this.calls.finish();
  }
}
