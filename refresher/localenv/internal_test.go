package localenv

import (
	"strings"
	"testing"
)

func TestFindToolMissingNamesToolAndMakeTargets(t *testing.T) {
	_, err := FindTool("localenv-no-such-tool")
	if err == nil {
		t.Fatal("FindTool found a tool that does not exist")
	}
	for _, want := range []string{"localenv-no-such-tool", "make test", "make demo"} {
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

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("demo/odd chars: ü*"), UniqueName("demo/odd chars: ü*")
	if a == b {
		t.Fatalf("UniqueName repeated %q", a)
	}
	if !strings.HasPrefix(a, "demo/odd-chars---") || len(a) != len("demo/odd-chars---")+len("--")+16 {
		t.Errorf("UniqueName = %q", a)
	}
	if n := UniqueName(""); !strings.HasPrefix(n, "test-") {
		t.Errorf("UniqueName(\"\") = %q", n)
	}
}

func TestNewUUID(t *testing.T) {
	u := NewUUID()
	if len(u) != 36 || u[14] != '4' || strings.Count(u, "-") != 4 || u == NewUUID() {
		t.Errorf("NewUUID = %q", u)
	}
}
