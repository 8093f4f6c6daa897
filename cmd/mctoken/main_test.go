package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestReadKeysFromPipe(t *testing.T) {
	keys, err := readKeys(strings.NewReader("  api-123 \r\nuser-456\n"), &bytes.Buffer{})
	if err != nil || keys.APIKey.Reveal() != "api-123" || keys.UserKey.Reveal() != "user-456" {
		t.Fatalf("%v %v", keys, err)
	}
	// The last line may lack its newline.
	if keys, err := readKeys(strings.NewReader("a\nb"), &bytes.Buffer{}); err != nil || keys.UserKey.Reveal() != "b" {
		t.Fatalf("%v", err)
	}
	for name, in := range map[string]string{
		"empty":       "",
		"one line":    "only-the-api-key\n",
		"blank user":  "api\n\n",
		"space":       "api key\nuser\n",
		"too long":    strings.Repeat("k", 5000) + "\nuser\n",
		"control chr": "api\x00\nuser\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readKeys(strings.NewReader(in), &bytes.Buffer{})
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), "only-the-api-key") || strings.Contains(err.Error(), "kkkk") {
				t.Fatalf("error quotes the input: %v", err)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	keys := secrets.Document{APIKey: sensitive.New("a"), UserKey: sensitive.New("u")}
	with := func(left time.Duration) secrets.Document {
		return keys.WithToken(secrets.Token{AccessToken: sensitive.New("t"), ExpiresAt: now.Add(left), IssuedAt: now.Add(left - 24*time.Hour)})
	}
	for _, tc := range []struct {
		doc  secrets.Document
		want string
	}{
		{with(20 * time.Hour), healthOK},
		{with(6*time.Hour + time.Second), healthOK},
		{with(6 * time.Hour), healthDue},
		{with(3 * time.Hour), healthDue},
		{with(3*time.Hour - time.Second), healthExpiring},
		{with(time.Second), healthExpiring},
		{with(0), healthExpired},
		{with(-2 * time.Hour), healthExpired},
		{keys, healthNoToken},
		{keys.WithToken(secrets.Token{AccessToken: sensitive.New("t")}), healthError},
		{secrets.Document{APIKey: sensitive.New("a")}, healthError},
	} {
		if got, _ := verdict(tc.doc, nil, now, 6*time.Hour); got != tc.want {
			t.Errorf("%v left: got %s, want %s", tc.doc.ExpiresAt.Sub(now), got, tc.want)
		}
	}
	if got, _ := verdict(with(20*time.Hour), errors.New("bad base"), now, 6*time.Hour); got != healthError {
		t.Errorf("bad base URL: %s", got)
	}
}

func TestRelative(t *testing.T) {
	for d, want := range map[time.Duration]string{
		17*time.Hour + 12*time.Minute + 30*time.Second: "in 17h12m",
		-2 * time.Hour:                  "EXPIRED 2h ago",
		-(2*time.Hour + 5*time.Minute):  "EXPIRED 2h05m ago",
		42 * time.Second:                "in 42s",
		9 * time.Minute:                 "in 9m",
		75 * time.Hour:                  "in 3d3h",
		-(30*time.Minute + time.Second): "EXPIRED 30m ago",
	} {
		if got := relative(d); got != want {
			t.Errorf("relative(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		err  string
	}{
		{nil, nil, exitUsage, "Usage:"},
		{[]string{"launch-secret-value"}, nil, exitUsage, "unknown command"},
		{[]string{"init"}, nil, exitUsage, "--secret is required"},
		{[]string{"init", "--secret", "x", "--platform", "mars"}, nil, exitUsage, "callcenter or classic"},
		{[]string{"init", "--secret", "x", "--base-url", "http://example.com/v4"}, nil, exitUsage, "https"},
		{[]string{"init", "--secret", "x", "positional-key-value"}, nil, exitUsage, "unexpected argument"},
		{[]string{"status"}, nil, exitUsage, "no secrets"},
		{[]string{"status", "--secret", "x"}, map[string]string{"REFRESH_MARGIN": "soon"}, exitUsage, "REFRESH_MARGIN"},
		{[]string{"refresh"}, nil, exitUsage, "no secrets"},
		{[]string{"token"}, nil, exitUsage, "without --reveal"},
		{[]string{"token", "--reveal"}, map[string]string{"SECRET_IDS": "a,b"}, exitUsage, "pass --secret"},
	} {
		code, out, errs := runCLI(t, tc.env, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.err) || out != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q", tc.args, code, out, errs)
		}
		if strings.Contains(errs, "positional-key-value") || strings.Contains(errs, "launch-secret-value") {
			t.Errorf("%v: an argument is echoed: %s", tc.args, errs)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"init", "-h"}, {"status", "--help"}, {"refresh", "-h"}, {"token", "-h"}, {"help", "status"}} {
		code, out, errs := runCLI(t, nil, "", args...)
		if code != exitOK || !strings.Contains(out, "Usage") || errs != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestFunctionError(t *testing.T) {
	for _, tc := range []struct {
		out    lambda.InvokeOutput
		failed bool
		msg    string
	}{
		{lambda.InvokeOutput{Payload: []byte(`{"results":[]}`)}, false, ""},
		{lambda.InvokeOutput{Payload: []byte(`{"errorMessage":"1 of 2 secrets failed: x: y","errorType":"RunError"}`)}, true, "1 of 2 secrets failed"},
		{lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(`{"errorMessage":"boom","errorType":"E","stackTrace":[]}`)}, true, "boom (E)"},
		{lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(`not json`)}, true, "not json (Unhandled)"},
		{lambda.InvokeOutput{Payload: []byte(`Task timed out after 3.00 seconds`)}, true, "Task timed out"},
		// A summary is not an error object.
		{lambda.InvokeOutput{Payload: []byte(`{"errorMessage":"x","errorType":"y","results":[]}`)}, false, ""},
	} {
		msg, failed := functionError(&tc.out)
		if failed != tc.failed || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %q %v", tc.out.Payload, msg, failed)
		}
	}
}
