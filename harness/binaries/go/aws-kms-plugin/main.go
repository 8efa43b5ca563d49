// Command aws-kms-plugin is kmslab's KMS v2 plugin built on third-party code only: the upstream plugin gRPC server
// (k8s.io/kms/pkg/service) and the AWS SDK for Go v2 (KMS, STS, and its credential chain). Its KMS is an AWS KMS API
// on this machine: kmslab's AWS front (kmslab cloud serve aws, HTTPS, SigV4, real identities) or local-kms (plain HTTP,
// no authentication). It never talks to a remote endpoint and never asks the EC2 instance metadata service.
//
// Two styles (--style), each documented with its sources in docs/cloud.md:
//
//   - kmslab (default): the key is named by an alias; Status and Encrypt report the ARN of the key the alias points at,
//     so a rotation (a new key behind the alias) gives a new key_id; Status checks the key live on every call and
//     answers healthz "err: <reason>" with the key's ARN when the KMS refuses; Decrypt must be opened by the key
//     key_id names. Version v2.
//   - aws-encryption-provider: behaves as kubernetes-sigs/aws-encryption-provider does: key_id is the configured key
//     (--key-id, its --key) and never changes, also across an AWS rotation (RotateKeyOnDemand keeps the ARN); Status
//     encrypts and decrypts a probe at most once per --health-cache (30 s) and answers healthz "err" with the same
//     key_id when that fails (kubernetes#138950); a failed Encrypt or Decrypt marks health "err" at once; ciphertexts
//     carry its "1" prefix; Decrypt ignores key_id unless --verify-key-id. Version v2beta1.
//
// Region, endpoint and credentials are explicit: --region or AWS_REGION (refused without one, except on a plain-HTTP
// local-kms endpoint, which defaults to eu-west-2); --kms-endpoint or AWS_ENDPOINT_URL_KMS, on a loopback host; trust
// from SSL_CERT_FILE or AWS_CA_BUNDLE. Credentials, in order: --credentials-file (a 0600 JSON file of static keys),
// else the SDK's chain without instance metadata and without ~/.aws: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/
// AWS_SESSION_TOKEN], AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (AssumeRoleWithWebIdentity, as on EKS with IRSA),
// AWS_CONTAINER_CREDENTIALS_FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN, as EKS Pod Identity), or a shared
// credentials file named by AWS_SHARED_CREDENTIALS_FILE; --role-arn then assumes a role with those. Temporary
// credentials are refreshed before they expire; a refresh that fails is retried on the next call. A plain-HTTP
// endpoint with no credentials gets dummy ones (local-kms checks none).
//
// Subcommands, for the key hooks kmslab runs as shell commands; each prints a key ARN and exits 0 when done:
//
//	aws-kms-plugin serve   --socket PATH [KMS FLAGS] (--alias alias/NAME | --style aws-encryption-provider --key-id KEY)
//	                       [--timeout 2s] [--max-in-flight 64] [--health-cache 30s] [--verify-key-id]
//	aws-kms-plugin init    [KMS FLAGS] --alias alias/NAME   first key and the alias (does nothing if it exists)
//	aws-kms-plugin rotate  [KMS FLAGS] --alias alias/NAME   a new key, the alias re-pointed at it (a new key_id)
//	aws-kms-plugin current [KMS FLAGS] --alias alias/NAME   the key the alias points at
//	aws-kms-plugin disable | enable | destroy | cancel-deletion | rotate-on-demand [KMS FLAGS] KEY
//	                       KEY: a key ARN or id, else $KMSLAB_KEY_ID; destroy schedules deletion (7 days);
//	                       rotate-on-demand is AWS's RotateKeyOnDemand (new key material, the same ARN)
//	aws-kms-plugin sdk-call whoami | encrypt | decrypt | describe [KMS FLAGS] [--key KEY] [--plaintext TEXT]
//	                       [--ciphertext BASE64]: one call through the SDK, the answer or the error (code, HTTP
//	                       status) as JSON on stdout: a probe of identity, endpoint and trust
//
// KMS FLAGS: --kms-endpoint URL --region R --credentials-file FILE --role-arn ARN --role-session-name NAME
// --sts-endpoint URL --timeout D. Exit codes: 0 done, 1 the KMS or the socket failed, 2 bad usage.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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
	// localKMSRegion is local-kms's default region, used for a plain-HTTP endpoint when no region is given.
	localKMSRegion = "eu-west-2"
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
	case "disable", "enable", "destroy", "cancel-deletion", "rotate-on-demand":
		err = keyHook(cmd, args)
	case "sdk-call":
		err = sdkCall(args)
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
  aws-kms-plugin serve   --socket PATH [KMS FLAGS] --alias alias/NAME [--timeout 2s] [--max-in-flight 64]
  aws-kms-plugin serve   --socket PATH [KMS FLAGS] --style aws-encryption-provider --key-id KEY [--health-cache 30s] [--verify-key-id]
  aws-kms-plugin init    [KMS FLAGS] --alias alias/NAME
  aws-kms-plugin rotate  [KMS FLAGS] --alias alias/NAME
  aws-kms-plugin current [KMS FLAGS] --alias alias/NAME
  aws-kms-plugin disable | enable | destroy | cancel-deletion | rotate-on-demand [KMS FLAGS] KEY   (KEY: key ARN or id; default $KMSLAB_KEY_ID)
  aws-kms-plugin sdk-call whoami | encrypt | decrypt | describe [KMS FLAGS] [--key KEY] [--plaintext TEXT] [--ciphertext BASE64]
