import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlibabaConnection, AwsConnection } from '../../cloud/index.js';
import { CloudControlClient } from '../../cloud/control-client.js';
import { formatDuration, parseDuration } from '../common/duration.js';
import { KmslabError } from '../common/errors.js';
import { packageRoot } from '../common/paths.js';
import { shellQuote } from '../common/shell-quote.js';
import { ManagedProcess } from '../process/managed-process.js';
import type { CloudRecord } from './cloud-kms.js';
import { CLOUDS, type CloudName } from './lab-cloud.js';
import type { ExternalPlugin } from './plugin-spec.js';

/** checkCloud reads `--cloud`: a cloud kmslab emulates, or a usage error naming them. */
export function checkCloud(value: string): CloudName {
  if (!(CLOUDS as readonly string[]).includes(value))
    throw new KmslabError('usage', `--cloud ${value}: kmslab emulates ${CLOUDS.join(' and ')}`);
  return value as CloudName;
}

/** Where a lab keeps its cloud: the emulator's state dir, and in it the environment file plugins and hooks source. */
export function cloudFiles(dir: string) {
  const stateDir = join(dir, 'cloud');
  return {
    stateDir,
    control: join(stateDir, 'control.sock'),
    envFile: join(stateDir, 'plugin-env.sh'),
    keyIdFile: join(stateDir, 'key-id'),
  };
}

const ROLE: Record<CloudName, string> = { alibaba: 'AliyunCSManagedSecurityRole', aws: 'kmslab-kms-plugin' };
const ALIAS = 'alias/kmslab';
// What a Status costs kmslab's plugins in cloud calls (docs/cloud.md: ack-kms-plugin's Encrypt + Decrypt of a probe;
// the AWS plugin's one Encrypt of a probe).
const STATUS_CALLS: Record<CloudName, { encrypt: number; decrypt: number }> = {
  alibaba: { encrypt: 1, decrypt: 1 },
  aws: { encrypt: 1, decrypt: 0 },
};
// ack-kms-plugin fetches new temporary credentials every CREDENTIAL_INTERVAL seconds: 480 by default, below 1800.
const ACK_CREDENTIAL_INTERVAL_MS = 480_000;
const ACK_CREDENTIAL_INTERVAL_MAX_MS = 1_799_000;
/** The lab setting that shortens the Alibaba plugin's refresh interval (docs/cloud.md, `cloud-credentials-expire`). */
export const CREDENTIAL_INTERVAL_SETTING = 'KMSLAB_CREDENTIAL_INTERVAL';

/**
 * credentialRefreshMs is how often kmslab's plugin for a cloud fetches new temporary credentials in a lab: for
 * Alibaba ACK's 8 minutes, or `KMSLAB_CREDENTIAL_INTERVAL` (a duration, whole seconds from 1s to 29m59s) so that a
 * scenario waiting for a refresh fits in CI. Undefined for AWS, whose SDK fetches new ones when the old are about to
 * expire or the service says they have. A setting that is not such a duration is a usage error.
 */
export function credentialRefreshMs(cloud: CloudName, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (cloud !== 'alibaba') return undefined;
  const text = env[CREDENTIAL_INTERVAL_SETTING];
  if (text === undefined || text === '') return ACK_CREDENTIAL_INTERVAL_MS;
  const ms = parseDuration(text, {
    what: CREDENTIAL_INTERVAL_SETTING,
    minMs: 1000,
    maxMs: ACK_CREDENTIAL_INTERVAL_MAX_MS,
  });
  if (ms % 1000 !== 0)
    throw new KmslabError(
      'usage',
      `${CREDENTIAL_INTERVAL_SETTING}=${formatDuration(ms)}: the plugin counts whole seconds (CREDENTIAL_INTERVAL); write e.g. 15s`,
    );
  return ms;
}

// Variables that would hand a plugin credentials or trust from outside the lab (this machine sets AWS_CA_BUNDLE).
const FOREIGN = [
  'AWS_PROFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'ALIBABA_CLOUD_ACCESS_KEY_ID',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'ALIBABA_CLOUD_SECURITY_TOKEN',
  'ALIBABA_CLOUD_CREDENTIALS_URI',
  'ALIBABA_CLOUD_ROLE_ARN',
];

/**
 * CloudEmulatorProcess runs a lab's cloud KMS emulator (`kmslab cloud serve`) as a process of the lab: state, CA,
 * credentials files and audit trail in the lab's `cloud/` dir. Once it answers, it writes `plugin-env.sh` (0600):
 * what a plugin needs to reach it, sourced by the plugin's and the hooks' command lines, so a restarted plugin
 * finds it again and no secret is on a command line. The AWS front keeps its key material itself here (no
 * local-kms child: a crashed lab would leave it behind, since only the emulator knows its pid).
 */
