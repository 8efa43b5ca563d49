package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	kmsservice "k8s.io/kms/pkg/service"
	"k8s.io/kms/pkg/util"
)

const (
	apiVersion = "v2"
	// healthCheckText is what ack-kms-plugin's Status encrypts and decrypts.
	healthCheckText = "healthcheck"
	// The annotations ack-kms-plugin adds to every EncryptResponse.
	annotationKeyVersion = "x-acs-kms-key-version-id.ack.alibabacloud.com"
	annotationRegion     = "x-acs-kms-region-id.ack.alibabacloud.com"
	annotationRequestID  = "x-acs-request-id.ack.alibabacloud.com"
	maxUID               = 128
	// maxPlaintext: KMS Encrypt takes at most 6 KiB of plaintext.
	maxPlaintext  = 6144
	maxCiphertext = 16384
)

// plugin implements k8s.io/kms/pkg/service.Service on one Alibaba Cloud KMS key.
type plugin struct {
	kms *kmsClient
	key keySource
	log *slog.Logger
	// verifyKeyID: Decrypt refuses a ciphertext KMS says another key made than the request's key_id. Off by default,
	// as in ack-kms-plugin, which sends the ciphertext alone and never looks at key_id.
	verifyKeyID bool
}

var _ kmsservice.Service = (*plugin)(nil)

// keySource names the key the plugin uses: fixed (--key-id) or read from a file (--key-id-file), so that a key
// change needs no restart. Either way key_id is that key id.
type keySource struct {
	fixed string
	file  string

	mu      sync.Mutex
	modTime time.Time
	cached  string
}