KMS FLAGS: --kms-endpoint URL (or AWS_ENDPOINT_URL_KMS; a loopback http(s) URL), --region R (or AWS_REGION; required
unless the endpoint is plain-HTTP local-kms), --credentials-file FILE, --role-arn ARN, --role-session-name NAME,
--sts-endpoint URL (or AWS_ENDPOINT_URL_STS), --timeout 2s. Without --credentials-file the SDK's chain is used
(environment keys, web identity, container credentials; never instance metadata).
--socket defaults to $KMSLAB_PLUGIN_SOCKET.`

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// kmsFlags are the flags every command shares.
type kmsFlags struct {
	endpoint        string
	alias           string
	region          string
	credentialsFile string
	roleARN         string
	roleSession     string
	stsEndpoint     string
	timeout         time.Duration
}

func newFlags(cmd string, withAlias bool) (*flag.FlagSet, *kmsFlags) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &kmsFlags{}
	fs.StringVar(&f.endpoint, "kms-endpoint", "", "AWS KMS API endpoint (loopback only); default $AWS_ENDPOINT_URL_KMS")
	if withAlias {
		fs.StringVar(&f.alias, "alias", "", "KMS alias naming the current key, e.g. alias/kmslab")
	}
	fs.StringVar(&f.region, "region", "", "AWS region; default $AWS_REGION, $AWS_DEFAULT_REGION")
	fs.StringVar(&f.credentialsFile, "credentials-file", "", `JSON file {"accessKeyId","secretAccessKey"[,"sessionToken"]}`)
	fs.StringVar(&f.roleARN, "role-arn", "", "assume this role (STS AssumeRole) with the credentials found")
	fs.StringVar(&f.roleSession, "role-session-name", "kmslab-kms-plugin", "session name when assuming --role-arn")
	fs.StringVar(&f.stsEndpoint, "sts-endpoint", "", "AWS STS endpoint (loopback only); default $AWS_ENDPOINT_URL_STS")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Second, "deadline of each KMS call")
	return fs, f
}

// parse reads the shared flags and builds the KMS client (and the config, for STS) they describe. Flags may come after
// the positional arguments too (`disable {keyId} --credentials-file F`, as a hook command is naturally written);
// fs.Args() then holds the positionals alone.
func parse(fs *flag.FlagSet, f *kmsFlags, args []string) (*kms.Client, aws.Config, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, aws.Config{}, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional, args = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
	_ = fs.Parse(append([]string{"--"}, positional...))
	if f.timeout <= 0 || f.timeout > time.Minute {
		return nil, aws.Config{}, usageError{fmt.Sprintf("--timeout %s: must be more than 0 and at most 1m", f.timeout)}
	}
	if fs.Lookup("alias") != nil && (f.alias != "" || fs.Name() != "serve") {
		if !strings.HasPrefix(f.alias, "alias/") || len(f.alias) <= len("alias/") || strings.HasPrefix(f.alias, "alias/aws/") {
			return nil, aws.Config{}, usageError{fmt.Sprintf("--alias %q: must be alias/NAME (and not alias/aws/…)", f.alias)}
		}
	}
	cfg, endpoint, err := awsConfig(f)
	if err != nil {
		return nil, aws.Config{}, err
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(endpoint) }), cfg, nil
}

// awsConfig resolves region, endpoints and credentials, refusing anything that could reach beyond this machine.
func awsConfig(f *kmsFlags) (aws.Config, string, error) {
	// No SDK component may ask the EC2 instance metadata service for anything (region, credentials).
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	endpoint := firstOf(f.endpoint, os.Getenv("AWS_ENDPOINT_URL_KMS"), os.Getenv("AWS_ENDPOINT_URL"))
	endpoint, err := loopbackEndpoint("--kms-endpoint", endpoint)
	if err != nil {
		return aws.Config{}, "", usageError{err.Error()}
	}
	plainHTTP := strings.HasPrefix(endpoint, "http://")
	region := firstOf(f.region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	if region == "" && plainHTTP {
		region = localKMSRegion
	}
	if region == "" {
		return aws.Config{}, "", usageError{"no region: pass --region or set AWS_REGION (the plugin never asks instance metadata for one)"}
	}
	if os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" {
		return aws.Config{}, "", usageError{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points at 169.254.170.2; give AWS_CONTAINER_CREDENTIALS_FULL_URI on a loopback host instead"}
	}
	if u := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"); u != "" {
		if _, err := loopbackEndpoint("AWS_CONTAINER_CREDENTIALS_FULL_URI", u); err != nil {
			return aws.Config{}, "", usageError{err.Error()}
		}
	}
	stsEndpoint := firstOf(f.stsEndpoint, os.Getenv("AWS_ENDPOINT_URL_STS"), os.Getenv("AWS_ENDPOINT_URL"))
	if stsEndpoint != "" {
		if stsEndpoint, err = loopbackEndpoint("--sts-endpoint", stsEndpoint); err != nil {
			return aws.Config{}, "", usageError{err.Error()}
		}
		// The SDK's STS clients (web identity, AssumeRole) read it from here.
		os.Setenv("AWS_ENDPOINT_URL_STS", stsEndpoint)
	}
	webIdentity := os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != ""
	if (webIdentity || f.roleARN != "") && stsEndpoint == "" {
		return aws.Config{}, "", usageError{"a role needs STS: pass --sts-endpoint or set AWS_ENDPOINT_URL_STS (a loopback URL)"}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithRetryMaxAttempts(2),
	}
	// Never ~/.aws: a shared file is read only when one is named explicitly.
	if os.Getenv("AWS_SHARED_CREDENTIALS_FILE") == "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{}))
	}
	if os.Getenv("AWS_CONFIG_FILE") == "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{}))
	}
	envSource := os.Getenv("AWS_ACCESS_KEY_ID") != "" || webIdentity ||
		os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "" || os.Getenv("AWS_SHARED_CREDENTIALS_FILE") != ""
	switch {
	case f.credentialsFile != "":
		static, err := readCredentialsFile(f.credentialsFile)
		if err != nil {
			return aws.Config{}, "", usageError{err.Error()}
		}
		opts = append(opts, config.WithCredentialsProvider(static))
	case !envSource && plainHTTP:
		// local-kms checks no credentials; dummy ones keep real ones from ever being picked up and sent.
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("KMSLABDUMMYACCESSKEY", "kmslab-dummy-secret", "")))
	case !envSource:
		return aws.Config{}, "", usageError{"no credentials: pass --credentials-file, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or AWS_CONTAINER_CREDENTIALS_FULL_URI"}
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return aws.Config{}, "", fmt.Errorf("AWS SDK configuration: %w", err)
	}
	if f.roleARN != "" {
		client := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(stsEndpoint) })
		cfg.Credentials = aws.NewCredentialsCache(
			stscreds.NewAssumeRoleProvider(client, f.roleARN, func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = f.roleSession }),
			// Refresh a little before the end, so a call is never signed with credentials about to expire.
			func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 10 * time.Second },
		)
	}
	return cfg, endpoint, nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// readCredentialsFile reads static keys from a file only its owner can read (they are long-term secrets).
func readCredentialsFile(path string) (aws.CredentialsProvider, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--credentials-file: %v", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("--credentials-file %s is %04o; keys belong in a file only its owner can read (chmod 600)", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--credentials-file: %v", err)
	}
	var c struct{ AccessKeyID, SecretAccessKey, SessionToken string }
	if err := json.Unmarshal(data, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return nil, fmt.Errorf(`--credentials-file %s: expected JSON {"accessKeyId": …, "secretAccessKey": …}`, path)
	}
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken), nil
}

// loopbackEndpoint accepts an http(s) URL whose host is a loopback address: the plugin talks to an emulator on this
// machine, never to a remote KMS.
func loopbackEndpoint(flagName, raw string) (string, error) {
	if raw == "" {
		return "", errors.New("--kms-endpoint is required (or set AWS_ENDPOINT_URL_KMS)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s %q: must be an http(s) URL such as http://127.0.0.1:4599", flagName, raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("%s %q: only a loopback host is allowed", flagName, raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// aliasHook runs init, rotate and current: the commands that act on the alias.
func aliasHook(cmd string, args []string) error {
	fs, f := newFlags(cmd, true)
	client, _, err := parse(fs, f, args)
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

// keyHook runs disable, enable, destroy, cancel-deletion and rotate-on-demand on one key, named by its ARN or id (never
// an alias: a hook acts on the key_id the plugin reported, which stays put when the alias moves on).
func keyHook(cmd string, args []string) error {
	fs, f := newFlags(cmd, false)
	client, _, err := parse(fs, f, args)
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
	case "cancel-deletion":
		_, err = client.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(key)})
	case "rotate-on-demand":
		_, err = client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(key)})
	}
	if err != nil {
		return describe(cmd+" "+key, err)
	}
	fmt.Println(key)
	return nil
}

// sdkAnswer is what sdk-call prints: the call's result, or the service's error as the SDK parsed it.
type sdkAnswer struct {
	OK         bool   `json:"ok"`
	KeyID      string `json:"keyId,omitempty"`
	Arn        string `json:"arn,omitempty"`
	KeyState   string `json:"keyState,omitempty"`
	Ciphertext string `json:"ciphertext,omitempty"`
	Plaintext  string `json:"plaintext,omitempty"`
	Code       string `json:"code,omitempty"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
	Message    string `json:"message,omitempty"`
}

