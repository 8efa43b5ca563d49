const DEFAULT_PROXY = 'https://proxy.golang.org';

/**
 * moduleProxy is GOPROXY without `direct`: kmslab builds only from a module proxy, never by fetching a module's
 * origin repository (Go's default `https://proxy.golang.org,direct` would fall back to it for a module the proxy
 * lacks). `off` stays off, so a user who forbids downloads gets Go's own error.
 */
export function moduleProxy(goproxy = process.env.GOPROXY): string {
  const entries = (goproxy ?? '').split(/[,|]/).map((e) => e.trim());
  if (entries.includes('off')) return 'off';
  const proxies = entries.filter((e) => e !== '' && e !== 'direct');
  return proxies.length ? proxies.join(',') : DEFAULT_PROXY;
}

/** goEnv is the environment of every `go` command kmslab runs: static binaries, the proxy only, this toolchain. */
export function goEnv(): NodeJS.ProcessEnv {
  return {
    CGO_ENABLED: '0',
    GOFLAGS: '-buildvcs=false',
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local',
    GOPROXY: moduleProxy(),
    // Modules matching these would bypass the proxy and be fetched from their origin. Empty alone is not enough:
    // Go then reads them from its env file (`go env -w`), which GOENV=off takes out of play.
    GOENV: 'off',
    GOPRIVATE: '',
    GONOPROXY: '',
    GOINSECURE: '',
  };
}
