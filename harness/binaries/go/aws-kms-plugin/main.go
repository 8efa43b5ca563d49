// Command aws-kms-plugin is kmslab's KMS v2 plugin built on third-party code only: the upstream plugin gRPC server
// (k8s.io/kms/pkg/service) and the AWS SDK for Go v2 KMS client. Its key encryption key lives in an AWS KMS API
// (local-kms in kmslab, reached on a loopback endpoint with dummy static credentials: never real ones).
//
// The KMS key is named by an alias. Status and Encrypt use the key the alias points at, and report that key's ARN as
// key_id; rotation is a new key behind the alias, so a rotation always gives a key_id never seen before (AWS's own
// automatic rotation keeps the key's ARN and could not be seen by the apiserver). Decrypt uses the key named by the
// request's key_id, never the alias.
//
// Subcommands, for the key hooks kmslab runs as shell commands; each prints a key ARN and exits 0 when done:
//
//	aws-kms-plugin serve   --socket PATH --kms-endpoint URL --alias alias/NAME [--timeout 2s] [--max-in-flight 64]
//	aws-kms-plugin init    --kms-endpoint URL --alias alias/NAME   first key and the alias (does nothing if it exists)
//	aws-kms-plugin rotate  --kms-endpoint URL --alias alias/NAME   a new key, the alias re-pointed at it
//	aws-kms-plugin current --kms-endpoint URL --alias alias/NAME   the key the alias points at
//	aws-kms-plugin disable --kms-endpoint URL KEY                  KEY: a key ARN or id, else $KMSLAB_KEY_ID
//	aws-kms-plugin enable  --kms-endpoint URL KEY
//	aws-kms-plugin destroy --kms-endpoint URL KEY                  schedule deletion (7 days): unusable from now on
//
// Exit codes: 0 done, 1 the KMS or the socket failed, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	kmsservice "k8s.io/kms/pkg/service"
	"k8s.io/kms/pkg/util"
)

const (
	// apiVersion is what Status reports: the GA name of the KMS v2 API.
	apiVersion = "v2"
	// Limits of the AWS KMS API (Encrypt plaintext, Decrypt ciphertext), checked here so that a request over them
	// never reaches the KMS (local-kms writes a refused plaintext into its log) and is refused with a clear message.
	maxPlaintext  = 4096
	maxCiphertext = 6144
	// minCiphertext: no KMS ciphertext is shorter (a key reference, a 12-byte nonce, a 16-byte tag); local-kms would
	// panic on some shorter ones rather than refuse them.
	minCiphertext = 34
	maxUID        = 128
	maxKeyID      = 1024
	// pendingWindowDays is the shortest deletion window AWS KMS allows.
	pendingWindowDays = 7
)

// encryptionContext binds every ciphertext of this plugin to its purpose: KMS refuses to decrypt it without the same
// context, so a ciphertext made by another user of the same key cannot be unwrapped through this plugin. Never change
// it: data written with it could no longer be read.
var encryptionContext = map[string]string{"purpose": "kubernetes-kms-v2-dek-seed"}

// healthProbe is what the health check encrypts; it proves the key can encrypt and carries no secret.
var (
	healthProbe   = []byte("kmslab aws-kms-plugin health probe")
	healthContext = map[string]string{"purpose": "kubernetes-kms-v2-health-probe"}
)

var keyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(log, args)
	case "init", "rotate", "current":
		err = aliasHook(cmd, args)
	case "disable", "enable", "destroy":
		err = keyHook(cmd, args)
	case "help", "-h", "--help":
		fmt.Println(usageText)
		return
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "aws-kms-plugin %s: %s\n\n%s\n", cmd, usage.msg, usageText)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "aws-kms-plugin %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