// sdkCall makes one call through the SDK with the plugin's own configuration, and prints what came back: a probe of
// credentials, endpoint and trust that a person (or a test) can read. Exit 0 whatever the service answered.
func sdkCall(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"sdk-call needs an operation: whoami, encrypt, decrypt or describe"}
	}
	op, args := args[0], args[1:]
	fs, f := newFlags("sdk-call", false)
	key := fs.String("key", "", "key id, ARN or alias (encrypt, describe)")
	plaintext := fs.String("plaintext", "", "text to encrypt")
	ciphertext := fs.String("ciphertext", "", "base64 ciphertext to decrypt")
	client, cfg, err := parse(fs, f, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*f.timeout)
	defer cancel()
	var a sdkAnswer
	switch op {
	case "whoami":
		var out *sts.GetCallerIdentityOutput
		if out, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
			a = sdkAnswer{Arn: aws.ToString(out.Arn)}
		}
	case "encrypt":
		var out *kms.EncryptOutput
		if out, err = client.Encrypt(ctx, &kms.EncryptInput{KeyId: key, Plaintext: []byte(*plaintext)}); err == nil {
			a = sdkAnswer{KeyID: aws.ToString(out.KeyId), Ciphertext: base64.StdEncoding.EncodeToString(out.CiphertextBlob)}
		}
	case "decrypt":
		blob, derr := base64.StdEncoding.DecodeString(*ciphertext)
		if derr != nil {
			return usageError{"--ciphertext must be base64"}
		}
		var out *kms.DecryptOutput
		if out, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob}); err == nil {
			a = sdkAnswer{KeyID: aws.ToString(out.KeyId), Plaintext: string(out.Plaintext)}
		}
	case "describe":
		var out *kms.DescribeKeyOutput
		if out, err = client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key}); err == nil {
			a = sdkAnswer{KeyID: aws.ToString(out.KeyMetadata.KeyId), Arn: aws.ToString(out.KeyMetadata.Arn), KeyState: string(out.KeyMetadata.KeyState)}
		}
	default:
		return usageError{fmt.Sprintf("unknown operation %q: whoami, encrypt, decrypt or describe", op)}
	}
	a.OK = err == nil
	if err != nil {
		var api smithy.APIError
		var resp *awshttp.ResponseError
		if errors.As(err, &api) {
			a.Code, a.Message = api.ErrorCode(), api.ErrorMessage()
		} else {
			a.Message = err.Error()
		}
		if errors.As(err, &resp) {
			a.HTTPStatus = resp.HTTPStatusCode()
		}
	}
	return json.NewEncoder(os.Stdout).Encode(a)
}

