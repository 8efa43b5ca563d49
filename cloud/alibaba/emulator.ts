import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom, systemRandom, type Random } from '../../sim/index.js';
import { privateDir } from '../../fake-kms/sockets.js';
import { CloudCore } from '../core/cloud-core.js';
import type { FrontOptions } from '../core/front-options.js';
import type { IdentityNaming } from '../core/identities.js';
import { randomDigits, randomText } from '../core/ids.js';
import { serveCloudControl } from '../control-api.js';
import { serverPki } from '../pki.js';
import type { ActionTrailEvent } from './actiontrail.js';
import type { AlibabaCore, AlibabaFront } from './kms-api.js';
import { AlibabaServer } from './server.js';
import { writePrivate } from '../private-file.js';

/** AlibabaEmulatorOptions: region default cn-hangzhou; ActionTrail events in `<stateDir>/actiontrail.jsonl`. */
export type AlibabaEmulatorOptions = FrontOptions;

/** AlibabaConnection is what any Alibaba Cloud SDK client (or ack-kms-plugin) needs to use the emulator. */
export interface AlibabaConnection {
  cloud: 'alibaba';
  endpoint: string;
  /** host:port for ACK_KMS_DOMAIN and the SDKs' endpoint/domain settings (the scheme is always https). */
  domain: string;
  /** The host name the emulator stands for (in its certificate; map it to 127.0.0.1 to use it). */
  hostName: string;
  region: string;
  caFile: string;
  accountId: string;
  keyId: string;
  keyArn: string;
  /** The cluster's RAM user: may use the key, and may assume the role. */
  accessKeyId: string;
  accessKeySecret: string;
  roleArn: string;
  stsEndpoint: string;
  /** GET it for temporary credentials of the role (ALIBABA_CLOUD_CREDENTIALS_URI). */
  credentialsUri: string;
  admin: { accessKeyId: string; accessKeySecret: string };
  /** The same access keys as files {"accessKeyId","accessKeySecret"} (0600), for --credentials-file. */
  credentialsFiles: { cluster: string; admin: string };
  controlSocket: string;
  stateDir?: string;
  auditFile?: string;
  /** The environment ack-kms-plugin reads. */
  env: Record<string, string>;
}

type Front = AlibabaFront & { credentialsPath: string; port?: number };

/** alibabaNaming spells ids as Alibaba Cloud does: LTAI… access keys, STS.… temporary keys, CAIS… tokens. */
export const alibabaNaming: IdentityNaming = {
  accessKeyId: (r, temporary) => (temporary ? `STS.${randomText(r, 25)}` : `LTAI${randomText(r, 20)}`),
  secret: (r) => randomText(r, 30),
  token: (r) => `CAIS${randomText(r, 300, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}`,
  principalId: (r) => randomDigits(r, 19),
};

export const ADMIN_USER = 'kmslab-admin';
export const CLUSTER_USER = 'kmslab-cluster';
/** The role ACK's managed encryption uses; here the cluster's role. */
export const CLUSTER_ROLE = 'AliyunCSManagedSecurityRole';

/**
 * AlibabaEmulator is a running Alibaba Cloud KMS (and STS) emulator: HTTPS on 127.0.0.1 with a CA of its own, a
 * control API on a private unix socket, state and audit trail on disk. Dispose it (or close) to stop it.
 */
export class AlibabaEmulator implements AsyncDisposable {
  private constructor(
    readonly core: AlibabaCore,
    readonly connection: AlibabaConnection,
    private readonly server: AlibabaServer,
    private readonly control: { close(): Promise<void> },
    private readonly tempDir: string | undefined,
  ) {}