export class CloudEmulatorProcess {
  process: ManagedProcess | undefined;
  onSpawn: (() => Promise<void>) | undefined;
  readonly client: CloudControlClient;
  readonly files: ReturnType<typeof cloudFiles>;

  /** The log goes to `logDir` (default the lab's `logs/`). */
  constructor(
    readonly labDir: string,
    readonly cloud: CloudName,
    private readonly logDir = join(labDir, 'logs'),
  ) {
    this.files = cloudFiles(labDir);
    this.client = new CloudControlClient(this.files.control, 10_000);
  }

  get name(): string {
    return `cloud-${this.cloud}`;
  }

  async start(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    await mkdir(this.files.stateDir, { recursive: true, mode: 0o700 });
    this.process = await ManagedProcess.spawn({
      name: this.name,
      command: process.execPath,
      args: [
        join(packageRoot, 'bin/kmslab.js'),
        'cloud',
        'serve',
        this.cloud,
        `--state-dir=${this.files.stateDir}`,
        `--control=${this.files.control}`,
        ...(this.cloud === 'aws' ? ['--crypto=core'] : []),
      ],
      logFile: join(this.logDir, `${this.name}.log`),
    });
    await this.onSpawn?.();
    await this.process.waitUntil(async () => (await this.client.status()) && true, {
      timeoutMs,
      intervalMs: 200,
      what: `the ${this.cloud} emulator's control socket ${this.files.control}`,
      ...(signal ? { signal } : {}),
    });
    await this.writeEnv();
  }

  async stop(): Promise<void> {
    await this.process?.stop(5_000);
  }

  async crash(): Promise<void> {
    await this.process?.kill('SIGKILL');
  }

  /** record is what lab.json keeps of the cloud; the key is the cluster's as the emulator made it. */
  async record(userPlugin: boolean): Promise<CloudRecord> {
    const c = await this.client.connection<{ keyId: string }>();
    // A user's plugin gets the vendor's own variables: ACK's static keys (the cluster's RAM user), AWS's web identity.
    const principal = this.cloud === 'alibaba' && userPlugin ? 'user:kmslab-cluster' : `role:${ROLE[this.cloud]}`;
    const refresh = credentialRefreshMs(this.cloud);
    return {
      name: this.cloud,
      control: this.files.control,
      stateDir: this.files.stateDir,
      principal,
      keyId: c.keyId,
      role: ROLE[this.cloud],
      ...(userPlugin ? {} : { statusCalls: STATUS_CALLS[this.cloud] }),
      ...(userPlugin || !refresh ? {} : { credentialRefreshMs: refresh }),
    };
  }

  private async writeEnv(): Promise<void> {
    const c = (await this.client.connection()) as unknown as AlibabaConnection | AwsConnection;
    if (!existsSync(this.files.keyIdFile)) await writeFile(this.files.keyIdFile, `${c.keyId}\n`, { mode: 0o600 });
    await writeFile(this.files.envFile, pluginEnv(c, this.files), { mode: 0o600 });
  }
}

/** pluginEnv is the shell text that gives a plugin (ours or the user's) and the hooks the emulator's settings. */
export function pluginEnv(c: AlibabaConnection | AwsConnection, files: ReturnType<typeof cloudFiles>): string {
  const secret = c.cloud === 'alibaba' ? c.accessKeySecret : c.secretAccessKey;
  const vars: Record<string, string> = {
    KMSLAB_CLOUD: c.cloud,
    KMSLAB_CLOUD_CONTROL: files.control,
    KMSLAB_CLOUD_ENDPOINT: c.endpoint,
    KMSLAB_CLOUD_STS_ENDPOINT: c.stsEndpoint,
    KMSLAB_CLOUD_CA_FILE: c.caFile,
    KMSLAB_CLOUD_REGION: c.region,
    KMSLAB_CLOUD_KEY_ID: c.keyId,
    KMSLAB_CLOUD_KEY_ARN: c.keyArn,
    KMSLAB_CLOUD_KEY_ID_FILE: files.keyIdFile,
    KMSLAB_CLOUD_ROLE_ARN: c.roleArn,
    KMSLAB_CLOUD_ACCESS_KEY_ID: c.accessKeyId,
    KMSLAB_CLOUD_ACCESS_KEY_SECRET: secret,
    KMSLAB_CLOUD_CREDENTIALS_FILE: c.credentialsFiles.cluster,
    KMSLAB_CLOUD_ADMIN_CREDENTIALS_FILE: c.credentialsFiles.admin,
    ...(c.cloud === 'aws' ? { KMSLAB_CLOUD_ALIAS: c.alias } : {}),
    ...(c.cloud === 'alibaba' ? c.env : c.envWebIdentity),
  };
  return [
    '# kmslab: the cloud emulator behind this lab (sourced by the plugin and the hooks; holds secrets: keep 0600)',
    `unset ${FOREIGN.join(' ')}`,
    ...Object.entries(vars).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    '',
  ].join('\n');
}

