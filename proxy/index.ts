export { KmsProxy, type KmsProxyOptions, type ProxyStatus } from './kms-proxy.js';
export { UpstreamPlugin } from './upstream-plugin.js';
