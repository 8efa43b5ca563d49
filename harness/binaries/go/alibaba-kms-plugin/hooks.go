package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
)

// keyActions are the KMS actions of the hooks that only name a key.
var keyActions = map[string]string{
	"disable":           "DisableKey",
	"enable":            "EnableKey",
	"schedule-deletion": "ScheduleKeyDeletion",
	"cancel-deletion":   "CancelKeyDeletion",
}

// hook runs one key-lifecycle command through the KMS API (the same SDK, credentials and endpoint as serve), for
// kmslab's --rotate-cmd / --disable-cmd / --enable-cmd hooks. It prints the key id it acted on.
func hook(cmd string, args []string) error {
	fs, f := newFlags(cmd)
	keyIDFile := fs.String("key-id-file", "", "create-key: write the new key id here (atomically)")
	days := fs.Int("days", 7, "schedule-deletion: the pending window in days (KMS allows 7…366)")
	// The key may come before or after the flags (hooks are often written "disable {keyId} --flag …").
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs = positionalSet(positional)
	key := os.Getenv("KMSLAB_KEY_ID")
	switch {
	case cmd == "create-key" && fs.NArg() == 0:
	case cmd != "create-key" && fs.NArg() == 1:
		key = fs.Arg(0)
	case cmd != "create-key" && fs.NArg() == 0:
	default:
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if cmd != "create-key" && key == "" {
		return usageError{errNoKey.Error()}
	}
	c, _, _, err := newKMSClient(f)
	if err != nil {
		return err
	}
	client := c.current()
	switch cmd {
	case "create-key":
		req := kms.CreateCreateKeyRequest()
		c.prepare(req)
		req.Description = "kmslab KMS v2 key encryption key"
		res, err := client.CreateKey(req)
		if err != nil {
			return describe(err)
		}
		key = res.KeyMetadata.KeyId
		if *keyIDFile != "" {
			if err := writeAtomically(*keyIDFile, key+"\n"); err != nil {
				return err
			}
		}
	case "rotate-version":
		req := kms.CreateCreateKeyVersionRequest()
		c.prepare(req)
		req.KeyId = key
		res, err := client.CreateKeyVersion(req)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintln(os.Stderr, "new primary version", res.KeyVersion.KeyVersionId)
	case "disable", "enable", "schedule-deletion", "cancel-deletion":
		req := requests.NewCommonRequest()
		req.Method = "POST"
		req.Version = "2016-01-20"
		req.ApiName = keyActions[cmd]
		req.Product = "Kms"
		c.prepare(req)
		req.QueryParams["KeyId"] = key
		if cmd == "schedule-deletion" {
			req.QueryParams["PendingWindowInDays"] = strconv.Itoa(*days)
		}
		_, err = client.ProcessCommonRequest(req)
	case "describe":
		req := kms.CreateDescribeKeyRequest()
		c.prepare(req)
		req.KeyId = key
		res, derr := client.DescribeKey(req)
		if derr != nil {
			return describe(derr)
		}
		fmt.Fprintln(os.Stderr, "state", res.KeyMetadata.KeyState, "primary version", res.KeyMetadata.PrimaryKeyVersion)
	}
	if err != nil {
		return describe(err)
	}
	fmt.Println(key)
	return nil
}

// positionalSet holds the positional arguments in a FlagSet, so NArg/Arg read them as before.
func positionalSet(args []string) *flag.FlagSet {
	fs := flag.NewFlagSet("args", flag.ContinueOnError)
	_ = fs.Parse(append([]string{"--"}, args...))
	return fs
}

func writeAtomically(path, text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-id-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
