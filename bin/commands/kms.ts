import { Argument, Command, Option } from '@commander-js/extra-typings';
import type { KmsControlClient } from '../../fake-kms/control-client.js';
import type { FaultSpec } from '../../fake-kms/index.js';
import {
  GRPC_ERROR_CODES,
  HEALTH_STYLES,
  KMS_METHODS,
  OLD_HEALTH_STYLE_NAMES,
  healthStyleNamed,
} from '../../fake-kms/names.js';
import { KmslabError } from '../../harness/common/errors.js';
import { printJson, say, table } from '../output.js';
import { positiveInt } from './lab.js';

function probability(value: string): number {
  const p = Number(value);
  if (value.trim() === '' || !Number.isFinite(p) || p < 0 || p > 1) {
    throw new KmslabError('usage', `--probability "${value}" is not a number from 0 to 1, e.g. 0.25`);
  }
  return p;
}

interface Target {
  name: string;
  control?: string;
}

// The control socket of a lab's plugin, or the one given with --control (a standalone `fake-kms serve`).
async function client(o: Target): Promise<KmsControlClient> {
  return (await target(o)).client;
}

// What drives the keys: a lab's KMS as its record says, else the standalone fake KMS on --control.
async function target(o: Target) {
  return (await import('../../harness/kms/index.js')).kmsTarget(o);
}

const targetOptions = (c: Command) =>
  c
    .option('--name <name>', 'lab whose plugin to drive', 'default')
    .option('--control <socket>', 'control socket of a standalone plugin');