func serve(log *slog.Logger, args []string) error {
	fs, f := newFlags("serve", true)
	socket := fs.String("socket", os.Getenv("KMSLAB_PLUGIN_SOCKET"), "unix socket to serve KMS v2 on (path or unix:// URL)")
	inFlight := fs.Int("max-in-flight", 64, "KMS calls at once; more wait for a slot within their deadline")
	style := fs.String("style", "kmslab", "kmslab or aws-encryption-provider")
	keyID := fs.String("key-id", "", "aws-encryption-provider style: the key (ARN) every call uses and Status reports")
	healthCache := fs.Duration("health-cache", 30*time.Second, "aws-encryption-provider style: how long a health check result is reused")
	verifyKeyID := fs.Bool("verify-key-id", false, "aws-encryption-provider style: refuse a ciphertext the KMS says another key made")
	client, cfg, err := parse(fs, f, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *inFlight < 1 || *inFlight > 4096 {
		return usageError{fmt.Sprintf("--max-in-flight %d: must be 1…4096", *inFlight)}
	}
	b := &backend{kms: client, timeout: f.timeout, slots: make(chan struct{}, *inFlight), log: log, creds: cfg.Credentials}
	var service kmsservice.Service
	switch *style {
	case "kmslab":
		if f.alias == "" || *keyID != "" {
			return usageError{"the kmslab style names its key by --alias alias/NAME (--key-id is for --style aws-encryption-provider)"}
		}
		service = &aliasPlugin{backend: b, alias: f.alias}
	case "aws-encryption-provider":
		if *keyID == "" || f.alias != "" {
			return usageError{"--style aws-encryption-provider needs --key-id KEY (its --key: a key ARN), and no --alias"}
		}
		if *healthCache < 0 || *healthCache > time.Hour {
			return usageError{fmt.Sprintf("--health-cache %s: must be 0…1h", *healthCache)}
		}
		service = &aepPlugin{backend: b, keyID: *keyID, period: *healthCache, verifyKeyID: *verifyKeyID}
	default:
		return usageError{fmt.Sprintf("--style %q: kmslab or aws-encryption-provider", *style)}
	}
	path, err := socketPath(*socket)
	if err != nil {
		return usageError{err.Error()}
	}
	if err := clearStaleSocket(path); err != nil {
		return err
	}

	grpcServer := kmsservice.NewGRPCService(path, f.timeout, service)

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
	log.Info("serving KMS v2", "socket", path, "style", *style, "alias", f.alias, "key_id", *keyID, "kms_endpoint", f.endpoint, "timeout", f.timeout)
	go func() {
		st, err := service.Status(context.Background())
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

// backend is what both plugin styles share: the KMS client, the deadline of each call, and the in-flight slots.
type backend struct {
	kms     *kms.Client
	timeout time.Duration
	slots   chan struct{}
	log     *slog.Logger
	// creds are the SDK's cached credentials; dropped when the KMS says they expired (see call).
	creds aws.CredentialsProvider
}

// call runs one KMS request within the plugin's timeout, when one of the in-flight slots is free.
func (b *backend) call(ctx context.Context, fn func(context.Context) (any, error)) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for one of %d KMS call slots: %w", cap(b.slots), ctx.Err())
	}
	defer func() { <-b.slots }()
	out, err := fn(ctx)
	// The SDK refreshes temporary credentials only when it believes they expired. When the service says so first
	// (a session ended early, a clock off), drop them: the next call fetches new ones instead of failing until then.
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "ExpiredTokenException" || api.ErrorCode() == "ExpiredToken") {
		if cache, ok := b.creds.(*aws.CredentialsCache); ok {
			cache.Invalidate()
		}
	}
	return out, err
}

