package invocation

import "testing"

func TestErrorObject(t *testing.T) {
	cases := []struct {
		body string
		ok   bool
	}{
		{`{"errorMessage":"boom","errorType":"wrapError"}`, true},
		{`{"errorMessage":"boom","errorType":"Runtime.ExitError","stackTrace":[],"requestId":"r"}`, true},
		{`{"errorMessage":"boom"}`, false},
		{`{"errorMessage":"boom","errorType":""}`, false},
		{`{"errorMessage":"boom","errorType":"x","results":[]}`, false},
		{`{"results":[]}`, false},
		{`Task timed out after 3.00 seconds`, false},
	}
	for _, c := range cases {
		if _, _, ok := ErrorObject([]byte(c.body)); ok != c.ok {
			t.Errorf("%s: ok=%v want %v", c.body, ok, c.ok)
		}
	}
	typ, msg, _ := ErrorObject([]byte(`{"errorMessage":"boom","errorType":"wrapError"}`))
	if typ != "wrapError" || msg != "boom" {
		t.Fatal(typ, msg)
	}
}
