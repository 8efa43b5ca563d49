import {
  AuditTrail,
  KmsEndpoint,
  KmsService,
  type ActiveFault,
  type HealthStyle,
  type ListenerLimits,
} from '../fake-kms/index.js';
import type { StatusResponse } from '../gen/kms/v2/service.js';
import { ApiserverView } from './apiserver-view.js';
import { ImposedHealthStyle } from './imposed-health-style.js';
import { checkProxySockets } from './socket-paths.js';
import { UpstreamPlugin } from './upstream-plugin.js';

export interface KmsProxyOptions {
  /** The socket the apiserver dials; the proxy serves KMS v2 here. */
  socketPath: string;
  /** The socket of the plugin behind the proxy. */
  upstreamSocket: string;
  controlSocketPath?: string;
  auditFile?: string;
  limits?: Partial<ListenerLimits>;
  /** A health style to impose on the plugin's Status answers (ImposedHealthStyle); unset: its own. */
  healthStyle?: HealthStyle;
}

/** ProxyStatus is what `GET /status` answers for the proxy: its sockets and what the plugin behind it says now. */
export interface ProxyStatus {
  socket: string;
  upstream: string;
  listening: boolean;
  /** A fresh Status from the plugin (this call is kmslab's own, not on the audit trail), or why there is none. */
  plugin: StatusResponse | { error: string };
  keyId: string;
  /** The health style imposed on the plugin's Status answers, or `own` (as the plugin answers). */
  healthStyle: HealthStyle | 'own';
  faults: ActiveFault[];
  calls: Record<string, Record<string, number>>;
}

/**
 * KmsProxy stands between kube-apiserver and any KMS v2 plugin: it forwards Status, Encrypt and Decrypt to the
 * plugin's socket, with the same faults and audit trail as the fake KMS (one implementation: KmsService), and can
 * take its own socket away and back (the apiserver then sees the plugin gone) while the plugin keeps running.
 * Answers pass on as the plugin gave them; one the apiserver will refuse is audited with the reason
 * (`apiserverWillRefuse`), and one it cannot even decode (invalid UTF-8) is refused here as the apiserver would.
 */
export class KmsProxy extends KmsEndpoint {
  private lastKeyId = '';

  private constructor(
    service: KmsService,
    readonly upstream: UpstreamPlugin,
    private readonly imposed: ImposedHealthStyle,
    options: KmsProxyOptions,
  ) {
    super(service, options);
  }

  /** setDisabledKeyStatus imposes a health style on the plugin's Status answers (the control API's /settings). */
  setDisabledKeyStatus(style: HealthStyle): void {
    this.imposed.style = style;
  }

  /** start refuses unusable socket paths (UnusableSocketPaths) before it creates anything. */
  static async start(options: KmsProxyOptions): Promise<KmsProxy> {
    checkProxySockets(options);
    await KmsEndpoint.privateDirs(options);
    const upstream = new UpstreamPlugin(options.upstreamSocket);
    const imposed = new ImposedHealthStyle(options.healthStyle);
    let proxy: KmsProxy | undefined;
    // Remember the key_id of every Status that goes by: a refused Encrypt is audited under it.
    const tracked = {
      status: async (o?: Parameters<UpstreamPlugin['status']>[0]) => {
        const s = await imposed.status(() => upstream.status(o));
        if (proxy) proxy.lastKeyId = s.keyId;
        return s;
      },
      encrypt: upstream.encrypt.bind(upstream),
      decrypt: upstream.decrypt.bind(upstream),
    };
    const apiserver = new ApiserverView();
    const service = new KmsService({
      plugin: tracked,
      audit: await AuditTrail.open(options.auditFile ? { file: options.auditFile } : {}),
      intendedKeyId: () => proxy?.lastKeyId ?? '',
      judge: (method, answer) => apiserver.judge(method, answer),
    });
    proxy = new KmsProxy(service, upstream, imposed, options);
    await proxy.serve(options.controlSocketPath);
    return proxy;
  }

  async describe(): Promise<ProxyStatus> {
    const plugin = await this.upstream.status({ deadline: Date.now() + 10_000 }).then(
      (s) => {
        this.lastKeyId = s.keyId;
        return s;
      },
      (error: Error) => ({ error: error.message }),
    );
    return {
      socket: this.listener.socketPath,
      upstream: this.upstream.socketPath,
      listening: this.listener.listening,
      plugin,
      keyId: 'keyId' in plugin ? plugin.keyId : this.lastKeyId,
      healthStyle: this.imposed.style ?? 'own',
      faults: this.service.faults.list(),
      calls: this.service.audit.counters(),
    };
  }

  protected override async closeMore(): Promise<void> {
    this.upstream.close();
  }
}