// aepPlugin behaves as kubernetes-sigs/aws-encryption-provider's V2 plugin (pkg/plugin/plugin_v2.go and
// shared_health_check.go at 6d4f71e): a constant key_id, a health check cached for a period, "err" without a reason.
type aepPlugin struct {
	*backend
	keyID       string
	period      time.Duration
	verifyKeyID bool

	mu        sync.Mutex
	lastErr   error
	lastCheck time.Time
}

var _ kmsservice.Service = (*aepPlugin)(nil)

// aepPrefix is aws-encryption-provider's storage version, put before every KMS ciphertext.
const aepPrefix = '1'

// Status answers "ok" or "err" with the configured key_id. A check (Encrypt, then Decrypt, of a probe) runs only when
// none ran within the period; meanwhile the last result stands, including an error recorded by a failed call.
func (p *aepPlugin) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
	healthz := "ok"
	if p.health(ctx) != nil {
		healthz = "err"
	}
	return &kmsservice.StatusResponse{Version: "v2beta1", Healthz: healthz, KeyID: p.keyID}, nil
}

func (p *aepPlugin) health(ctx context.Context) error {
	p.mu.Lock()
	recent := !p.lastCheck.IsZero() && time.Since(p.lastCheck) < p.period
	last := p.lastErr
	p.mu.Unlock()
	if recent {
		return last
	}
	out, err := p.Encrypt(ctx, "health-check", []byte("foo"))
	if err == nil {
		_, err = p.Decrypt(ctx, "health-check", &kmsservice.DecryptRequest{Ciphertext: out.Ciphertext, KeyID: p.keyID})
	}
	p.record(err)
	if err != nil {
		p.log.Warn("health check failed", "key_id", p.keyID, "error", err)
	}
	return err
}

