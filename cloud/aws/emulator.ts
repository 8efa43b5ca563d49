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
import { writePrivate } from '../private-file.js';
import { roleArn, WEB_IDENTITY, type CloudTrailEvent } from './cloudtrail.js';
import { coreCrypto, type KeyCrypto } from './key-crypto.js';
import { keyArn, resolveKey, type AwsCore, type AwsFront } from './kms-api.js';
import { LocalKms } from './local-kms.js';
import { AwsServer } from './server.js';
import { issueWebIdentityToken } from './web-identity.js';

/**
 * AwsEmulatorOptions: region default us-east-1; CloudTrail events in `<stateDir>/cloudtrail.jsonl`; without a state
 * dir, a temp dir removed on close (local-kms needs a directory).
 */
export interface AwsEmulatorOptions extends FrontOptions {
  /**
   * Where key material lives: `local-kms` (default; github.com/nsmithuk/local-kms, built by `kmslab build --tools`)
   * or `core` (the emulator's own store, no extra process). Fixed when the state is first made.
   */
  crypto?: 'local-kms' | 'core';
  /** The local-kms binary (default: found or built like every component, `KMSLAB_LOCAL_KMS` overrides). */
  localKmsBinary?: string;
  /** The subject of the web identity tokens (an IRSA ServiceAccount); default the kube-system plugin's. */
  webIdentitySubject?: string;
}

/** AwsConnection is what an AWS SDK client (or aws-encryption-provider) needs to use the emulator. */
export interface AwsConnection {
  cloud: 'aws';
  /** The KMS endpoint (AWS_ENDPOINT_URL_KMS, --kms-endpoint); STS and the credentials endpoint share it. */
  endpoint: string;
  stsEndpoint: string;
  region: string;
  caFile: string;
  accountId: string;
  keyId: string;
  keyArn: string;
  /** An alias of the key (kmslab's aws-kms-plugin names its key by an alias). */
  alias: string;
  /** The cluster's IAM user: may use the key, and may assume the role. */
  accessKeyId: string;
  secretAccessKey: string;
  roleArn: string;
  /** A web identity token for the role (IRSA), refreshed while the emulator runs (AWS_WEB_IDENTITY_TOKEN_FILE). */
  webIdentityTokenFile: string;
  /** The container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) and its token: sessions of the role. */
  containerCredentialsUri: string;
  containerAuthorizationToken: string;
  admin: { accessKeyId: string; secretAccessKey: string };
  /** The same keys as JSON files {"accessKeyId","secretAccessKey"} (0600), for aws-kms-plugin --credentials-file. */
  credentialsFiles: { cluster: string; admin: string };
  /** An AWS shared credentials file with profiles `cluster` and `admin` (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE). */
  sharedCredentialsFile: string;
  controlSocket: string;
  stateDir?: string;
  auditFile?: string;
  /** The environment aws-encryption-provider (or any AWS SDK client) reads, with the cluster user's static keys. */
  env: Record<string, string>;
  /** The same, but credentials from the web identity token (AssumeRoleWithWebIdentity, as on EKS with IRSA). */
  envWebIdentity: Record<string, string>;
  /** The same, but credentials from the container credentials endpoint (as on EKS Pod Identity or ECS). */
  envContainerCredentials: Record<string, string>;
}

/** awsNaming spells ids as AWS does: AKIA… keys, ASIA… temporary keys, AROA…/AIDA… principals, 12-digit accounts. */
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SECRET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
export const awsNaming: IdentityNaming = {
  accessKeyId: (r, temporary) => `${temporary ? 'ASIA' : 'AKIA'}${randomText(r, 16, UPPER)}`,
  secret: (r) => randomText(r, 40, SECRET),
  token: (r) => `IQoJb3JpZ2luX2Vj${randomText(r, 340, SECRET)}`,
  principalId: (r) => `AROA${randomText(r, 17, UPPER)}`,
  userId: (r) => `AIDA${randomText(r, 17, UPPER)}`,
  accountId: (r) => randomDigits(r, 12),
};

export const AWS_ADMIN_USER = 'kmslab-admin';
export const AWS_CLUSTER_USER = 'kmslab-cluster';
/** The role the cluster's KMS plugin runs as (on EKS: the IRSA or Pod Identity role of the plugin). */
export const AWS_CLUSTER_ROLE = 'kmslab-kms-plugin';
const ALIAS = 'kmslab';
const DEFAULT_SUBJECT = 'system:serviceaccount:kube-system:aws-encryption-provider';

/**
 * AwsEmulator is a running AWS KMS (and STS) front: HTTPS on 127.0.0.1 with a CA of its own, identities, grants,
 * faults and a CloudTrail-shaped audit trail over the cloud core, key material in local-kms; a control API on a private
 * unix socket. Dispose it (or close) to stop it and everything it started.
 */
export class AwsEmulator implements AsyncDisposable {
  private constructor(
    readonly core: AwsCore,
    readonly connection: AwsConnection,
    private readonly parts: { close(): Promise<void> }[],
    private readonly tempDir: string | undefined,
  ) {}

