package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcError turns a KMS failure into a gRPC status whose code says what the caller can do about it (ack-kms-plugin
// returns the SDK error as is, which gRPC reports as UNKNOWN).
func grpcError(op string, err error) error {
	code := codes.Unavailable
	var server *sdkerrors.ServerError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.As(err, &server):
		c := server.ErrorCode()
		switch {
		case c == "Forbidden.KeyNotFound" || c == "Forbidden.AliasNotFound":
			code = codes.NotFound
		case c == "Rejected.Throttling" || strings.HasPrefix(c, "Throttling"):
			code = codes.ResourceExhausted
		case strings.HasPrefix(c, "Rejected.") || strings.HasPrefix(c, "Rejetced."):
			code = codes.FailedPrecondition
		case c == "InvalidParameter" || c == "MissingParameter" || c == "InvalidCiphertext":
			code = codes.InvalidArgument
		case strings.HasPrefix(c, "Forbidden.") || strings.HasPrefix(c, "InvalidAccessKeyId") ||
			strings.HasPrefix(c, "InvalidSecurityToken") || c == "SignatureDoesNotMatch" ||
			c == "IncompleteSignature" || c == "MissingSecurityToken":
			code = codes.PermissionDenied
		case server.HttpStatus() >= 500:
			code = codes.Unavailable
		default:
			code = codes.Internal
		}
	}
	return status.Error(code, fmt.Sprintf("%s: %v", op, describe(err)))
}

// describe says what failed in one line: the KMS error code and message, or the transport error (the SDK's own text
// spans several lines and repeats response headers).
func describe(err error) error {
	var server *sdkerrors.ServerError
	if errors.As(err, &server) {
		msg := server.Message()
		if i := strings.Index(msg, "\n"); i >= 0 {
			msg = msg[:i]
		}
		return fmt.Errorf("%s (HTTP %d, request %s): %s", server.ErrorCode(), server.HttpStatus(), server.RequestId(), msg)
	}
	var client *sdkerrors.ClientError
	if errors.As(err, &client) {
		detail := ""
		if o := client.OriginError(); o != nil {
			detail = ": " + o.Error()
		}
		return fmt.Errorf("%s%s", client.ErrorCode(), detail)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("KMS unreachable: %v", netErr)
	}
	return err
}
