import type { KmsMethod, KmsPlugin } from '../fake-kms/index.js';
import type { KmsCapability } from '../harness/lab.js';
import type { CheckBackend } from './backend-checks.js';

/**
 * A conformance check: one rule a KMS v2 plugin must (required) or should (recommended) follow, where the rule comes
 * from, and how to test it. Required: kube-apiserver enforces it, breaking it loses or exposes data, or the
 * Kubernetes docs say "must". Recommended: what the docs say "should" or "aim" for, and practice from gRPC and
 * cryptography.
 */
export interface Check {
  id: string;
  title: string;
  level: 'required' | 'recommended';
  source: string;
  /** Capabilities the check needs (hooks); missing ones make it skipped, with the reason. */
  needs?: KmsCapability[];
  /** Checks this one builds on: when one of them failed or could not run, this one is not run, naming it. */
  after?: string[];
  run(ctx: CheckContext): Promise<Verdict>;
}

/**
 * What a check concluded. A failure says what was seen; `not-run` says which other check's failure kept this one
 * from reaching a verdict (`because`); a pass may carry a note the user should read anyway.
 */
export type Verdict =
  | { outcome: 'passed'; note?: string; evidence?: Record<string, unknown> }
  | { outcome: 'failed'; message: string; evidence?: Record<string, unknown> }
  | { outcome: 'not-run'; because: string; message: string; evidence?: Record<string, unknown> };

/** PluginUnderTest is the plugin as checks call it: the KMS v2 API, and which answers held invalid UTF-8. */
export interface PluginUnderTest extends KmsPlugin {
  /** Answers so far whose string fields were not valid UTF-8 (the client read them leniently, as U+FFFD). */
  readonly invalidUtf8: ReadonlyArray<{ method: KmsMethod; fields: string[] }>;
}

/** The time checks measure and wait in: real time in a run, virtual time in unit tests. */
export interface CheckClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** CheckContext is the plugin under test, its lifecycle hooks, and the shared memory of a run. */
export interface CheckContext {
  /** The plugin's own socket (no proxy, no faults), each call with the apiserver's 3 s timeout. */
  plugin: PluginUnderTest;
  /** Run a key lifecycle hook (rotate, disable, enable); the caller checked it exists. */
  hook(name: 'rotate' | 'disable' | 'enable', keyId: string): Promise<void>;
  /** Restart the plugin (kill and start again, or --restart-cmd); only when `canRestart`. */
  restart(): Promise<void>;
  canRestart: boolean;
  /** Every key_id the plugin reported in this run, in order. */
  seenKeyIds: string[];
  /** How long the plugin may take to show a hook's effect (some plugins cache key state). */
  settleMs: number;
  /** How often a change is polled for while it settles. */
  pollMs: number;
  clock: CheckClock;
  signal?: AbortSignal;
  /** The last enable hook: which key, run by which check. A key that does not serve again is its doing. */
  lastEnable?: { keyId: string; by: string };
  /** The check running now. */
  current: string;
  /** The cloud KMS behind the plugin (`conformance --cloud`), for the backend checks; they need a cloud-* capability. */
  backend?: CheckBackend;
}

/** PluginDeath is how the plugin under test ended: exit code or signal, and the end of its log. */
export interface PluginDeath {
  how: string;
  logFile?: string;
  lastLines: string[];
}

/** PluginDied ends a check at once: a call found the plugin gone (the runner names the death in that check). */
export class PluginDied extends Error {
  constructor(readonly death: PluginDeath) {
    super(`the plugin died (${death.how})`);
    this.name = 'PluginDied';
  }
}

/** Interrupted ends a check at once: the run was stopped (Ctrl-C); its `finally` blocks still run. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

export const pass = (evidence?: Record<string, unknown>, note?: string): Verdict => ({
  outcome: 'passed',
  ...(note ? { note } : {}),
  ...(evidence ? { evidence } : {}),
});

export const fail = (message: string, evidence?: Record<string, unknown>): Verdict => ({
  outcome: 'failed',
  message,
  ...(evidence ? { evidence } : {}),
});

export const notRun = (because: string, message: string, evidence?: Record<string, unknown>): Verdict => ({
  outcome: 'not-run',
  because,
  message,
  ...(evidence ? { evidence } : {}),
});