func (k *keySource) current() (string, error) {
	if k.file == "" {
		return k.fixed, nil
	}
	info, err := os.Stat(k.file)
	if err != nil {
		return "", status.Errorf(codes.FailedPrecondition, "--key-id-file: %v", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cached != "" && info.ModTime().Equal(k.modTime) {
		return k.cached, nil
	}
	raw, err := os.ReadFile(k.file)
	if err != nil {
		return "", status.Errorf(codes.FailedPrecondition, "--key-id-file: %v", err)
	}
	id := strings.TrimSpace(string(raw))
	if id == "" || len(id) > 1024 {
		return "", status.Errorf(codes.FailedPrecondition, "--key-id-file %s holds no key id", k.file)
	}
	k.cached, k.modTime = id, info.ModTime()
	return id, nil
}

// Status encrypts and decrypts "healthcheck" with the key, as ack-kms-plugin does: 2 KMS calls, and any failure
// fails the RPC (the apiserver then stops extending its write key; an "ok" with an error text would not).
func (p *plugin) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
	keyID, err := p.key.current()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	enc, err := within(ctx, func() (encrypted, error) { return p.kms.encrypt(keyID, []byte(healthCheckText)) })
	if err != nil {
		err = grpcError("Status: Encrypt with "+keyID, err)
		p.log.Warn("status", "key_id", keyID, "error", err, "took", time.Since(started))
		return nil, err
	}
	dec, err := within(ctx, func() (decrypted, error) { return p.kms.decrypt(enc.ciphertext) })
	if err != nil {
		err = grpcError("Status: Decrypt of the health check", err)
		p.log.Warn("status", "key_id", keyID, "error", err, "took", time.Since(started))
		return nil, err
	}
	if string(dec.plaintext) != healthCheckText {
		return nil, status.Error(codes.Internal, "Status: the health check decrypted to other bytes")
	}
	p.log.Debug("status", "key_id", keyID, "key_version", enc.keyVersionID, "took", time.Since(started))
	return &kmsservice.StatusResponse{Version: apiVersion, Healthz: "ok", KeyID: keyID}, nil
}

// Encrypt wraps a DEK seed with the key's primary version; key_id is the key id, the version an annotation.
func (p *plugin) Encrypt(ctx context.Context, uid string, plaintext []byte) (*kmsservice.EncryptResponse, error) {
	if err := checkUID(uid); err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || len(plaintext) > maxPlaintext {
		return nil, status.Errorf(codes.InvalidArgument, "plaintext is %d bytes; KMS encrypts 1…%d", len(plaintext), maxPlaintext)
	}
	keyID, err := p.key.current()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	enc, err := within(ctx, func() (encrypted, error) { return p.kms.encrypt(keyID, plaintext) })
	if err != nil {
		err = grpcError("Encrypt with "+keyID, err)
		p.log.Warn("encrypt", "uid", uid, "key_id", keyID, "error", err, "took", time.Since(started))
		return nil, err
	}
	p.log.Info("encrypt", "uid", uid, "key_id", keyID, "key_version", enc.keyVersionID, "took", time.Since(started))
	annotations := map[string][]byte{annotationRegion: []byte(p.kms.region)}
	if enc.keyVersionID != "" {
		annotations[annotationKeyVersion] = []byte(enc.keyVersionID)
	}
	if enc.requestID != "" {
		annotations[annotationRequestID] = []byte(enc.requestID)
	}
	return &kmsservice.EncryptResponse{Ciphertext: []byte(enc.ciphertext), KeyID: keyID, Annotations: annotations}, nil
}

// Decrypt sends the ciphertext alone: KMS reads the key and version from it. The request's key_id is not used, as in
// ack-kms-plugin (docs/cloud.md: the conformance check that flags this is a recommendation).
func (p *plugin) Decrypt(ctx context.Context, uid string, req *kmsservice.DecryptRequest) ([]byte, error) {
	if err := checkUID(uid); err != nil {
		return nil, err
	}
	if len(req.Ciphertext) == 0 || len(req.Ciphertext) > maxCiphertext {
		return nil, status.Errorf(codes.InvalidArgument, "ciphertext is %d bytes; want 1…%d", len(req.Ciphertext), maxCiphertext)
	}
	started := time.Now()
	out, err := within(ctx, func() (decrypted, error) { return p.kms.decrypt(string(req.Ciphertext)) })
	if err != nil {
		err = grpcError("Decrypt", err)
		p.log.Warn("decrypt", "uid", uid, "key_id", req.KeyID, "error", err, "took", time.Since(started))
		return nil, err
	}
	if p.verifyKeyID && out.keyID != req.KeyID {
		p.log.Warn("decrypt", "uid", uid, "key_id", req.KeyID, "error", "made by another key", "decrypted_by", out.keyID)
		return nil, status.Errorf(codes.InvalidArgument, "Decrypt: the ciphertext was made by key %q, not by key_id %q", out.keyID, req.KeyID)
	}
	p.log.Info("decrypt", "uid", uid, "key_id", req.KeyID, "key_version", out.keyVersionID, "took", time.Since(started))
	return out.plaintext, nil
}

// within runs a KMS call and gives up when the caller's deadline passes first. The SDK takes no context, so the call
// itself is bounded by --timeout; this keeps the answer inside the apiserver's deadline when that is shorter.
func within[T any](ctx context.Context, call func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
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

func serve(log *slog.Logger, args []string) error {
	fs, f := newFlags("serve")
	socket := fs.String("socket", os.Getenv("KMSLAB_PLUGIN_SOCKET"), "unix socket to serve KMS v2 on (path or unix:// URL)")
	keyID := fs.String("key-id", "", "the KMS key id (reported as key_id)")
	keyIDFile := fs.String("key-id-file", "", "a file holding the KMS key id, read again when it changes")
	verifyKeyID := fs.Bool("verify-key-id", false, "Decrypt refuses a ciphertext of another key than its key_id (ack-kms-plugin ignores key_id)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if (*keyID == "") == (*keyIDFile == "") {
		return usageError{"give exactly one of --key-id or --key-id-file"}
	}
	interval, err := credentialInterval()
	if err != nil {
		return err
	}
	path, err := socketPath(*socket)
	if err != nil {
		return usageError{err.Error()}
	}
	client, fetch, temporary, err := newKMSClient(f)
	if err != nil {
		return err
	}
	p := &plugin{kms: client, key: keySource{fixed: *keyID, file: *keyIDFile}, log: log, verifyKeyID: *verifyKeyID}
	if _, err := p.key.current(); err != nil {
		return usageError{status.Convert(err).Message()}
	}
	if err := clearStaleSocket(path); err != nil {
		return err
	}
	stop := make(chan struct{})
	defer close(stop)
	if temporary {
		go client.refreshEvery(log, interval, fetch, stop)
	}
	// The server's own timeout covers the whole RPC; each KMS call inside it has --timeout.
	grpcServer := kmsservice.NewGRPCService(path, 3*time.Second, p)
	old := syscall.Umask(0o177) // the socket is 0600 from its first instant
	served := make(chan error, 1)
	go func() { served <- grpcServer.ListenAndServe() }()
	err = waitForSocket(path, served)
	syscall.Umask(old)
	if err != nil {
		return err
	}
	log.Info("serving KMS v2", "socket", path, "kms_domain", client.domain, "region", client.region,
		"key_id_file", *keyIDFile, "key_id", *keyID, "timeout", f.timeout, "temporary_credentials", temporary)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-signals:
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

// socketPath accepts a path or a unix:// URL. Abstract sockets are refused: they have no file mode.
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
	return raw, nil
}

// clearStaleSocket removes a socket left by a killed plugin, and refuses a live one or a file that is not a socket.
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