const usageText = `usage:
  aws-kms-plugin serve   --socket PATH --kms-endpoint URL --alias alias/NAME [--timeout 2s] [--max-in-flight 64]
  aws-kms-plugin init    --kms-endpoint URL --alias alias/NAME
  aws-kms-plugin rotate  --kms-endpoint URL --alias alias/NAME
  aws-kms-plugin current --kms-endpoint URL --alias alias/NAME
  aws-kms-plugin disable --kms-endpoint URL KEY   (KEY: key ARN or id; default $KMSLAB_KEY_ID)
  aws-kms-plugin enable  --kms-endpoint URL KEY
  aws-kms-plugin destroy --kms-endpoint URL KEY
--socket defaults to $KMSLAB_PLUGIN_SOCKET; --kms-endpoint must be a loopback http(s) URL.`

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// kmsFlags are the flags every command shares.
type kmsFlags struct {
	endpoint string
	alias    string
	timeout  time.Duration
}

func newFlags(cmd string, withAlias bool) (*flag.FlagSet, *kmsFlags) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &kmsFlags{}
	fs.StringVar(&f.endpoint, "kms-endpoint", "", "AWS KMS API endpoint (loopback only), e.g. http://127.0.0.1:4599")
	if withAlias {
		fs.StringVar(&f.alias, "alias", "", "KMS alias naming the current key, e.g. alias/kmslab")
	}
	fs.DurationVar(&f.timeout, "timeout", 2*time.Second, "deadline of each KMS call")
	return fs, f
}

func parse(fs *flag.FlagSet, f *kmsFlags, args []string) (*kms.Client, error) {
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err.Error()}
	}
	if f.timeout <= 0 || f.timeout > time.Minute {
		return nil, usageError{fmt.Sprintf("--timeout %s: must be more than 0 and at most 1m", f.timeout)}
	}
	if fs.Lookup("alias") != nil {
		if !strings.HasPrefix(f.alias, "alias/") || len(f.alias) <= len("alias/") || strings.HasPrefix(f.alias, "alias/aws/") {
			return nil, usageError{fmt.Sprintf("--alias %q: must be alias/NAME (and not alias/aws/…)", f.alias)}
		}
	}
	endpoint, err := loopbackEndpoint(f.endpoint)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return kms.New(kms.Options{
		Region:       "eu-west-2",
		BaseEndpoint: aws.String(endpoint),
		// Dummy static credentials: the emulator accepts any, and nothing is read from the environment, the shared
		// config files or an instance metadata service, so real credentials can never be picked up and sent.
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "KMSLABDUMMYACCESSKEY", SecretAccessKey: "kmslab-dummy-secret", Source: "kmslab"}, nil
		}),
		RetryMaxAttempts: 2,
	}), nil
}

// loopbackEndpoint accepts an http(s) URL whose host is a loopback address: the plugin talks to an emulator on this
// machine, never to a remote KMS.
func loopbackEndpoint(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("--kms-endpoint is required")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--kms-endpoint %q: must be an http(s) URL such as http://127.0.0.1:4599", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("--kms-endpoint %q: only a loopback host is allowed", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// aliasHook runs init, rotate and current: the commands that act on the alias.
func aliasHook(cmd string, args []string) error {
	fs, f := newFlags(cmd, true)
	client, err := parse(fs, f, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*f.timeout)
	defer cancel()
	current, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(f.alias)})
	var notFound *types.NotFoundException
	switch {
	case err == nil:
	case errors.As(err, &notFound) && cmd == "init":
	case errors.As(err, &notFound):
		return fmt.Errorf("alias %s does not exist; run `aws-kms-plugin init` first", f.alias)
	default:
		return describe("DescribeKey "+f.alias, err)
	}
	if cmd == "current" || (cmd == "init" && err == nil) {
		fmt.Println(aws.ToString(current.KeyMetadata.Arn))
		return nil
	}
	created, err := client.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("kmslab KMS v2 key encryption key behind " + f.alias),
		KeySpec:     types.KeySpecSymmetricDefault,
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
	})
	if err != nil {
		return describe("CreateKey", err)
	}
	arn := aws.ToString(created.KeyMetadata.Arn)
	if cmd == "init" {
		_, err = client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(f.alias), TargetKeyId: aws.String(arn)})
	} else {
		_, err = client.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(f.alias), TargetKeyId: aws.String(arn)})
	}
	if err != nil {
		return describe("point "+f.alias+" at "+arn, err)
	}
	fmt.Println(arn)
	return nil
}

