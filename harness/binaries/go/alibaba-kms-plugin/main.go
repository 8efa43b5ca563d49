// Command alibaba-kms-plugin is kmslab's KMS v2 plugin for Alibaba Cloud KMS, built on the upstream plugin gRPC
// server (k8s.io/kms/pkg/service) and the Alibaba Cloud Go SDK that ack-kms-plugin uses
// (github.com/aliyun/alibaba-cloud-sdk-go/services/kms). It behaves as ack-kms-plugin does where that plugin's
// behaviour is documented (docs/cloud.md lists each choice with its source):
//
//   - key_id is the configured KMS key id: a key-version rotation in KMS never changes it; the key version goes in the
//     annotation x-acs-kms-key-version-id.ack.alibabacloud.com;
//   - Status encrypts and then decrypts "healthcheck" (2 KMS calls); a KMS failure fails the Status RPC;
//   - Decrypt sends only the ciphertext (KMS finds the key and version in it), ignoring key_id (--verify-key-id
//     makes it refuse a ciphertext KMS says another key made);
//   - region, endpoint and credentials come from the environment ACK's plugin reads (ACK_KMS_REGION_ID,
//     ACK_KMS_DOMAIN, ACCESS_KEY_ID/ACCESS_KEY_SECRET, CREDENTIAL_INTERVAL) or from flags; never from instance
//     metadata: without a region it refuses to start.
//
// Where ACK's plugin is silent or unsafe it differs, on purpose: every KMS call has a bounded timeout and no retry (an
// answer within the apiserver's 3 s deadline even when KMS is slow or down), failures carry gRPC codes, and temporary
// credentials come from STS AssumeRole or a credentials URI, never from metadata.
//
//	alibaba-kms-plugin serve --socket PATH (--key-id ID | --key-id-file FILE) [--verify-key-id] [--region R] [--domain HOST[:PORT]]
//	    [--timeout 1s] [--role-arn ARN --sts-endpoint HOST[:PORT] | --credentials-uri URL] [--credentials-file FILE]
//
// Key hooks (each prints the key id it acted on; credentials from --credentials-file or ACCESS_KEY_ID/SECRET):
//
//	alibaba-kms-plugin create-key     [--key-id-file FILE]   a new key; written to FILE (atomically) when given
//	alibaba-kms-plugin rotate-version KEY                    a new primary version of KEY (key_id unchanged)
//	alibaba-kms-plugin disable KEY | enable KEY | cancel-deletion KEY | describe KEY
//	alibaba-kms-plugin schedule-deletion KEY [--days 7]
//
// KEY defaults to $KMSLAB_KEY_ID. Exit codes: 0 done, 1 KMS or socket failure, 2 bad usage.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

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
	case "create-key", "rotate-version", "disable", "enable", "schedule-deletion", "cancel-deletion", "describe":
		err = hook(cmd, args)
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
		fmt.Fprintf(os.Stderr, "alibaba-kms-plugin %s: %s\n\n%s\n", cmd, usage.msg, usageText)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "alibaba-kms-plugin %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

const usageText = `usage:
  alibaba-kms-plugin serve --socket PATH (--key-id ID | --key-id-file FILE) [--verify-key-id] [--region R] [--domain HOST[:PORT]]
      [--timeout 1s] [--role-arn ARN --sts-endpoint HOST[:PORT] | --credentials-uri URL] [--credentials-file FILE]
  alibaba-kms-plugin create-key [--key-id-file FILE]
  alibaba-kms-plugin rotate-version|disable|enable|cancel-deletion|describe KEY
  alibaba-kms-plugin schedule-deletion KEY [--days 7]
Every command takes --region (default $ACK_KMS_REGION_ID), --domain (default $ACK_KMS_DOMAIN, else
kms-vpc.<region>.aliyuncs.com), --timeout and --credentials-file (JSON {"accessKeyId","accessKeySecret"}; default
the environment ACCESS_KEY_ID / ACCESS_KEY_SECRET). The scheme is always https; trust a private CA with SSL_CERT_FILE.`

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