/**
 * cloudPlugin is the plugin a cloud lab runs behind the proxy: the user's `--plugin-cmd` (with its hooks), or
 * kmslab's plugin for that cloud calling as the cluster's role, with hooks that act through the cloud's API as its
 * admin. Every command sources the lab's `plugin-env.sh` first.
 */
export async function cloudPlugin(
  cloud: CloudName,
  dir: string,
  user: ExternalPlugin | undefined,
): Promise<ExternalPlugin> {
  const { envFile, control } = cloudFiles(dir);
  const env = (line: string) => `. ${shellQuote(envFile)} && ${line}`;
  if (user) {
    if (!user.command)
      throw new KmslabError(
        'usage',
        '--cloud starts the plugin itself: give --plugin-cmd (it gets the emulator in its environment), not --plugin-socket',
      );
    const hooks = Object.fromEntries(Object.entries(user.hooks ?? {}).map(([k, v]) => [k, env(v)]));
    return { command: env(user.command), hooks };
  }
  const kmslab = `${shellQuote(process.execPath)} ${shellQuote(join(packageRoot, 'bin/kmslab.js'))}`;
  const grant = (key: string) =>
    `${kmslab} cloud grant role:${ROLE[cloud]} --permissions encrypt,decrypt,describe --key ${key} --control ${shellQuote(control)} >/dev/null`;
  const admin = '--credentials-file "$KMSLAB_CLOUD_ADMIN_CREDENTIALS_FILE"';
  if (cloud === 'alibaba') {
    const p = shellQuote((await (await import('../../cloud/plugins.js')).alibabaPlugin()).plugin);
    // On the command line, so that a restarted plugin (kmslab restart plugin) keeps the lab's interval.
    const interval = `export CREDENTIAL_INTERVAL=${credentialRefreshMs(cloud)! / 1000} &&`;
    return {
      command: env(
        `${interval} exec ${p} serve --socket {socket} --key-id-file "$KMSLAB_CLOUD_KEY_ID_FILE" --verify-key-id --credentials-file "$KMSLAB_CLOUD_CREDENTIALS_FILE" --role-arn "$KMSLAB_CLOUD_ROLE_ARN" --sts-endpoint "$KMSLAB_CLOUD_STS_ENDPOINT"`,
      ),
      hooks: {
        // A new key (the plugin reads the key-id file again), which the role may use.
        rotate: env(
          `${p} create-key --key-id-file "$KMSLAB_CLOUD_KEY_ID_FILE" ${admin} >/dev/null && ${grant('"$(cat "$KMSLAB_CLOUD_KEY_ID_FILE")"')}`,
        ),
        disable: env(`${p} disable {keyId} ${admin}`),
        enable: env(`${p} enable {keyId} ${admin}`),
      },
    };
  }
  const p = shellQuote(await (await import('../../cloud/aws/plugin.js')).awsPlugin());
  return {
    command: env(`exec ${p} serve --socket {socket} --alias ${ALIAS}`),
    hooks: {
      // A new key behind the alias (a new key ARN: the plugin's key_id), which the role may use.
      rotate: env(`arn=$(${p} rotate --alias ${ALIAS} ${admin}) && ${grant('"${arn##*/}"')}`),
      disable: env(`${p} disable {keyId} ${admin}`),
      enable: env(`${p} enable {keyId} ${admin}`),
    },
  };
}

/**
 * standaloneCloud starts a cloud emulator for a run that is not one lab — conformance runs the plugin on its own
 * socket and in several labs — and gives the plugin to hold to the rules. Its state (keys, credentials) is in a
 * private temporary dir that `close` removes; only its log goes to `logDir`, which may be kept as an artifact.
 */
export async function standaloneCloud(
  logDir: string,
  cloud: CloudName,
  user: ExternalPlugin | undefined,
): Promise<{ plugin: ExternalPlugin; dir: string; close(): Promise<void> }> {
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(tmpdir(), `kmslab-${cloud}-`));
  const emulator = new CloudEmulatorProcess(dir, cloud, logDir);
  const close = async () => {
    await emulator.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const plugin = await cloudPlugin(cloud, dir, user);
    await emulator.start();
    return { plugin, dir, close };
  } catch (error) {
    await close();
    throw error;
  }
}
