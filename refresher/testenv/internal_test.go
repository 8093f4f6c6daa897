package testenv

import (
	"strings"
	"testing"
)

func TestFindToolMissingNamesToolAndMakeTest(t *testing.T) {
	_, err := findTool("testenv-no-such-tool")
	if err == nil {
		t.Fatal("findTool found a tool that does not exist")
	}
	for _, want := range []string{"testenv-no-such-tool", "make test"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name            string
		status          int
		header, body    string
		fnErr, timedOut bool
		typ, msg        string
	}{
		{name: "result", status: 200, body: `{"a":1}`},
		{name: "null", status: 200, body: `null`},
		{name: "handler error", status: 200, body: `{"errorMessage":"boom","errorType":"errorString"}`,
			fnErr: true, typ: "errorString", msg: "boom"},
		{name: "with stack", status: 200, body: `{"errorMessage":"m","errorType":"T","stackTrace":[]}`,
			fnErr: true, typ: "T", msg: "m"},
		{name: "object with more keys is a result", status: 200, body: `{"errorMessage":"m","errorType":"T","x":1}`},
		{name: "empty type is a result", status: 200, body: `{"errorMessage":"m","errorType":""}`},
		{name: "timeout", status: 200, body: `Task timed out after 1.00 seconds`,
			fnErr: true, timedOut: true, typ: "Sandbox.Timedout", msg: "Task timed out after 1.00 seconds"},
		{name: "runtime exit", status: 502, body: `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: x Error: Runtime exited with error: exit status 3"}`,
			fnErr: true, typ: "Runtime.ExitError", msg: "RequestId: x Error: Runtime exited with error: exit status 3"},
		{name: "header", status: 200, header: "Unhandled", body: `{"errorMessage":"m","errorType":"T","x":1}`, fnErr: true},
		{name: "emulator error", status: 500, body: ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := Invocation{Status: tc.status, Body: []byte(tc.body)}
			classify(&inv, tc.header)
			if inv.FunctionError != tc.fnErr || inv.TimedOut != tc.timedOut || inv.ErrorType != tc.typ || inv.ErrorMessage != tc.msg {
				t.Errorf("classify(%d, %q, %s) = %+v", tc.status, tc.header, tc.body, inv)
			}
		})
	}
}

func TestEnvEndpoints(t *testing.T) {
	e := envEndpoints{"AWS_ENDPOINT_URL_SECRETS_MANAGER=http://a", "AWS_ENDPOINT_URL_SECRETS_MANAGER=http://b"}
	if v, ok, _ := e.GetServiceBaseEndpoint(t.Context(), "Secrets Manager"); !ok || v != "http://b" {
		t.Errorf("Secrets Manager endpoint = %q, %v; want the last setting", v, ok)
	}
	if _, ok, _ := e.GetServiceBaseEndpoint(t.Context(), "STS"); ok {
		t.Errorf("STS endpoint found")
	}
}
