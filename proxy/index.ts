export { KmsProxy, type KmsProxyOptions, type ProxyStatus } from './kms-proxy.js';
export { UpstreamPlugin, InvalidUtf8Answer, isTransportFailure, type InvalidUtf8Handling } from './upstream-plugin.js';
export { UnusableSocketPaths, UNIX_SOCKET_PATH_MAX } from './socket-paths.js';
