// Command local-kms is kmslab's build of nsmithuk/local-kms, an emulator of the AWS KMS API. It serves the upstream
// request handler and key database unchanged, but listens on a loopback address only and is configured by flags.
//
// Why a wrapper and not upstream's main: upstream listens on ":$PORT", i.e. on every interface, an unauthenticated
// KMS that any host on the network could use. It is otherwise configured by environment variables (KMS_DATA_PATH,
// default /tmp/local-kms, shared by every instance on the machine; KMS_REGION, default eu-west-2; KMS_ACCOUNT_ID,
// default 111122223333; KMS_SEED_PATH, default /init/seed.yaml). The seed file is only read by upstream's Run, so
// this build does not seed: kmslab creates its keys through the KMS API (the aws-kms-plugin `init` hook).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

// maxRequestBytes bounds a request body: the largest KMS request (a 6144-byte ciphertext, base64 in JSON) is far below.
const maxRequestBytes = 1 << 20

func main() {
	flags := flag.NewFlagSet("local-kms", flag.ContinueOnError)
	listen := flags.String("listen", "127.0.0.1:0", "loopback address to serve the KMS API on (port 0: any free port)")
	dataDir := flags.String("data-dir", "", "directory of the key database (created 0700; required)")
	region := flags.String("region", "eu-west-2", "region in the ARNs of keys and aliases")
	account := flags.String("account-id", "111122223333", "account id in the ARNs of keys and aliases")
	addrFile := flags.String("address-file", "", "write the URL served on to this file once listening")
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), "usage: local-kms --data-dir DIR [--listen 127.0.0.1:PORT] [--region R] [--account-id ID] [--address-file FILE]")
		flags.PrintDefaults()
	}
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if flags.NArg() > 0 {
		usage(flags, fmt.Sprintf("unexpected argument %q", flags.Arg(0)))
	}
	if *dataDir == "" {
		usage(flags, "--data-dir is required")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		usage(flags, fmt.Sprintf("--listen %q: %v", *listen, err))
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		usage(flags, fmt.Sprintf("--listen %q: only a loopback address is allowed (the emulator has no authentication)", *listen))
	}

	dir, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		fail("data dir %s: %v", *dataDir, err)
	}
	config.AWSRegion = *region
	config.AWSAccountId = *account
	config.DatabasePath = dir

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail("listen on %s: %v", *listen, err)
	}
	database, err := openDatabase(dir)
	if err != nil {
		ln.Close()
		fail("key database in %s: %v", dir, err)
	}

	server := &http.Server{
		Handler: http.MaxBytesHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			src.HandleRequest(w, r, database)
		}), maxRequestBytes),
		ReadHeaderTimeout: 10 * time.Second,
	}
	url := "http://" + ln.Addr().String()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(url+"\n"), 0o600); err != nil {
			fail("address file: %v", err)
		}
	}
	fmt.Printf("local-kms listening on %s, keys in %s, region %s, account %s\n", url, dir, *region, *account)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()

	select {
	case sig := <-stop:
		fmt.Printf("local-kms: %s, shutting down\n", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = server.Shutdown(ctx)
		cancel()
		database.Close()
	case err := <-served:
		database.Close()
		if !errors.Is(err, http.ErrServerClosed) {
			fail("serve: %v", err)
		}
	}
}

// openDatabase opens upstream's leveldb key store, turning its panic (e.g. the directory is locked by another
// local-kms) into an error.
func openDatabase(dir string) (db *data.Database, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return data.NewDatabase(dir), nil
}

func usage(flags *flag.FlagSet, msg string) {
	fmt.Fprintln(os.Stderr, "local-kms:", msg)
	flags.Usage()
	os.Exit(2)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "local-kms: "+format+"\n", args...)
	os.Exit(1)
}