export function kmsCommands(program: Command): void {
  const kms = program
    .command('kms')
    .description("drive a fake KMS: keys, faults, audit trail (a lab's, or a standalone one)");
  const sub = (name: string, description: string) =>
    targetOptions(kms.command(name).description(description) as unknown as Command);

  const show = (value: unknown) => printJson(value);

  targetOptions(kms.command('status').description('key versions, faults in force, call counts'))
    .option('--json', 'print as JSON')
    .action(async (o: Target & { json?: boolean }) => {
      const t = await target(o);
      if (o.json) return show(await t.client.status());
      const s = await t.kms.status();
      if (!s.versions) {
        // An external plugin behind the proxy: what it reports now, and what kmslab can do with it.
        console.log(`proxy ${s.listening ? 'listening' : 'STOPPED'}; the plugin reports key_id ${s.keyId}`);
        console.log(
          `key lifecycle: ${['rotate', 'disable', 'enable', 'destroy', 'restart'].map((c) => `${c} ${t.kms.capabilities.has(c as never) ? 'yes' : 'no'}`).join(', ')}`,
        );
      } else {
        console.log(
          `plugin ${s.listening ? 'listening' : 'STOPPED'} on ${s.socket}; active key ${s.activeKey}, key_id ${s.keyId}`,
        );
        console.log(
          `health style (Status once the primary is disabled): ${s.disabledKeyStatus}${s.ephemeral ? '; ephemeral (nothing persisted)' : ''}`,
        );
        console.log(
          table([
            ['KEY_ID', 'KEY', 'VERSION', 'STATE', 'PRIMARY'],
            ...s.versions.map((v) => [v.keyId, v.key, String(v.version), v.state, v.primary ? 'yes' : '']),
          ]),
        );
      }
      if (s.faults.length)
        console.log(`faults: ${s.faults.map((f) => `${f.id} ${f.kind} on ${f.method} (fired ${f.fired})`).join('; ')}`);
      console.log(`calls: ${JSON.stringify(s.calls)}`);
    });

  sub('rotate', 'add a key version and make it primary (a new key_id)')
    .option('--key <name>', 'key to rotate (default: the active key)')
    .action(async (o: Target & { key?: string }) => {
      const t = await target(o);
      const v = await t.kms.rotate(o.key);
      show(v);
      say(pickupNote(v.keyId, t.kubeconfig));
    });
  for (const action of ['disable', 'enable', 'destroy'] as const) {
    sub(action, `${action} a key version (key_id, or a version number of the active key)`)
      .argument('<keyId>')
      .action(async (keyId: string, o: Target) => show(await (await target(o)).kms[action](keyId)));
  }
  sub('create-key', 'add a named key (not active until use-key)')
    .argument('<name>')
    .action(async (name: string, o: Target) => show(await (await client(o)).createKey(name)));
  sub('use-key', 'make another key the one Encrypt and Status use')
    .argument('<name>')
    .action(async (name: string, o: Target) => show(await (await client(o)).useKey(name)));
  sub('stop', 'remove the plugin socket: the apiserver sees the plugin gone').action(async (o: Target) =>
    show(await (await client(o)).stopPlugin()),
  );
  sub('start', 'bring the plugin socket back').action(async (o: Target) => show(await (await client(o)).startPlugin()));
  sub('health-style', 'what Status does once the primary is disabled: not-ok-keep-key-id (default) or fail-rpc')
    .alias('disabled-key-status')
    .addArgument(new Argument('<style>').choices([...HEALTH_STYLES, ...Object.keys(OLD_HEALTH_STYLE_NAMES)]))
    .action(async (style: string, o: Target) =>
      show(await (await client(o)).setDisabledKeyStatus(healthStyleNamed(style)!)),
    );

  sub('fault', 'inject a fault: error, latency, hang, healthz, key-id, version, annotations')
    .addArgument(
      new Argument('<kind>').choices([
        'error',
        'latency',
        'hang',
        'healthz',
        'key-id',
        'version',
        'annotations',
      ] as const),
    )
    .addOption(new Option('--method <method>', 'which RPC').choices([...KMS_METHODS, 'all']))
    .addOption(new Option('--code <code>', 'gRPC code for error').choices([...GRPC_ERROR_CODES]))
    .option('--message <text>', 'error message')
    .option('--ms <n>', 'added latency in ms', positiveInt)
    .option('--value <value>', 'healthz / key-id / version value, or annotations as JSON')
    .option('--count <n>', 'apply to this many calls, then retire', positiveInt)
    .option('--probability <p>', 'apply to each call with this probability (0 to 1)', probability)
    .option('--seed <seed>', 'seed for --probability (replayable)')
    .action(async (kind, opts) => {
      const o = opts as Target & Record<string, unknown>;
      const spec: Record<string, unknown> = { kind };
      for (const k of ['method', 'code', 'message', 'ms', 'count', 'probability', 'seed'] as const) {
        if (o[k] !== undefined) spec[k] = o[k];
      }
      if (o.value !== undefined) {
        try {
          spec.value = kind === 'annotations' ? JSON.parse(String(o.value)) : o.value;
        } catch {
          throw new KmslabError('usage', `--value for annotations must be a JSON object, e.g. '{"a.example.com":"x"}'`);
        }
      }
      show(await (await client(o)).addFault(spec as FaultSpec));
    });
  sub('faults', 'list faults in force').action(async (o: Target) => show(await (await client(o)).faults()));
  sub('clear-faults', 'remove every fault (or one by id); held calls are released')
    .argument('[id]')
    .action(async (id: string | undefined, o: Target) => show(await (await client(o)).clearFaults(id)));

  sub('audit', 'the audit trail: one record per KMS call (no plaintext, no key material)')
    .addOption(new Option('--method <method>').choices(KMS_METHODS))
    .option('--since <time>', 'ISO time')
    .option('--until <time>', 'ISO time')
    .option('--code <code>', 'gRPC code, e.g. OK or FAILED_PRECONDITION')
    .option('--limit <n>', 'newest n records', positiveInt)
    .option('--counters', 'per-method, per-code counts instead of records')
    .option('--json', 'print as JSON')
    .action(
      async (
        o: Target & {
          method?: (typeof KMS_METHODS)[number];
          since?: string;
          until?: string;
          code?: string;
          limit?: number;
          counters?: boolean;
          json?: boolean;
        },
      ) => {
        const c = await client(o);
        if (o.counters) return show(await c.counters());
        const records = await c.audit({
          ...(o.method ? { method: o.method } : {}),
          ...(o.since ? { since: o.since } : {}),
          ...(o.until ? { until: o.until } : {}),
          ...(o.code ? { code: o.code } : {}),
          ...(o.limit ? { limit: o.limit } : {}),
        });
        if (o.json) return show(records);
        console.log(
          table([
            ['TIME', 'METHOD', 'CODE', 'KEY_ID', 'MS', 'FAULTS'],
            ...records.map((r) => [r.time, r.method, r.code, r.keyId, r.latencyMs.toFixed(2), r.faults.join(',')]),
          ]),
        );
      },
    );
}

/**
 * pickupNote says when the apiservers start writing with a rotated key: each asks the plugin for Status once a
 * minute, and a health check runs the same probe at once (its result is cached 20 s).
 */
export function pickupNote(keyId: string, kubeconfig?: string): string {
  return [
    `key_id ${keyId}: each kube-apiserver using this plugin picks it up at its next Status call, within a minute;`,
    `a health check makes it sooner: ${kubeconfig ? `KUBECONFIG=${kubeconfig} ` : ''}kubectl get --raw /healthz/kms-providers`,
    'until then new writes still use the old key_id; existing data moves only when rewritten.',
  ].join('\n');
}