func (p *aepPlugin) record(err error) {
	p.mu.Lock()
	p.lastErr, p.lastCheck = err, time.Now()
	p.mu.Unlock()
}

func (p *aepPlugin) Encrypt(ctx context.Context, uid string, plaintext []byte) (*kmsservice.EncryptResponse, error) {
	if len(plaintext) == 0 || len(plaintext) > maxPlaintext {
		return nil, status.Errorf(codes.InvalidArgument, "plaintext is %d bytes; the KMS encrypts 1…%d", len(plaintext), maxPlaintext)
	}
	out, err := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(p.keyID), Plaintext: plaintext})
	})
	if err != nil {
		p.record(err) // as aws-encryption-provider: a failed call turns health "err" at once
		p.log.Warn("encrypt", "uid", uid, "key_id", p.keyID, "error", err)
		return nil, grpcError("Encrypt with "+p.keyID, err)
	}
	blob := out.(*kms.EncryptOutput).CiphertextBlob
	return &kmsservice.EncryptResponse{Ciphertext: append([]byte{aepPrefix}, blob...), KeyID: p.keyID}, nil
}

// Decrypt sends the ciphertext alone (the KMS reads its key from it) and, like aws-encryption-provider, ignores the
// request's key_id unless --verify-key-id.
func (p *aepPlugin) Decrypt(ctx context.Context, uid string, req *kmsservice.DecryptRequest) ([]byte, error) {
	if len(req.Ciphertext) == 0 || req.Ciphertext[0] != aepPrefix {
		return nil, status.Error(codes.InvalidArgument, "the ciphertext does not start with this plugin's storage version 1")
	}
	blob := req.Ciphertext[1:]
	if len(blob) < minCiphertext || len(blob) > maxCiphertext {
		return nil, status.Errorf(codes.InvalidArgument, "ciphertext is %d bytes; this KMS's ciphertexts are %d…%d", len(blob), minCiphertext, maxCiphertext)
	}
	out, err := p.call(ctx, func(ctx context.Context) (any, error) {
		return p.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	})
	if err != nil {
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InvalidCiphertextException" {
			p.record(err)
		}
		p.log.Warn("decrypt", "uid", uid, "key_id", req.KeyID, "error", err)
		return nil, grpcError("Decrypt", err)
	}
	res := out.(*kms.DecryptOutput)
	if got := aws.ToString(res.KeyId); p.verifyKeyID && got != req.KeyID {
		return nil, status.Errorf(codes.InvalidArgument, "the ciphertext was made by key %q, not by key_id %q", got, truncate(req.KeyID, 120))
	}
	return res.Plaintext, nil
}