// keyHook runs disable, enable and destroy on one key, named by its ARN or id (never an alias: a hook acts on the
// key_id the plugin reported, which stays put when the alias moves on).
func keyHook(cmd string, args []string) error {
	fs, f := newFlags(cmd, false)
	client, err := parse(fs, f, args)
	if err != nil {
		return err
	}
	key := os.Getenv("KMSLAB_KEY_ID")
	switch fs.NArg() {
	case 0:
	case 1:
		key = fs.Arg(0)
	default:
		return usageError{fmt.Sprintf("one key expected, got %d arguments", fs.NArg())}
	}
	if key == "" {
		return usageError{"no key given: pass a key ARN or id, or set KMSLAB_KEY_ID"}
	}
	if strings.HasPrefix(key, "alias/") || strings.Contains(key, ":alias/") {
		return usageError{fmt.Sprintf("%q is an alias; name the key itself (the key_id the plugin reports)", key)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*f.timeout)
	defer cancel()
	switch cmd {
	case "disable":
		_, err = client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(key)})
	case "enable":
		_, err = client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key)})
	case "destroy":
		_, err = client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
			KeyId:               aws.String(key),
			PendingWindowInDays: aws.Int32(pendingWindowDays),
		})
	}
	if err != nil {
		return describe(cmd+" "+key, err)
	}
	fmt.Println(key)
	return nil
}

func serve(log *slog.Logger, args []string) error {
	fs, f := newFlags("serve", true)
	socket := fs.String("socket", os.Getenv("KMSLAB_PLUGIN_SOCKET"), "unix socket to serve KMS v2 on (path or unix:// URL)")
	inFlight := fs.Int("max-in-flight", 64, "KMS calls at once; more wait for a slot within their deadline")
	client, err := parse(fs, f, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *inFlight < 1 || *inFlight > 4096 {
		return usageError{fmt.Sprintf("--max-in-flight %d: must be 1…4096", *inFlight)}
	}
	path, err := socketPath(*socket)
	if err != nil {
		return usageError{err.Error()}
	}
	if err := clearStaleSocket(path); err != nil {
		return err
	}

	plugin := &plugin{
		kms:     client,
		alias:   f.alias,
		timeout: f.timeout,
		slots:   make(chan struct{}, *inFlight),
		log:     log,
	}
	grpcServer := kmsservice.NewGRPCService(path, f.timeout, plugin)

	// The socket is created by the library's net.Listen; a umask makes it 0600 from its first instant (a chmod after
	// Listen would leave a window in which any local user could connect).
	old := syscall.Umask(0o177)
	served := make(chan error, 1)
	go func() { served <- grpcServer.ListenAndServe() }()
	if err := waitForSocket(path, served); err != nil {
		syscall.Umask(old)
		return err
	}
	syscall.Umask(old)
	log.Info("serving KMS v2", "socket", path, "alias", f.alias, "kms_endpoint", f.endpoint, "timeout", f.timeout)
	go func() {
		st, err := plugin.Status(context.Background())
		if err != nil {
			log.Warn("first health check", "error", err)
			return
		}
		log.Info("first health check", "key_id", st.KeyID, "healthz", st.Healthz)
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-stop:
		log.Info("stopping", "signal", sig.String())
		done := make(chan struct{})
		go func() { grpcServer.Shutdown(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			grpcServer.Close()
		}
		_ = os.Remove(path)
		return nil
	case err := <-served:
		_ = os.Remove(path)
		return fmt.Errorf("serving on %s: %w", path, err)
	}
}

// socketPath accepts a path or a unix:// URL (as an EncryptionConfiguration names it). Abstract sockets are refused:
// they have no file mode, so nothing would restrict who connects.
func socketPath(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("--socket is required (or set KMSLAB_PLUGIN_SOCKET)")
	}
	if strings.Contains(raw, "://") {
		p, err := util.ParseEndpoint(raw)
		if err != nil {
			return "", fmt.Errorf("--socket %q: %v", raw, err)
		}
		raw = p
	}
	if strings.HasPrefix(raw, "@") {
		return "", fmt.Errorf("--socket %q: abstract sockets have no permissions; give a path in a 0700 directory", raw)
	}
	dir, err := os.Stat(dirOf(raw))
	if err != nil {
		return "", fmt.Errorf("--socket %q: its directory: %v", raw, err)
	}
	if dir.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "aws-kms-plugin: warning: %s is %04o; a KMS socket belongs in a 0700 directory\n", dirOf(raw), dir.Mode().Perm())
	}
	return raw, nil
}

