/** FrontOptions are what every cloud emulator takes; each front adds its own (region defaults, crypto, …). */
export interface FrontOptions {
  /** Keys, identities, grants and the CA persist here (0700); none: nothing survives a restart. */
  stateDir?: string;
  /** The region the emulator stands for; each front has its default. */
  region?: string;
  /** 0 (default): the port used last time in this state dir, else any free port. */
  port?: number;
  /** Control API socket (0600); default `<stateDir>/control.sock`, required without a state dir. */
  controlSocket?: string;
  /** The cloud's audit events as JSON lines (0600); default a file in the state dir named for the cloud's trail. */
  auditFile?: string;
  /** Seed every id, secret and key from this (tests; never for anything real). */
  seed?: string;
  now?: () => number;
}
