import { join } from 'node:path';
import { Argument, Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { kmslabHome } from '../../harness/common/paths.js';
import type { CloudControlClient } from '../../cloud/control-client.js';
import { buildProgress, printJson, say, table } from '../output.js';
import { positiveInt } from './lab.js';

const PERMISSIONS = ['encrypt', 'decrypt', 'describe', 'manage'] as const;
const FAULT_KINDS = [
  'throttle',
  'error',
  'latency',
  'hang',
  'reset',
  'tls-failure',
  'unreachable',
  'region-outage',
] as const;

interface Target {
  control?: string;
  name?: string;
}

// The emulator: lab --name's, else --control, else $KMSLAB_CLOUD_CONTROL.
async function client(o: Target): Promise<CloudControlClient> {
  if (o.name !== undefined && o.control !== undefined)
    throw new KmslabError('usage', 'give --name <lab> or --control <socket>, not both');
  const socket = o.name !== undefined ? await labCloudControl(o.name) : (o.control ?? process.env.KMSLAB_CLOUD_CONTROL);
  if (!socket)
    throw new KmslabError(
      'usage',
      'which emulator? pass --name <lab> (a lab started with --cloud), --control <socket> (kmslab cloud serve prints it as controlSocket) or set KMSLAB_CLOUD_CONTROL',
    );
  const { CloudControlClient } = await import('../../cloud/control-client.js');
  return new CloudControlClient(socket);
}

// A lab's emulator, from its record.
async function labCloudControl(name: string): Promise<string> {
  const { readLab } = await import('../../harness/labs/registry.js');
  const lab = await readLab(name);
  if (!lab) throw new KmslabError('not-found', `no lab named "${name}"; kmslab list shows the labs on this machine`);
  if (!lab.kms.cloud)
    throw new KmslabError(
      'usage',
      `lab "${name}" has no cloud behind its plugin; start one with kmslab up --cloud alibaba|aws --name ${name}`,
    );
  return lab.kms.cloud.control;
}

const NAME_HELP = 'the lab whose cloud to drive (started with --cloud)';
const CONTROL_HELP = 'control socket of a standalone emulator (default $KMSLAB_CLOUD_CONTROL)';

function number(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new KmslabError('usage', `${flag} "${value}" is not a number from ${min} to ${max}`);
    return n;
  };
}

function permissions(value: string): (typeof PERMISSIONS)[number][] {
  const list = value.split(',').map((p) => p.trim());
  const bad = list.filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
  if (bad.length || list.length === 0)
    throw new KmslabError('usage', `--permissions "${value}": each of ${PERMISSIONS.join(', ')}, comma-separated`);
  return list as (typeof PERMISSIONS)[number][];
}

function principal(value: string): string {
  if (!/^(user|role):[\w.@-]{1,64}$/.test(value))
    throw new KmslabError(
      'usage',
      `principal "${value}": write user:NAME or role:NAME (e.g. role:AliyunCSManagedSecurityRole)`,
    );
  return value;
}