func dirOf(path string) string {
	if i := strings.LastIndex(path, "/"); i > 0 {
		return path[:i]
	} else if i == 0 {
		return "/"
	}
	return "."
}

// clearStaleSocket removes a socket file left by a plugin that was killed, and refuses to take over a live one or a
// file that is not a socket.
func clearStaleSocket(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("%s is in use by another server", path)
	}
	return os.Remove(path)
}

func waitForSocket(path string, served <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-served:
			return fmt.Errorf("listening on %s: %w", path, err)
		default:
		}
		if info, err := os.Lstat(path); err == nil && info.Mode()&os.ModeSocket != 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("socket %s did not appear within 10s", path)
}

// plugin implements k8s.io/kms/pkg/service.Service on an AWS KMS key behind an alias.
type plugin struct {
	kms     *kms.Client
	alias   string
	timeout time.Duration
	slots   chan struct{}
	log     *slog.Logger

	mu        sync.Mutex
	check     *healthCheck // the check under way, shared by every Status call that arrives meanwhile
	lastKeyID string       // the key last seen behind the alias, reported while the KMS cannot be reached
}

var _ kmsservice.Service = (*plugin)(nil)

type healthCheck struct {
	done   chan struct{}
	result *kmsservice.StatusResponse
	err    error
}

// Status checks the key behind the alias live, on every call: it encrypts a probe with the alias (proving the key
// can encrypt, and naming it), and when that fails it asks which key the alias points at, to report it with the
// reason. Concurrent calls share one check. There is no cache: the apiserver already calls Status rarely (every
// minute, every 10 s while unhealthy, and from health probes it caches for 20 s / 3 s), so a cache would save the
// KMS almost nothing and only make Status claim "ok" for a key that can no longer encrypt.
func (p *plugin) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
	p.mu.Lock()
	c := p.check
	if c == nil {
		c = &healthCheck{done: make(chan struct{})}
		p.check = c
		go func() {
			c.result, c.err = p.checkHealth()
			p.mu.Lock()
			p.check = nil
			p.mu.Unlock()
			close(c.done)
		}()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.result, c.err
	case <-ctx.Done():
		return nil, status.Error(codes.DeadlineExceeded, "health check of "+p.alias+" did not finish in time")
	}
}

func (p *plugin) checkHealth() (*kmsservice.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	started := time.Now()
	out, err := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.Encrypt(ctx, &kms.EncryptInput{
			KeyId: aws.String(p.alias), Plaintext: healthProbe, EncryptionContext: healthContext,
		})
	})
	if err == nil {
		keyID := aws.ToString(out.(*kms.EncryptOutput).KeyId)
		p.remember(keyID)
		p.log.Debug("status", "key_id", keyID, "healthz", "ok", "took", time.Since(started))
		return &kmsservice.StatusResponse{Version: apiVersion, Healthz: "ok", KeyID: keyID}, nil
	}
	reason := describe("Encrypt with "+p.alias, err)
	keyID := p.remembered()
	if d, derr := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(p.alias)})
	}); derr == nil {
		meta := d.(*kms.DescribeKeyOutput).KeyMetadata
		keyID = aws.ToString(meta.Arn)
		p.remember(keyID)
		reason = fmt.Errorf("key %s is %s: %w", keyID, meta.KeyState, reason)
	}
	p.log.Warn("status", "key_id", keyID, "healthz", "err", "reason", reason.Error(), "took", time.Since(started))
	if keyID == "" {
		// No key has ever been seen and none can be named now: an empty key_id would be invalid, so fail the call.
		return nil, status.Error(codes.Unavailable, "no key_id known yet: "+reason.Error())
	}
	return &kmsservice.StatusResponse{Version: apiVersion, Healthz: "err: " + reason.Error(), KeyID: keyID}, nil
}

