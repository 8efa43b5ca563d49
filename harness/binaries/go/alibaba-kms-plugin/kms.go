package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
)

const (
	// defaultDomain is ack-kms-plugin's default endpoint: the region's VPC endpoint of KMS.
	defaultDomain = "kms-vpc.%s.aliyuncs.com"
	// defaultCredentialInterval is ack-kms-plugin's default refresh period of temporary credentials (8 minutes).
	defaultCredentialInterval = 480 * time.Second
	// maxCredentialInterval: ack-kms-plugin refuses a CREDENTIAL_INTERVAL of 1800 s or more.
	maxCredentialInterval = 1800 * time.Second
)

// kmsFlags are what every command needs to reach KMS.
type kmsFlags struct {
	region          string
	domain          string
	timeout         time.Duration
	credentialsFile string
	roleArn         string
	stsEndpoint     string
	credentialsURI  string
}

func newFlags(cmd string) (*flag.FlagSet, *kmsFlags) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &kmsFlags{}
	fs.StringVar(&f.region, "region", os.Getenv("ACK_KMS_REGION_ID"), "KMS region id (ACK_KMS_REGION_ID)")
	fs.StringVar(&f.domain, "domain", os.Getenv("ACK_KMS_DOMAIN"), "KMS endpoint host[:port] (ACK_KMS_DOMAIN)")
	fs.DurationVar(&f.timeout, "timeout", time.Second, "deadline of each KMS call (connect + answer); no retries")
	fs.StringVar(&f.credentialsFile, "credentials-file", "", `JSON file {"accessKeyId","accessKeySecret"} (0600)`)
	fs.StringVar(&f.roleArn, "role-arn", os.Getenv("ALIBABA_CLOUD_ROLE_ARN"), "assume this RAM role with STS (ALIBABA_CLOUD_ROLE_ARN)")
	fs.StringVar(&f.stsEndpoint, "sts-endpoint", os.Getenv("ALIBABA_CLOUD_STS_ENDPOINT"), "STS host[:port] for --role-arn (ALIBABA_CLOUD_STS_ENDPOINT)")
	fs.StringVar(&f.credentialsURI, "credentials-uri", os.Getenv("ALIBABA_CLOUD_CREDENTIALS_URI"), "URL serving temporary credentials (ALIBABA_CLOUD_CREDENTIALS_URI)")
	return fs, f
}

// endpoint checks the flags and returns the KMS domain: refusing, never guessing, when the region is missing (ACK's
// plugin would ask instance metadata, an address this plugin never contacts).
func (f *kmsFlags) endpoint() (string, error) {
	if f.region == "" {
		return "", usageError{"no region: set ACK_KMS_REGION_ID or --region (this plugin never asks instance metadata)"}
	}
	if f.timeout <= 0 || f.timeout > 30*time.Second {
		return "", usageError{fmt.Sprintf("--timeout %s: must be more than 0 and at most 30s", f.timeout)}
	}
	domain := f.domain
	if domain == "" {
		domain = defaultDomain
	}
	if strings.Contains(domain, "%s") {
		domain = fmt.Sprintf(domain, f.region)
	}
	if strings.Contains(domain, "://") || strings.Contains(domain, "/") {
		return "", usageError{fmt.Sprintf("--domain %q: give a host or host:port; the scheme is always https", domain)}
	}
	if f.roleArn != "" && f.credentialsURI != "" {
		return "", usageError{"--role-arn and --credentials-uri exclude each other"}
	}
	if f.roleArn != "" && f.stsEndpoint == "" {
		return "", usageError{"--role-arn needs --sts-endpoint (or ALIBABA_CLOUD_STS_ENDPOINT): the STS endpoint is never guessed"}
	}
	return domain, nil
}

// accessKey is a long-term access key: from --credentials-file, else ACK's ACCESS_KEY_ID / ACCESS_KEY_SECRET.
type accessKey struct {
	ID     string `json:"accessKeyId"`
	Secret string `json:"accessKeySecret"`
}