export function cloudCommands(program: Command): void {
  const cloud = program
    .command('cloud')
    .description(
      'cloud KMS emulators (Alibaba Cloud, AWS: the cloud behind a plugin): serve one, and drive a running one',
    );
  const sub = (name: string, description: string) =>
    cloud
      .command(name)
      .description(description)
      .option('--name <lab>', NAME_HELP)
      .option('--control <socket>', CONTROL_HELP);

  cloud
    .command('serve')
    .description('run a cloud KMS emulator on 127.0.0.1 until SIGTERM or Ctrl-C; prints what SDK clients need')
    .addArgument(new Argument('<cloud>', 'which cloud').choices(['alibaba', 'aws'] as const))
    .option('--state-dir <dir>', 'keys, identities, CA and audit trail persist here (default ~/.kmslab/cloud/<cloud>)')
    .option('--ephemeral', 'keep state in memory only (a restart forgets every key)')
    .option('--region <id>', 'region id (default cn-hangzhou for alibaba, us-east-1 for aws)')
    .option('--port <n>', 'HTTPS port (default: the last one used in the state dir, else any free one)', positiveInt)
    .option('--control <socket>', 'control API socket (default <state dir>/control.sock)')
    .option('--audit <file>', 'audit events as JSON lines (default <state dir>/actiontrail.jsonl or cloudtrail.jsonl)')
    .addOption(
      new Option(
        '--crypto <where>',
        'aws: where key material lives (default local-kms, built by kmslab build --tools)',
      ).choices(['local-kms', 'core'] as const),
    )
    .option('--seed <seed>', 'derive every id, secret and key from this seed (tests only)')
    .option('--json', 'print the connection (endpoint, CA file, region, access keys, role ARN …) as JSON on stdout')
    .action(async (which, o) => {
      if (o.ephemeral && !o.control)
        throw new KmslabError('usage', '--ephemeral needs --control <socket> (there is no state dir to put it in)');
      if (o.crypto && which !== 'aws')
        throw new KmslabError('usage', `--crypto is for aws only; the ${which} emulator keeps its keys itself`);
      const common = {
        ...(o.ephemeral ? {} : { stateDir: o.stateDir ?? join(kmslabHome(), 'cloud', which) }),
        ...(o.region ? { region: o.region } : {}),
        ...(o.port ? { port: o.port } : {}),
        ...(o.control ? { controlSocket: o.control } : {}),
        ...(o.audit ? { auditFile: o.audit } : {}),
        ...(o.seed ? { seed: o.seed } : {}),
      };
      const emulator =
        which === 'aws'
          ? await (
              await import('../../cloud/aws/emulator.js')
            ).AwsEmulator.start({ ...common, crypto: o.crypto ?? 'local-kms' })
          : await (await import('../../cloud/alibaba/emulator.js')).AlibabaEmulator.start(common);
      const c = emulator.connection;
      if (o.json) printJson(c);
      say(
        `${which} KMS emulator on ${c.endpoint} (region ${c.region}, CA ${c.caFile}); key ${c.keyId}; control API on ${c.controlSocket}` +
          (o.json ? '' : `; access keys: kmslab cloud connection --control ${c.controlSocket}`),
      );
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', () => resolve());
        process.once('SIGINT', () => resolve());
      });
      await emulator.close();
      say(`${which} KMS emulator stopped`);
    });

  sub('status', 'keys, identities, grants, faults and call counts of a running emulator')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const s = (await (await client(o)).status()) as {
        endpoint: string;
        keys: { keyId: string; state: string; versions: unknown[]; primaryVersionId: string }[];
        grants: { id: string; principal: string; permissions: string[]; key: string }[];
        faults: { id: string; kind: string; action: string; fired: number }[];
      };
      if (o.json) return printJson(s);
      console.log(`endpoint ${s.endpoint}`);
      console.log(
        table([
          ['KEY', 'STATE', 'VERSIONS', 'PRIMARY VERSION'],
          ...s.keys.map((k) => [k.keyId, k.state, String(k.versions.length), k.primaryVersionId]),
        ]),
      );
      console.log(
        table([
          ['GRANT', 'PRINCIPAL', 'PERMISSIONS', 'KEY'],
          ...s.grants.map((g) => [g.id, g.principal, g.permissions.join(','), g.key]),
        ]),
      );
      if (s.faults.length)
        console.log(
          table([
            ['FAULT', 'KIND', 'ACTION', 'FIRED'],
            ...s.faults.map((f) => [f.id, f.kind, f.action, String(f.fired)]),
          ]),
        );
    });

  sub(
    'connection',
    'what an SDK client needs (endpoint, CA file, region, access keys, role ARN) as JSON; holds secrets',
  ).action(async (o) => printJson(await (await client(o)).connection()));

  sub('grant', 'allow a principal to use a key')
    .addArgument(new Argument('<principal>', 'user:NAME or role:NAME').argParser(principal))
    .requiredOption('--permissions <list>', `comma-separated: ${PERMISSIONS.join(', ')}`, permissions)
    .option('--key <id>', 'a key id, "default" (the key made at first start) or * (every key)', 'default')
    .action(async (who, o) => {
      const c = await client(o);
      const key = o.key === 'default' ? await defaultKey(c) : o.key;
      printJson(await c.grant({ principal: who, permissions: o.permissions, key }));
    });

  sub('revoke', "take a principal's permissions away (all of them, on every key, unless narrowed)")
    .addArgument(new Argument('<principal>', 'user:NAME or role:NAME').argParser(principal))
    .option('--permissions <list>', `comma-separated: ${PERMISSIONS.join(', ')}`, permissions)
    .option('--key <id>', 'only grants on this key ("default", an id, or *)')
    .action(async (who, o) => {
      const c = await client(o);
      const key = o.key === 'default' ? await defaultKey(c) : o.key;
      printJson(
        await c.revoke({
          principal: who,
          ...(o.permissions ? { permissions: o.permissions } : {}),
          ...(key ? { key } : {}),
        }),
      );
    });

  for (const [name, description] of [
    ['disable', 'disable a key: Encrypt and Decrypt with it are refused'],
    ['enable', 'enable a disabled key'],
    ['rotate', 'give a key a new primary version (its key id stays the same)'],
    ['cancel-deletion', 'cancel a scheduled deletion'],
  ] as const) {
    sub(name, description)
      .addArgument(new Argument('[key]', 'key id, or "default"').default('default'))
      .action(async (key, o) => {
        const c = await client(o);
        const act = { disable: c.disable, enable: c.enable, rotate: c.rotate, 'cancel-deletion': c.cancelDeletion }[
          name
        ];
        printJson(await act(key));
      });
  }

  sub('schedule-deletion', 'schedule a key for deletion: unusable now, destroyed when the window ends unless cancelled')
    .addArgument(new Argument('[key]', 'key id, or "default"').default('default'))
    .option('--window <duration>', 'pending window, e.g. 7d or 30s (the cloud API itself allows 7–366 days)', '7d')
    .action(async (key, o) => printJson(await (await client(o)).scheduleDeletion(key, o.window)));

  sub('expire-credentials', 'end temporary (STS) credentials now: of one role or access key, else all')
    .option('--role <name>', 'only sessions of this role')
    .option('--access-key-id <id>', 'only this temporary access key')
    .action(async (o) =>
      printJson(
        await (
          await client(o)
        ).expireCredentials({
          ...(o.role ? { role: o.role } : {}),
          ...(o.accessKeyId ? { accessKeyId: o.accessKeyId } : {}),
        }),
      ),
    );

  sub('session-cap', 'make new temporary credentials last at most this long ("off": as asked)')
    .addArgument(new Argument('<seconds>', 'whole seconds, or off'))
    .action(async (value, o) => {
      const seconds = value === 'off' ? null : number('<seconds>', 1, 43_200)(value);
      printJson(await (await client(o)).capSessions(seconds));
    });

  const fault = cloud.command('fault').description('faults of the emulated cloud: add, list, clear');
  fault
    .command('add')
    .description('add a fault: throttle, error, latency, hang, reset, tls-failure, unreachable, region-outage')
    .addArgument(new Argument('<kind>').choices(FAULT_KINDS))
    .option('--name <lab>', NAME_HELP)
    .option('--control <socket>', CONTROL_HELP)
    .option(
      '--action <names>',
      'API action it applies to (e.g. Decrypt, AssumeRole), several as one fault (Encrypt,Decrypt: one shared --rate), or all',
      'all',
    )
    .option('--count <n>', 'apply to this many requests, then retire', positiveInt)
    .option('--probability <p>', 'apply to each request with this probability', number('--probability', 0, 1))
    .option('--seed <seed>', 'seed of the probability draws')
    .option('--ms <n>', 'latency: milliseconds', number('--ms', 0, 600_000))
    .option('--rate <n>', 'throttle: only requests above this many per second', number('--rate', 0.001, 1e6))
    .option('--status <n>', 'error: HTTP status (400–599, default 500)', number('--status', 400, 599))
    .option('--code <code>', "error: the error code (default the service's internal failure)")
    .option('--message <text>', 'error: the message')
    .action(async (kind, o) => {
      if (kind === 'latency' && o.ms === undefined) throw new KmslabError('usage', 'latency needs --ms <n>');
      const spec = {
        kind,
        action: o.action,
        ...(o.count !== undefined ? { count: o.count } : {}),
        ...(o.probability !== undefined ? { probability: o.probability } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.ms !== undefined ? { ms: o.ms } : {}),
        ...(o.rate !== undefined ? { ratePerSecond: o.rate } : {}),
        ...(o.status !== undefined ? { status: o.status } : {}),
        ...(o.code !== undefined ? { code: o.code } : {}),
        ...(o.message !== undefined ? { message: o.message } : {}),
      };
      printJson(await (await client(o)).addFault(spec as never));
    });
  fault
    .command('list')
    .description('faults in force')
    .option('--name <lab>', NAME_HELP)
    .option('--control <socket>', CONTROL_HELP)
    .action(async (o) => printJson(await (await client(o)).faults()));
  fault
    .command('clear')
    .description('clear one fault, or all (held requests are released)')
    .addArgument(new Argument('[id]', 'fault id (f1, …); all when left out'))
    .option('--name <lab>', NAME_HELP)
    .option('--control <socket>', CONTROL_HELP)
    .action(async (id, o) => printJson(await (await client(o)).clearFaults(id)));

  sub('audit', 'the cloud audit trail (ActionTrail- or CloudTrail-shaped events): who called what, and the answer')
    .option('--action <name>', 'only this API action (eventName)')
    .option('--error-code <code>', 'only calls refused with this code')
    .addOption(new Option('--outcome <o>', 'only successful or only failed calls').choices(['ok', 'error'] as const))
    .option('--principal <p>', 'only calls by user:NAME or role:NAME')
    .option('--key <id>', 'only calls on this key')
    .option('--since <iso>', 'only calls at or after this time')
    .option('--limit <n>', 'only the newest n', positiveInt)
    .option('--json', 'print the events as JSON')
    .action(async (o) => {
      const entries = await (
        await client(o)
      ).audit<{ userIdentity: { type: string; userName?: string } }>({
        ...(o.action ? { action: o.action } : {}),
        ...(o.errorCode ? { errorCode: o.errorCode } : {}),
        ...(o.outcome ? { outcome: o.outcome } : {}),
        ...(o.principal ? { principal: o.principal } : {}),
        ...(o.key ? { keyId: o.key } : {}),
        ...(o.since ? { since: o.since } : {}),
        ...(o.limit ? { limit: o.limit } : {}),
      });
      if (o.json) return printJson(entries.map((e) => e.event));
      console.log(
        table([
          ['TIME', 'EVENT', 'CALLER', 'KEY', 'RESULT'],
          ...entries.map((e) => [
            e.time,
            e.action,
            `${e.event.userIdentity.type}${e.principal ? ` ${e.principal}` : e.event.userIdentity.userName ? ` ${e.event.userIdentity.userName}` : ''}`,
            e.keyId ?? '',
            e.errorCode ?? 'ok',
          ]),
        ]),
      );
    });

  cloud
    .command('plugin-path')
    .description("print the path of kmslab's plugin for a cloud (building it from pinned Go modules the first time)")
    .addArgument(new Argument('<cloud>').choices(['alibaba', 'aws'] as const))
    .action(async (which) => {
      if (which === 'aws') {
        const { awsPlugin } = await import('../../cloud/aws/plugin.js');
        return printJson({ plugin: await awsPlugin(buildProgress()) });
      }
      const { alibabaPlugin } = await import('../../cloud/plugins.js');
      const { plugin, probe } = await alibabaPlugin(buildProgress());
      printJson({ plugin, probe });
    });
}

async function defaultKey(c: CloudControlClient): Promise<string> {
  return ((await c.status()) as { defaultKeyId: string }).defaultKeyId;
}