// Encrypt wraps the apiserver's DEK seed with the key behind the alias and reports that key as key_id.
func (p *plugin) Encrypt(ctx context.Context, uid string, plaintext []byte) (*kmsservice.EncryptResponse, error) {
	if err := checkUID(uid); err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || len(plaintext) > maxPlaintext {
		return nil, status.Errorf(codes.InvalidArgument, "plaintext is %d bytes; the KMS encrypts 1…%d", len(plaintext), maxPlaintext)
	}
	started := time.Now()
	out, err := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.Encrypt(ctx, &kms.EncryptInput{
			KeyId: aws.String(p.alias), Plaintext: plaintext, EncryptionContext: encryptionContext,
		})
	})
	if err != nil {
		p.log.Warn("encrypt", "uid", uid, "alias", p.alias, "error", err, "took", time.Since(started))
		return nil, grpcError("Encrypt with "+p.alias, err)
	}
	res := out.(*kms.EncryptOutput)
	keyID := aws.ToString(res.KeyId)
	if !keyARN.MatchString(keyID) || len(res.CiphertextBlob) == 0 {
		return nil, status.Errorf(codes.Internal, "the KMS answered Encrypt with key %q and %d bytes of ciphertext", keyID, len(res.CiphertextBlob))
	}
	p.remember(keyID)
	p.log.Info("encrypt", "uid", uid, "key_id", keyID, "ciphertext_bytes", len(res.CiphertextBlob), "took", time.Since(started))
	return &kmsservice.EncryptResponse{Ciphertext: res.CiphertextBlob, KeyID: keyID}, nil
}

// Decrypt unwraps a DEK seed with the key the request names, never with the alias: a key_id that is not a key ARN is
// refused here, and the KMS must have decrypted with exactly that key, else the plaintext is withheld.
//
// The key is not passed to the KMS as KeyId, on purpose: local-kms then ignores the key reference inside the
// ciphertext, so those bytes are authenticated by nothing and an altered ciphertext still decrypts. Without KeyId the
// KMS must read that reference, so every altered byte is refused; the key that decrypted is checked afterwards.
func (p *plugin) Decrypt(ctx context.Context, uid string, req *kmsservice.DecryptRequest) ([]byte, error) {
	if err := checkUID(uid); err != nil {
		return nil, err
	}
	if len(req.KeyID) > maxKeyID || !keyARN.MatchString(req.KeyID) {
		return nil, status.Errorf(codes.InvalidArgument, "key_id %q is not a KMS key ARN this plugin wrote", truncate(req.KeyID, 120))
	}
	if len(req.Ciphertext) < minCiphertext || len(req.Ciphertext) > maxCiphertext {
		return nil, status.Errorf(codes.InvalidArgument, "ciphertext is %d bytes; this KMS's ciphertexts are %d…%d", len(req.Ciphertext), minCiphertext, maxCiphertext)
	}
	started := time.Now()
	out, err := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: req.Ciphertext, EncryptionContext: encryptionContext})
	})
	if err != nil {
		err = p.explainDecryptFailure(ctx, req.KeyID, err)
		p.log.Warn("decrypt", "uid", uid, "key_id", req.KeyID, "error", err, "took", time.Since(started))
		return nil, err
	}
	res := out.(*kms.DecryptOutput)
	if got := aws.ToString(res.KeyId); got != req.KeyID {
		p.log.Warn("decrypt", "uid", uid, "key_id", req.KeyID, "error", "made by another key", "decrypted_by", got)
		return nil, status.Errorf(codes.InvalidArgument, "the ciphertext was made by key %q, not by key_id %q", got, req.KeyID)
	}
	p.log.Info("decrypt", "uid", uid, "key_id", req.KeyID, "took", time.Since(started))
	return res.Plaintext, nil
}

