import { Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import type { EncryptionRule } from '../../harness/kube/encryption-config.js';
import {
  encryptionConfigOption,
  pluginFrom,
  pluginOptions,
  readEncryptionConfig,
  type CloudFlag,
  type PluginFlags,
} from '../lab-options.js';
import type { ExternalPlugin } from '../../harness/kms/index.js';
import { buildProgress, printJson, say, table } from '../output.js';

// How `up --encryption` configures Secrets; the rule builders are loaded only when a lab starts.
const ENCRYPTION_MODES = ['kms', 'identity', 'identity-first'] as const;
type EncryptionMode = (typeof ENCRYPTION_MODES)[number];

async function encryptionFor(mode: EncryptionMode): Promise<(socket: string, name: string) => EncryptionRule[]> {
  const { identityOnly, kmsThenIdentity } = await import('../../harness/kube/encryption-config.js');
  if (mode === 'identity') return () => [identityOnly()];
  if (mode === 'kms') return (socket, name) => [kmsThenIdentity(name, socket)];
  return (socket, name) => [{ resources: ['secrets'], providers: [{ identity: {} }, { kms: { name, socket } }] }];
}

export function labCommands(program: Command): void {
  encryptionConfigOption(pluginOptions(program.command('up')))
    .description('start a lab (fake KMS, etcd, kube-apiserver) in the background and return when it is ready')
    .option('--name <name>', 'lab name', 'default')
    .option('--k8s-version <version>', 'kube-apiserver version (built from Go modules on first use)')
    .option('--etcd-version <version>', 'etcd version (built from Go modules on first use)')
    .addOption(
      new Option('--apiservers <n>', 'number of kube-apiservers sharing the etcd (1 to 5)')
        .argParser(positiveInt)
        .default(1),
    )
    .addOption(
      new Option('--encryption <mode>', 'secrets encryption: kms (KMS v2, then identity), identity, identity-first')
        .choices(ENCRYPTION_MODES)
        .default('kms' as const),
    )
    .option('--provider <name>', 'KMS v2 provider name', 'kmslab')
    .addOption(
      new Option(
        '--backend <backend>',
        'local (real processes), or kind or compose (need an engine and images: kmslab engine start, kmslab build --images)',
      )
        .choices(['local', 'kind', 'compose'] as const)
        .default('local' as const),
    )
    .option(
      '--image <image>',
      'kind only: node image (default kmslab/kind-node:<k8s-version>, from kmslab build --images)',
    )
    .option('--json', 'print the lab as one JSON object')
    .action(async (o) => {
      const started = Date.now();
      const user = await readEncryptionConfig((o as { encryptionConfig?: string }).encryptionConfig);
      if (user && o.encryption !== 'kms') {
        throw new KmslabError('usage', '--encryption-config is the encryption: leave out --encryption');
      }
      const { labOptionsFor, startLab } = await import('../../harness/start-lab.js');
      const { readLab } = await import('../../harness/labs/registry.js');
      // Ctrl-C during the start undoes it (processes, containers, a kind create in flight), then exits 130.
      const interrupt = new AbortController();
      const stop = () => {
        say('\ninterrupted: undoing the start');
        interrupt.abort();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await startLab({
        signal: interrupt.signal,
        backend: o.backend,
        name: o.name,
        ...(o.k8sVersion ? { k8sVersion: o.k8sVersion } : {}),
        ...(o.etcdVersion ? { etcdVersion: o.etcdVersion } : {}),
        apiservers: o.apiservers,
        providerName: o.provider,
        encryption: await encryptionFor(o.encryption),
        ...(user ? labOptionsFor({ encryption: 'kms', apiservers: o.apiservers }, user) : {}),
        ...(await withPlugin(o as PluginFlags & CloudFlag)),
        onProgress: (m) => say(`▸ ${m}`),
        onBuildProgress: buildProgress(),
        ...(o.image ? { image: o.image } : {}),
      })
        .catch((error: unknown) => {
          if (!interrupt.signal.aborted) throw error;
          process.exit(130);
        })
        .finally(() => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        });
      // The lab runs on without this process; what it is, is in its record.
      const r = await readLab(o.name);
      if (!r) throw new KmslabError('failed', `lab "${o.name}" started but left no record`);
      const summary = {
        name: r.name,
        dir: r.dir,
        kubeconfig: r.kubeconfig,
        apiserver: r.apiservers[0]!.url,
        apiservers: r.apiservers,
        etcd: r.etcd,
        kms: { socket: r.kms.socket, control: r.kms.control, provider: r.kms.provider },
        ...(r.kms.cloud
          ? {
              cloud: {
                name: r.kms.cloud.name,
                control: r.kms.cloud.control,
                principal: r.kms.cloud.principal,
                keyId: r.kms.cloud.keyId,
              },
            }
          : {}),
        encryptionConfig: r.encryptionConfig,
        versions: r.versions,
        logs: `${r.dir}/logs`,
        startSeconds: Math.round((Date.now() - started) / 100) / 10,
      };
      if (o.json) printJson(summary);
      else {
        say(`✓ lab "${r.name}" is ready in ${summary.startSeconds} s`);
        console.log(
          [
            `apiserver   ${summary.apiserver}`,
            `etcd        ${summary.etcd}`,
            `kms socket  ${summary.kms.socket}`,
            ...(summary.cloud
              ? [
                  `cloud       ${summary.cloud.name} KMS emulator: key ${summary.cloud.keyId}, the plugin calls as ${summary.cloud.principal}`,
                ]
              : []),
            `kubeconfig  ${summary.kubeconfig}`,
            `logs        ${summary.logs}`,
            '',
            `export KUBECONFIG=${summary.kubeconfig}`,
            `kmslab inspect --name ${r.name}      # raw etcd view`,
            ...(summary.cloud ? [`kmslab cloud audit --name ${r.name}  # who called the cloud KMS`] : []),
            `kmslab down --name ${r.name}         # stop it`,
          ].join('\n'),
        );
      }
    });

  program
    .command('down')
    .description('stop every process of a lab and remove its files (even if the process that started it died)')
    .option('--name <name>', 'lab name', 'default')
    .option('--all', 'stop every lab on this machine')
    .option('--keep-files', 'keep the lab dir (logs, etcd data, audit trail)')
    .option('--json', 'print what was stopped as JSON')
    .action(async (o) => {
      const { labNames } = await import('../../harness/labs/registry.js');
      const { stopLab } = await import('../../harness/labs/stop-lab.js');
      const names = o.all ? await labNames() : [o.name];
      const results = [];
      const failures: string[] = [];
      for (const name of names) {
        try {
          results.push(await stopLab(name, { keepFiles: o.keepFiles ?? false }));
        } catch (error) {
          if (!o.all) throw error;
          failures.push(`${name}: ${(error as Error).message}`);
        }
      }
      if (o.json) printJson(results);
      else
        for (const r of results) {
          say(
            `✓ lab "${r.name}": stopped ${r.stopped.length ? r.stopped.join(', ') : 'nothing (no process was running)'}${r.removed ? ', files removed' : ', files kept'}`,
          );
        }
      if (failures.length) {
        throw new KmslabError('failed', `could not stop ${failures.length} lab(s):\n${failures.join('\n')}`);
      }
    });

  program
    .command('status')
    .description('check a lab: processes, apiserver /readyz, fake KMS')
    .option('--name <name>', 'lab name', 'default')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const { readLab } = await import('../../harness/labs/registry.js');
      const { labHealth } = await import('../../harness/labs/lab-status.js');
      const record = await readLab(o.name);
      if (!record)
        throw new KmslabError('not-found', `no lab named "${o.name}"; kmslab list shows the labs on this machine`);
      const health = await labHealth(record);
      // The exit code is the answer to "is it running?", with or without --json.
      if (health.state !== 'running') process.exitCode = 1;
      if (o.json) {
        printJson(health);
        return;
      }
      console.log(`lab ${health.name}: ${health.state}  (${health.dir})`);
      console.log(
        table([
          ['PROCESS', 'PID', 'ALIVE', ''],
          ...health.processes.map((p) => [
            p.name,
            String(p.pid),
            p.alive ? 'yes' : 'no',
            p.restart ? `run: ${p.restart}` : '',
          ]),
        ]),
      );
      for (const a of health.apiservers)
        console.log(
          `${a.name} ${a.url} readyz: ${a.readyz}${a.failing?.length ? ` (failing: ${a.failing.join(', ')})` : ''}`,
        );
      console.log(
        'error' in health.kms
          ? `fake-kms: ${health.kms.error}`
          : `fake-kms: ${health.kms.listening ? 'listening' : 'plugin stopped'}, key_id ${health.kms.keyId}, ${health.kms.faults.length} fault(s)`,
      );
    });

  program
    .command('restart')
    .description(
      'stop (if running) and start components of a local lab on the same state: the plugin on its keys, etcd on its data, apiservers on their certs and config',
    )
    .argument(
      '<component>',
      'cloud (the emulator of a --cloud lab), kms, plugin, proxy, etcd, apiserver (every one), apiserver-<i>, or all',
    )
    .option('--name <name>', 'lab name', 'default')
    .option('--json', 'print what was restarted as JSON')
    .action(async (component, o) => {
      const { restartLab } = await import('../../harness/labs/restart-lab.js');
      const result = await restartLab(o.name, component, { onProgress: (m) => say(`▸ ${m}`) });
      if (o.json) printJson(result);
      else
        for (const r of result.restarted)
          say(`✓ ${r.name} ${r.was === 'dead' ? 'was dead; started' : 'restarted'} (pid ${r.pid})`);
    });

  program
    .command('list')
    .description('list the labs on this machine')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const { listLabs } = await import('../../harness/labs/registry.js');
      const { labHealth } = await import('../../harness/labs/lab-status.js');
      const labs = await Promise.all((await listLabs()).map(labHealth));
      if (o.json) {
        printJson(labs);
        return;
      }
      if (labs.length === 0) {
        say('no labs; start one with: kmslab up');
        return;
      }
      console.log(
        table([
          ['NAME', 'STATE', 'APISERVER', 'DIR'],
          ...labs.map((l) => [l.name, l.state, l.apiservers[0]?.url ?? '', l.dir]),
        ]),
      );
    });
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new KmslabError('usage', `"${value}" is not a positive whole number`);
  return n;
}

/** withPlugin is the start options for an external plugin and a cloud behind it, when the flags name them. */
export async function withPlugin(
  o: PluginFlags & CloudFlag,
): Promise<{ plugin?: ExternalPlugin; cloud?: 'alibaba' | 'aws' }> {
  const plugin = await pluginFrom(o);
  return { ...(plugin ? { plugin } : {}), ...(o.cloud ? { cloud: o.cloud } : {}) };
}