  static async start(o: AwsEmulatorOptions = {}): Promise<AwsEmulator> {
    const region = o.region ?? 'us-east-1';
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
      throw new Error(`region ${JSON.stringify(region)} is not an AWS region id such as us-east-1`);
    if (!o.stateDir && !o.controlSocket) throw new Error('give a state dir or a control socket');
    const tempDir = o.stateDir ? undefined : await mkdtemp(join(tmpdir(), 'kmslab-aws-'));
    const dir = o.stateDir ?? tempDir!;
    const started: { close(): Promise<void> }[] = [];
    try {
      await privateDir(dir);
      const random: Random = o.seed === undefined ? systemRandom : seededRandom(o.seed);
      const now = o.now ?? Date.now;
      const auditFile = o.auditFile ?? (o.stateDir ? join(o.stateDir, 'cloudtrail.jsonl') : undefined);
      const crypto = o.crypto ?? 'local-kms';
      const core = await CloudCore.open<CloudTrailEvent, AwsFront>(
        {
          random,
          now,
          naming: awsNaming,
          keyRules: { stateAfterCancelledDeletion: 'Disabled', materialOutside: crypto === 'local-kms' },
          ...(o.stateDir ? { stateDir: o.stateDir } : {}),
          ...(auditFile ? { auditFile } : {}),
        },
        (c) => setUp(c, region, crypto, o.webIdentitySubject ?? DEFAULT_SUBJECT, random),
      );
      const front = core.front;
      if (front.region !== region)
        throw new Error(
          `the state in ${dir} is of region ${front.region}, not ${region}; use --region ${front.region} or another state dir`,
        );
      if (front.crypto !== crypto)
        throw new Error(
          `the state in ${dir} keeps its key material in ${front.crypto}, not ${crypto}; use --crypto ${front.crypto} or another state dir`,
        );
      const keyCrypto: KeyCrypto =
        crypto === 'core'
          ? coreCrypto(core as CloudCore<unknown, unknown>)
          : await LocalKms.start({
              binary: o.localKmsBinary ?? (await localKmsBinary()),
              dataDir: join(dir, 'local-kms'),
              logFile: join(dir, 'local-kms.log'),
              region,
              accountId: core.identities.accountId,
              core: core as unknown as CloudCore<unknown, AwsFront>,
            });
      started.push(keyCrypto);
      const names = ['127.0.0.1', 'localhost', `kms.${region}.amazonaws.com`, `sts.${region}.amazonaws.com`];
      const pki = await serverPki(join(dir, 'tls'), names);
      const server = new AwsServer({
        core,
        crypto: keyCrypto,
        key: pki.key,
        cert: pki.cert,
        randomBytes: (n) => random.bytes(n),
      });
      const port = await server.listenOn(o.port ?? 0, front.port);
      started.push(server);
      if (front.port !== port) await core.mutate(() => void (core.front = { ...core.front, port }));
      const connection = await connect(core, dir, pki.caFile, port, o, auditFile);
      await writeWebIdentityToken(core, connection.webIdentityTokenFile);
      // Projected ServiceAccount tokens are renewed before they expire; so is this one (tokens last an hour).
      const renew = setInterval(() => void writeWebIdentityToken(core, connection.webIdentityTokenFile), 20 * 60_000);
      renew.unref();
      started.push({ close: async () => clearInterval(renew) });
      started.push(
        await serveCloudControl(
          {
            core: core as CloudCore<unknown, unknown>,
            connection: () => connection,
            resolveKey: (ref) => (ref === 'default' ? core.front.defaultKeyId : resolveKey(core, ref)),
            describe: () => ({
              cloud: 'aws',
              endpoint: connection.endpoint,
              region,
              accountId: connection.accountId,
              defaultKeyId: core.front.defaultKeyId,
              aliases: core.front.aliases,
              crypto,
              ...core.status(),
            }),
          },
          connection.controlSocket,
        ),
      );
      return new AwsEmulator(core, connection, started, tempDir);
    } catch (error) {
      for (const part of started.reverse()) await part.close().catch(() => undefined);
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** webIdentityToken is a fresh token for the role's trusted subject (what the token file holds). */
  webIdentityToken(ttlSeconds?: number): string {
    return issueWebIdentityToken(this.core.front.oidc, this.core.now(), ttlSeconds);
  }

  async close(): Promise<void> {
    for (const part of [...this.parts].reverse()) await part.close().catch(() => undefined);
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function localKmsBinary(): Promise<string> {
  const { findBinary } = await import('../../harness/binaries/find.js');
  return (await findBinary('local-kms')).path;
}

// setUp makes the account at first start: an admin, the cluster's user and role (trusted by that user and by the web
// identity of the plugin's ServiceAccount), one key with an alias, which the cluster's identities may use.
function setUp(core: AwsCore, region: string, crypto: 'local-kms' | 'core', subject: string, random: Random): AwsFront {
  core.identities.createUser(AWS_ADMIN_USER);
  core.identities.createUser(AWS_CLUSTER_USER);
  core.identities.createRole(AWS_CLUSTER_ROLE, [AWS_CLUSTER_USER, `${WEB_IDENTITY}${subject}`]);
  const key = core.keys.create('kmslab: the cluster key encryption key');
  core.grants.grant({
    principal: `user:${AWS_ADMIN_USER}`,
    permissions: ['encrypt', 'decrypt', 'describe', 'manage'],
    key: '*',
  });
  for (const principal of [`user:${AWS_CLUSTER_USER}`, `role:${AWS_CLUSTER_ROLE}`])
    core.grants.grant({ principal, permissions: ['encrypt', 'decrypt', 'describe'], key: key.keyId });
  const now = core.now();
  return {
    region,
    adminUser: AWS_ADMIN_USER,
    clusterUser: AWS_CLUSTER_USER,
    role: AWS_CLUSTER_ROLE,
    defaultKeyId: key.keyId,
    aliases: { [ALIAS]: { keyId: key.keyId, createdAt: now, updatedAt: now } },
    crypto,
    backing: {},
    credentialsPath: `/kmslab/container-credentials/${randomText(random, 32)}`,
    credentialsToken: randomText(random, 48),
    oidc: {
      issuer: `https://oidc.eks.${region}.amazonaws.com/id/${randomText(random, 32, 'ABCDEF0123456789')}`,
      key: random.bytes(32).toString('base64'),
      subject,
      audience: 'sts.amazonaws.com',
    },
  };
}

async function writeWebIdentityToken(core: AwsCore, file: string): Promise<void> {
  await writePrivate(file, issueWebIdentityToken(core.front.oidc, core.now()));
}

async function connect(
  core: AwsCore,
  dir: string,
  caFile: string,
  port: number,
  o: AwsEmulatorOptions,
  auditFile: string | undefined,
): Promise<AwsConnection> {
  const front = core.front;
  const users = core.identities.snapshot().users;
  const keyOf = (name: string) => users.find((u) => u.name === name)!.accessKeys[0]!;
  const cluster = keyOf(front.clusterUser);
  const admin = keyOf(front.adminUser);
  const credentialsFiles = {
    cluster: join(dir, 'cluster-credentials.json'),
    admin: join(dir, 'admin-credentials.json'),
  };
  const sharedCredentialsFile = join(dir, 'aws-credentials');
  await writePrivate(
    credentialsFiles.cluster,
    JSON.stringify({ accessKeyId: cluster.id, secretAccessKey: cluster.secret }),
  );
  await writePrivate(credentialsFiles.admin, JSON.stringify({ accessKeyId: admin.id, secretAccessKey: admin.secret }));
  await writePrivate(
    sharedCredentialsFile,
    [
      ['cluster', cluster],
      ['admin', admin],
    ]
      .map(
        ([name, k]) =>
          `[${name as string}]\naws_access_key_id = ${(k as typeof cluster).id}\naws_secret_access_key = ${(k as typeof cluster).secret}\n`,
      )
      .join('\n'),
  );
  const endpoint = `https://127.0.0.1:${port}`;
  const accountId = core.identities.accountId;
  const role = roleArn(accountId, front.role);
  const webIdentityTokenFile = join(dir, 'web-identity-token');
  const containerCredentialsUri = `${endpoint}${front.credentialsPath}`;
  // Every client variant: the endpoints, the CA, the region, and never the EC2 instance metadata service.
  const base = {
    AWS_REGION: front.region,
    AWS_ENDPOINT_URL_KMS: endpoint,
    AWS_ENDPOINT_URL_STS: endpoint,
    AWS_CA_BUNDLE: caFile,
    SSL_CERT_FILE: caFile,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  return {
    cloud: 'aws',
    endpoint,
    stsEndpoint: endpoint,
    region: front.region,
    caFile,
    accountId,
    keyId: front.defaultKeyId,
    keyArn: keyArn(core, front.defaultKeyId),
    alias: `alias/${ALIAS}`,
    accessKeyId: cluster.id,
    secretAccessKey: cluster.secret,
    roleArn: role,
    webIdentityTokenFile,
    containerCredentialsUri,
    containerAuthorizationToken: front.credentialsToken,
    admin: { accessKeyId: admin.id, secretAccessKey: admin.secret },
    credentialsFiles,
    sharedCredentialsFile,
    controlSocket: o.controlSocket ?? join(dir, 'control.sock'),
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    ...(auditFile ? { auditFile } : {}),
    env: { ...base, AWS_ACCESS_KEY_ID: cluster.id, AWS_SECRET_ACCESS_KEY: cluster.secret },
    envWebIdentity: {
      ...base,
      AWS_ROLE_ARN: role,
      AWS_WEB_IDENTITY_TOKEN_FILE: webIdentityTokenFile,
      AWS_ROLE_SESSION_NAME: 'kms-plugin',
    },
    envContainerCredentials: {
      ...base,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: containerCredentialsUri,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: front.credentialsToken,
    },
  };
}