// explainDecryptFailure turns a Decrypt failure into a gRPC status. The KMS answers AccessDeniedException, with the
// same words, both when the key is disabled or pending deletion and when the ciphertext names a key that does not exist
// (it was altered); asking for the key_id's state tells the two apart, so that the code says which it is.
func (p *plugin) explainDecryptFailure(ctx context.Context, keyID string, err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
		return grpcError("Decrypt with "+keyID, err)
	}
	out, derr := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	})
	if derr != nil {
		return grpcError("Decrypt with "+keyID+" (refused: "+api.ErrorCode()+"); DescribeKey", derr)
	}
	meta := out.(*kms.DescribeKeyOutput).KeyMetadata
	if meta.KeyState != types.KeyStateEnabled {
		return status.Errorf(codes.FailedPrecondition, "Decrypt with %s: the key is %s (the KMS said %s)", keyID, meta.KeyState, api.ErrorCode())
	}
	return status.Errorf(codes.InvalidArgument, "Decrypt with %s: the key is enabled, but the ciphertext does not name it or a key the KMS knows: it was not made by this plugin or was altered (%s)", keyID, api.ErrorCode())
}

// call runs one KMS request within the plugin's timeout, when one of the in-flight slots is free.
func (p *plugin) call(ctx context.Context, fn func(context.Context) (any, error)) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for one of %d KMS call slots: %w", cap(p.slots), ctx.Err())
	}
	defer func() { <-p.slots }()
	return fn(ctx)
}

func (p *plugin) remember(keyID string) {
	p.mu.Lock()
	p.lastKeyID = keyID
	p.mu.Unlock()
}

func (p *plugin) remembered() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastKeyID
}

func checkUID(uid string) error {
	if uid == "" {
		return status.Error(codes.InvalidArgument, "uid is empty; the apiserver sends a fresh one with every call")
	}
	if len(uid) > maxUID {
		return status.Errorf(codes.InvalidArgument, "uid is %d bytes; at most %d", len(uid), maxUID)
	}
	return nil
}

// grpcError turns a KMS failure into a gRPC status whose code says what the caller can do about it.
func grpcError(op string, err error) error {
	code := codes.Internal
	var api smithy.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "DisabledException", "KMSInvalidStateException", "KeyUnavailableException", "InvalidKeyUsageException":
			code = codes.FailedPrecondition
		case "NotFoundException", "InvalidArnException":
			code = codes.NotFound
		case "InvalidCiphertextException", "IncorrectKeyException", "ValidationException", "InvalidGrantTokenException":
			code = codes.InvalidArgument
		case "AccessDeniedException", "NotAuthorizedException":
			code = codes.PermissionDenied
		case "ThrottlingException", "LimitExceededException":
			code = codes.ResourceExhausted
		case "DependencyTimeoutException", "KMSInternalException", "InternalFailureException", "ServiceUnavailableException":
			code = codes.Unavailable
		}
	default:
		var netErr net.Error
		var opErr *net.OpError
		if errors.As(err, &netErr) || errors.As(err, &opErr) {
			code = codes.Unavailable
		}
	}
	return status.Error(code, describe(op, err).Error())
}

// describe says what failed in one line: the KMS's error code and message, or the transport error, without the SDK's
// long operation prefix.
func describe(op string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		msg := api.ErrorMessage()
		switch {
		case msg != "":
		case api.ErrorCode() == "InvalidCiphertextException":
			msg = "the ciphertext was not made by this key with this plugin's encryption context, or it was altered"
		default:
			msg = "no message from the KMS"
		}
		return fmt.Errorf("%s: %s: %s", op, api.ErrorCode(), msg)
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return fmt.Errorf("%s: the KMS is unreachable: %v", op, netErr)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