func (f *kmsFlags) accessKey() (accessKey, error) {
	if f.credentialsFile != "" {
		raw, err := os.ReadFile(f.credentialsFile)
		if err != nil {
			return accessKey{}, usageError{fmt.Sprintf("--credentials-file: %v", err)}
		}
		var ak accessKey
		if err := json.Unmarshal(raw, &ak); err != nil || ak.ID == "" || ak.Secret == "" {
			return accessKey{}, usageError{fmt.Sprintf("--credentials-file %s: want JSON {\"accessKeyId\": …, \"accessKeySecret\": …}", f.credentialsFile)}
		}
		return ak, nil
	}
	ak := accessKey{ID: os.Getenv("ACCESS_KEY_ID"), Secret: os.Getenv("ACCESS_KEY_SECRET")}
	if ak.ID == "" || ak.Secret == "" {
		return accessKey{}, usageError{"no credentials: set ACCESS_KEY_ID and ACCESS_KEY_SECRET, or --credentials-file"}
	}
	return ak, nil
}

// credentialSource yields the credentials requests are signed with, and says whether they are temporary (and so
// must be fetched again on an interval).
func (f *kmsFlags) credentialSource() (fetch func() (credentials.CredentialsProvider, error), temporary bool, err error) {
	httpOptions := &credentials.HttpOptions{ConnectTimeout: f.timeout, ReadTimeout: f.timeout}
	if f.credentialsURI != "" {
		uri := f.credentialsURI
		return func() (credentials.CredentialsProvider, error) {
			p, err := credentials.NewURLCredentialsProviderBuilderBuilder().WithUrl(uri).WithHttpOptions(httpOptions).Build()
			if err != nil {
				return nil, err
			}
			return snapshot(p)
		}, true, nil
	}
	ak, err := f.accessKey()
	if err != nil {
		return nil, false, err
	}
	if f.roleArn == "" {
		static := credentials.NewStaticAKCredentialsProvider(ak.ID, ak.Secret)
		return func() (credentials.CredentialsProvider, error) { return static, nil }, false, nil
	}
	roleArn, sts := f.roleArn, f.stsEndpoint
	return func() (credentials.CredentialsProvider, error) {
		p, err := credentials.NewRAMRoleARNCredentialsProviderBuilder().
			WithCredentialsProvider(credentials.NewStaticAKCredentialsProvider(ak.ID, ak.Secret)).
			WithRoleArn(roleArn).
			WithRoleSessionName("alibaba-kms-plugin").
			WithStsEndpoint(sts).
			WithHttpOptions(httpOptions).
			Build()
		if err != nil {
			return nil, err
		}
		return snapshot(p)
	}, true, nil
}

// snapshot fetches temporary credentials once and pins them: the plugin, like ACK's, fetches new ones on its own
// interval, so a refresh that fails leaves the old credentials in use until the KMS refuses them.
func snapshot(p credentials.CredentialsProvider) (credentials.CredentialsProvider, error) {
	cc, err := p.GetCredentials()
	if err != nil {
		return nil, err
	}
	return credentials.NewStaticSTSCredentialsProvider(cc.AccessKeyId, cc.AccessKeySecret, cc.SecurityToken), nil
}

// kmsClient calls KMS with the current credentials; refresh swaps them.
type kmsClient struct {
	region  string
	domain  string
	timeout time.Duration

	mu     sync.RWMutex
	client *kms.Client
}

func newKMSClient(f *kmsFlags) (*kmsClient, func() (credentials.CredentialsProvider, error), bool, error) {
	domain, err := f.endpoint()
	if err != nil {
		return nil, nil, false, err
	}
	fetch, temporary, err := f.credentialSource()
	if err != nil {
		return nil, nil, false, err
	}
	c := &kmsClient{region: f.region, domain: domain, timeout: f.timeout}
	provider, err := fetch()
	if err != nil {
		return nil, nil, false, fmt.Errorf("first credentials: %w", describe(err))
	}
	if err := c.use(provider); err != nil {
		return nil, nil, false, err
	}
	return c, fetch, temporary, nil
}

