// Command alibaba-sdk-probe makes one API call through an unchanged Alibaba Cloud SDK and prints what came back as
// one JSON line, for kmslab's tests of its Alibaba Cloud KMS emulator:
//
//	alibaba-sdk-probe --sdk legacy|tea --endpoint HOST:PORT --region R --action ACTION [--version V] [--param K=V]…
//
// legacy is github.com/aliyun/alibaba-cloud-sdk-go (signature version 1.0, HMAC-SHA1, what ack-kms-plugin uses);
// tea is github.com/alibabacloud-go/kms-20160120 (ACS3-HMAC-SHA256). Credentials come from the SDKs' usual variables
// ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN, never from flags
// (so no secret is on a command line). The scheme is https; trust the emulator's CA with SSL_CERT_FILE.
//
// Output: {"ok":true,"status":200,"body":{…}} or {"ok":false,"status":N,"code":"…","message":"…","requestId":"…"}.
// Exit 0 when the call was made (whatever the answer), 2 on bad usage.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	util "github.com/alibabacloud-go/tea-utils/v2/service"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
)

type params map[string]string

func (p params) String() string { return fmt.Sprint(map[string]string(p)) }
func (p params) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	p[k] = val
	return nil
}

type answer struct {
	OK        bool           `json:"ok"`
	Status    int            `json:"status,omitempty"`
	Body      map[string]any `json:"body,omitempty"`
	Code      string         `json:"code,omitempty"`
	Message   string         `json:"message,omitempty"`
	RequestID string         `json:"requestId,omitempty"`
	Error     string         `json:"error,omitempty"`
	Millis    int64          `json:"ms"`
}

func main() {
	fs := flag.NewFlagSet("alibaba-sdk-probe", flag.ContinueOnError)
	which := fs.String("sdk", "legacy", "legacy (alibaba-cloud-sdk-go) or tea (kms-20160120)")
	endpoint := fs.String("endpoint", "", "host:port of the emulator")
	region := fs.String("region", "cn-hangzhou", "region id")
	action := fs.String("action", "", "API action, e.g. Encrypt")
	version := fs.String("version", "2016-01-20", "API version (STS: 2015-04-01)")
	timeout := fs.Duration("timeout", 5*time.Second, "read and connect timeout")
	p := params{}
	fs.Var(p, "param", "request parameter K=V (repeatable)")
	if err := fs.Parse(os.Args[1:]); err != nil || *endpoint == "" || *action == "" {
		fmt.Fprintln(os.Stderr, "usage: alibaba-sdk-probe --sdk legacy|tea --endpoint HOST:PORT --action ACTION [--param K=V]…")
		os.Exit(2)
	}
	id, secret, token := os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), os.Getenv("ALIBABA_CLOUD_SECURITY_TOKEN")
	started := time.Now()
	var out answer
	switch *which {
	case "legacy":
		out = legacy(*endpoint, *region, *action, *version, p, id, secret, token, *timeout)
	case "tea":
		out = teaCall(*endpoint, *region, *action, *version, p, id, secret, token, *timeout)
	default:
		fmt.Fprintf(os.Stderr, "--sdk %q: want legacy or tea\n", *which)
		os.Exit(2)
	}
	out.Millis = time.Since(started).Milliseconds()
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func legacy(endpoint, region, action, version string, p params, id, secret, token string, timeout time.Duration) answer {
	var provider credentials.CredentialsProvider = credentials.NewStaticAKCredentialsProvider(id, secret)
	if token != "" {
		provider = credentials.NewStaticSTSCredentialsProvider(id, secret, token)
	}
	config := sdk.NewConfig()
	config.Scheme = "https"
	client, err := sdk.NewClientWithOptions(region, config, provider)
	if err != nil {
		return answer{Error: err.Error()}
	}
	req := requests.NewCommonRequest()
	req.Method = "POST"
	req.Scheme = "https"
	req.Domain = endpoint
	req.Version = version
	req.ApiName = action
	req.Product = "Kms"
	req.SetConnectTimeout(timeout)
	req.SetReadTimeout(timeout)
	for k, v := range p {
		req.QueryParams[k] = v
	}
	res, err := client.ProcessCommonRequest(req)
	var server *sdkerrors.ServerError
	if errors.As(err, &server) {
		return answer{Status: server.HttpStatus(), Code: server.ErrorCode(), Message: server.Message(), RequestID: server.RequestId()}
	}
	if err != nil {
		return answer{Error: err.Error()}
	}
	body := map[string]any{}
	_ = json.Unmarshal(res.GetHttpContentBytes(), &body)
	return answer{OK: true, Status: res.GetHttpStatus(), Body: body}
}