// aliasPlugin implements k8s.io/kms/pkg/service.Service on an AWS KMS key behind an alias (the kmslab style).
type aliasPlugin struct {
	*backend
	alias string

	mu        sync.Mutex
	check     *healthCheck // the check under way, shared by every Status call that arrives meanwhile
	lastKeyID string       // the key last seen behind the alias, reported while the KMS cannot be reached
}

var _ kmsservice.Service = (*aliasPlugin)(nil)

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
func (p *aliasPlugin) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
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

func (p *aliasPlugin) checkHealth() (*kmsservice.StatusResponse, error) {
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
func (p *aliasPlugin) Encrypt(ctx context.Context, uid string, plaintext []byte) (*kmsservice.EncryptResponse, error) {
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
func (p *aliasPlugin) Decrypt(ctx context.Context, uid string, req *kmsservice.DecryptRequest) ([]byte, error) {
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

// explainDecryptFailure turns a Decrypt failure into a gRPC status. local-kms answers AccessDeniedException, with the
// same words, both when the key is disabled or pending deletion and when the ciphertext names a key that does not exist
// (it was altered); asking for the key_id's state tells the two apart, so that the code says which it is. AWS (and
// kmslab's AWS front) names the caller when the caller is the problem ("User: … is not authorized to perform"): that
// is a permission refused, whatever the key's state.
func (p *aliasPlugin) explainDecryptFailure(ctx context.Context, keyID string, err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || strings.Contains(api.ErrorMessage(), "is not authorized to perform") {
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

func (p *aliasPlugin) remember(keyID string) {
	p.mu.Lock()
	p.lastKeyID = keyID
	p.mu.Unlock()
}

func (p *aliasPlugin) remembered() string {
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
		case "AccessDeniedException", "AccessDenied", "NotAuthorizedException":
			code = codes.PermissionDenied
		// The credentials themselves were refused (unknown, wrong secret, expired session, bad web identity token).
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
			"MissingAuthenticationTokenException", "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId",
			"SignatureDoesNotMatch", "InvalidIdentityToken":
			code = codes.Unauthenticated
		case "ThrottlingException", "Throttling", "LimitExceededException":
			code = codes.ResourceExhausted
		case "DependencyTimeoutException", "KMSInternalException", "InternalFailureException", "InternalFailure",
			"ServiceUnavailableException", "ServiceUnavailable":
			code = codes.Unavailable
		}
	default:
		var netErr net.Error
		var opErr *net.OpError
		if errors.As(err, &netErr) || errors.As(err, &opErr) || strings.Contains(err.Error(), "connection reset") ||
			strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "EOF") {
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