func (c *kmsClient) use(p credentials.CredentialsProvider) error {
	config := sdk.NewConfig()
	config.Scheme = "https"
	config.AutoRetry = false
	client, err := kms.NewClientWithOptions(c.region, config, p)
	if err != nil {
		return fmt.Errorf("KMS client: %w", err)
	}
	client.SetConnectTimeout(c.timeout)
	client.SetReadTimeout(c.timeout)
	// Keep connections for reuse: a restarting apiserver decrypts hundreds of seeds at once, and a new TLS handshake
	// per call (Go keeps only 2 idle connections per host by default) would make those calls queue.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	transport.TLSHandshakeTimeout = c.timeout
	client.SetTransport(transport)
	c.mu.Lock()
	c.client = client
	c.mu.Unlock()
	return nil
}

// refreshEvery fetches new temporary credentials on an interval, as ack-kms-plugin does; a failure is logged and the
// old credentials stay in use.
func (c *kmsClient) refreshEvery(log *slog.Logger, interval time.Duration, fetch func() (credentials.CredentialsProvider, error), stop <-chan struct{}) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			p, err := fetch()
			if err == nil {
				err = c.use(p)
			}
			if err != nil {
				log.Warn("credential refresh failed; the old credentials stay in use", "error", describe(err).Error())
				continue
			}
			log.Info("credentials refreshed")
		}
	}
}

func (c *kmsClient) current() *kms.Client {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.client
}

// prepare points a request at the configured endpoint, over https, with the plugin's timeouts.
func (c *kmsClient) prepare(r interface {
	SetDomain(string)
	SetScheme(string)
	SetConnectTimeout(time.Duration)
	SetReadTimeout(time.Duration)
}) {
	r.SetDomain(c.domain)
	r.SetScheme("https")
	r.SetConnectTimeout(c.timeout)
	r.SetReadTimeout(c.timeout)
}

type encrypted struct {
	ciphertext   string
	keyVersionID string
	requestID    string
}

func (c *kmsClient) encrypt(keyID string, plaintext []byte) (encrypted, error) {
	req := kms.CreateEncryptRequest()
	c.prepare(req)
	req.KeyId = keyID
	req.Plaintext = base64.StdEncoding.EncodeToString(plaintext)
	res, err := c.current().Encrypt(req)
	if err != nil {
		return encrypted{}, err
	}
	if res.CiphertextBlob == "" {
		return encrypted{}, fmt.Errorf("KMS answered Encrypt without a CiphertextBlob (request %s)", res.RequestId)
	}
	return encrypted{ciphertext: res.CiphertextBlob, keyVersionID: res.KeyVersionId, requestID: res.RequestId}, nil
}

type decrypted struct {
	plaintext    []byte
	keyID        string
	keyVersionID string
}

func (c *kmsClient) decrypt(ciphertext string) (decrypted, error) {
	req := kms.CreateDecryptRequest()
	c.prepare(req)
	req.CiphertextBlob = ciphertext
	res, err := c.current().Decrypt(req)
	if err != nil {
		return decrypted{}, err
	}
	plain, err := base64.StdEncoding.DecodeString(res.Plaintext)
	if err != nil {
		return decrypted{}, fmt.Errorf("KMS answered Decrypt with a Plaintext that is not base64 (request %s)", res.RequestId)
	}
	return decrypted{plaintext: plain, keyID: res.KeyId, keyVersionID: res.KeyVersionId}, nil
}

// credentialInterval reads ACK's CREDENTIAL_INTERVAL (seconds, below 1800).
func credentialInterval() (time.Duration, error) {
	raw := os.Getenv("CREDENTIAL_INTERVAL")
	if raw == "" {
		return defaultCredentialInterval, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 || time.Duration(n)*time.Second >= maxCredentialInterval {
		return 0, usageError{fmt.Sprintf("CREDENTIAL_INTERVAL=%q: want whole seconds, 1…1799", raw)}
	}
	return time.Duration(n) * time.Second, nil
}

var errNoKey = errors.New("no key given: pass a key id, or set KMSLAB_KEY_ID")