func teaCall(endpoint, region, action, version string, p params, id, secret, token string, timeout time.Duration) answer {
	config := &openapi.Config{
		AccessKeyId:     tea.String(id),
		AccessKeySecret: tea.String(secret),
		Endpoint:        tea.String(endpoint),
		RegionId:        tea.String(region),
		Protocol:        tea.String("HTTPS"),
		ReadTimeout:     tea.Int(int(timeout.Milliseconds())),
		ConnectTimeout:  tea.Int(int(timeout.Milliseconds())),
	}
	if token != "" {
		config.SecurityToken = tea.String(token)
	}
	client, err := kms.NewClient(config)
	if err != nil {
		return answer{Error: err.Error()}
	}
	runtime := &util.RuntimeOptions{Autoretry: tea.Bool(false)}
	var body any
	switch {
	case action == "Encrypt" && version == "2016-01-20":
		var res *kms.EncryptResponse
		res, err = client.EncryptWithOptions(&kms.EncryptRequest{KeyId: opt(p, "KeyId"), Plaintext: opt(p, "Plaintext")}, runtime)
		if res != nil {
			body = res.Body
		}
	case action == "Decrypt" && version == "2016-01-20":
		var res *kms.DecryptResponse
		res, err = client.DecryptWithOptions(&kms.DecryptRequest{CiphertextBlob: opt(p, "CiphertextBlob")}, runtime)
		if res != nil {
			body = res.Body
		}
	default:
		query := map[string]*string{}
		for k, v := range p {
			query[k] = tea.String(v)
		}
		var res map[string]any
		res, err = client.CallApi(&openapi.Params{
			Action: tea.String(action), Version: tea.String(version), Protocol: tea.String("HTTPS"),
			Pathname: tea.String("/"), Method: tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("RPC"),
			ReqBodyType: tea.String("formData"), BodyType: tea.String("json"),
		}, &openapi.OpenApiRequest{Query: query}, runtime)
		if res != nil {
			body = res["body"]
		}
	}
	var sdkErr *tea.SDKError
	if errors.As(err, &sdkErr) {
		a := answer{Code: tea.StringValue(sdkErr.Code), Message: tea.StringValue(sdkErr.Message)}
		if sdkErr.StatusCode != nil {
			a.Status = tea.IntValue(sdkErr.StatusCode)
		}
		if data, ok := sdkErr.Data, true; ok && data != nil {
			var m map[string]any
			if json.Unmarshal([]byte(tea.StringValue(data)), &m) == nil {
				if rid, ok := m["RequestId"].(string); ok {
					a.RequestID = rid
				}
				if s, ok := m["statusCode"].(float64); ok && a.Status == 0 {
					a.Status = int(s)
				}
			}
		}
		return a
	}
	if err != nil {
		return answer{Error: err.Error()}
	}
	raw, _ := json.Marshal(body)
	m := map[string]any{}
	_ = json.Unmarshal(raw, &m)
	return answer{OK: true, Status: 200, Body: m}
}

func opt(p params, k string) *string {
	if v, ok := p[k]; ok {
		return tea.String(v)
	}
	return nil
}