  static async start(o: AlibabaEmulatorOptions = {}): Promise<AlibabaEmulator> {
    const region = o.region ?? 'cn-hangzhou';
    if (!/^[a-z]{2,}(-[a-z0-9]+)+$/.test(region))
      throw new Error(`region ${JSON.stringify(region)} is not a region id such as cn-hangzhou`);
    if (!o.stateDir && !o.controlSocket) throw new Error('give a state dir or a control socket');
    const tempDir = o.stateDir ? undefined : await mkdtemp(join(tmpdir(), 'kmslab-alibaba-'));
    const dir = o.stateDir ?? tempDir!;
    await privateDir(dir);
    const random: Random = o.seed === undefined ? systemRandom : seededRandom(o.seed);
    const now = o.now ?? Date.now;
    const auditFile = o.auditFile ?? (o.stateDir ? join(o.stateDir, 'actiontrail.jsonl') : undefined);
    const core = (await CloudCore.open<ActionTrailEvent, Front>(
      {
        random,
        now,
        naming: alibabaNaming,
        keyRules: { stateAfterCancelledDeletion: 'Enabled' },
        ...(o.stateDir ? { stateDir: o.stateDir } : {}),
        ...(auditFile ? { auditFile } : {}),
      },
      (c) => setUp(c, region, random),
    )) as CloudCore<ActionTrailEvent, Front>;
    const front = core.front;
    if (front.region !== region)
      throw new Error(
        `the state in ${dir} is of region ${front.region}, not ${region}; use --region ${front.region} or another state dir`,
      );
    const names = [
      '127.0.0.1',
      'localhost',
      ...['kms-vpc', 'kms', 'sts-vpc', 'sts'].map((p) => `${p}.${region}.aliyuncs.com`),
    ];
    const pki = await serverPki(join(dir, 'tls'), names);
    const hostName = `kms-vpc.${region}.aliyuncs.com`;
    const server = new AlibabaServer({
      core,
      key: pki.key,
      cert: pki.cert,
      hostName,
      credentialsPath: front.credentialsPath,
      randomBytes: (n) => random.bytes(n),
    });
    const port = await server.listenOn(o.port ?? 0, front.port);
    if (front.port !== port) await core.mutate(() => void (core.front = { ...core.front, port }));
    const domain = `127.0.0.1:${port}`;
    const users = core.identities.snapshot().users;
    const keyOf = (name: string) => users.find((u) => u.name === name)!.accessKeys[0]!;
    const cluster = keyOf(front.clusterUser);
    const admin = keyOf(front.adminUser);
    const credentialsFiles = {
      cluster: join(dir, 'cluster-credentials.json'),
      admin: join(dir, 'admin-credentials.json'),
    };
    await writePrivate(
      credentialsFiles.cluster,
      JSON.stringify({ accessKeyId: cluster.id, accessKeySecret: cluster.secret }),
    );
    await writePrivate(
      credentialsFiles.admin,
      JSON.stringify({ accessKeyId: admin.id, accessKeySecret: admin.secret }),
    );
    const accountId = core.identities.accountId;
    const controlSocket = o.controlSocket ?? join(dir, 'control.sock');
    const connection: AlibabaConnection = {
      cloud: 'alibaba',
      endpoint: `https://${domain}`,
      domain,
      hostName,
      region,
      caFile: pki.caFile,
      accountId,
      keyId: front.defaultKeyId,
      keyArn: `acs:kms:${region}:${accountId}:key/${front.defaultKeyId}`,
      accessKeyId: cluster.id,
      accessKeySecret: cluster.secret,
      roleArn: `acs:ram::${accountId}:role/${front.role}`,
      stsEndpoint: domain,
      credentialsUri: `https://${domain}${front.credentialsPath}`,
      admin: { accessKeyId: admin.id, accessKeySecret: admin.secret },
      credentialsFiles,
      controlSocket,
      ...(o.stateDir ? { stateDir: o.stateDir } : {}),
      ...(auditFile ? { auditFile } : {}),
      env: {
        ACK_KMS_DOMAIN: domain,
        ACK_KMS_REGION_ID: region,
        SSL_CERT_FILE: pki.caFile,
        ACCESS_KEY_ID: cluster.id,
        ACCESS_KEY_SECRET: cluster.secret,
      },
    };
    let control;
    try {
      control = await serveCloudControl(
        {
          core: core as CloudCore<unknown, unknown>,
          connection: () => connection,
          resolveKey: (ref) => (ref === 'default' ? core.front.defaultKeyId : ref),
          describe: () => describe(core, connection),
        },
        controlSocket,
      );
    } catch (error) {
      await server.close();
      throw error;
    }
    return new AlibabaEmulator(core, connection, server, control, tempDir);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.server.close(), this.control.close()]);
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// setUp makes the account at first start: an admin, the cluster's user and role, one key the cluster may use.
function setUp(core: CloudCore<ActionTrailEvent, Front>, region: string, random: Random): Front {
  core.identities.createUser(ADMIN_USER);
  core.identities.createUser(CLUSTER_USER);
  core.identities.createRole(CLUSTER_ROLE, [CLUSTER_USER]);
  const key = core.keys.create('kmslab: the cluster key encryption key');
  core.grants.grant({
    principal: `user:${ADMIN_USER}`,
    permissions: ['encrypt', 'decrypt', 'describe', 'manage'],
    key: '*',
  });
  for (const principal of [`user:${CLUSTER_USER}`, `role:${CLUSTER_ROLE}`])
    core.grants.grant({ principal, permissions: ['encrypt', 'decrypt', 'describe'], key: key.keyId });
  return {
    region,
    adminUser: ADMIN_USER,
    clusterUser: CLUSTER_USER,
    role: CLUSTER_ROLE,
    defaultKeyId: key.keyId,
    credentialsPath: `/kmslab/credentials/${randomText(random, 32)}`,
  };
}

function describe(core: CloudCore<ActionTrailEvent, Front>, c: AlibabaConnection): Record<string, unknown> {
  return {
    cloud: 'alibaba',
    endpoint: c.endpoint,
    region: c.region,
    accountId: c.accountId,
    defaultKeyId: c.keyId,
    ...core.status(),
  };
}
