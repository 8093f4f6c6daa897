//go:build integration

package localenv

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// takenFirst returns a pickAddrs whose first answer holds addresses where
// another server already listens (answering every HTTP request with 200, as a
// foreign moto_server would), and later answers free ones. It reports how
// often it was asked.
func takenFirst(t *testing.T) (func(n int) ([]string, error), *atomic.Int32) {
	var calls atomic.Int32
	return func(n int) ([]string, error) {
		if calls.Add(1) > 1 {
			return freeAddrs(n)
		}
		addrs := make([]string, n)
		for i := range addrs {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, "not moto")
			})}
			go srv.Serve(l)
			t.Cleanup(func() { srv.Close() })
			addrs[i] = l.Addr().String()
		}
		return addrs, nil
	}, &calls
}

func TestMotoRetriesWhenPortTaken(t *testing.T) {
	t.Parallel()
	pick, calls := takenFirst(t)
	m, err := startMoto(pick)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if calls.Load() != 2 {
		t.Fatalf("asked for addresses %d times, want 2 (one taken, one free)", calls.Load())
	}
	sm, err := m.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.ListSecrets(t.Context(), nil); err != nil {
		t.Fatalf("ListSecrets on the retried moto_server: %v", err)
	}
}

func TestRIERetriesWhenPortTaken(t *testing.T) {
	t.Parallel()
	pick, calls := takenFirst(t)
	bootstrap := t.TempDir() + "/bootstrap"
	if err := BuildBootstrap("./refresher/testenv/testdata/echo", bootstrap); err != nil {
		t.Fatal(err)
	}
	r, err := startRIE(bootstrap, RIEOptions{}, pick)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if calls.Load() != 2 {
		t.Fatalf("asked for addresses %d times, want 2 (taken, then free)", calls.Load())
	}
	inv, err := r.Invoke(t.Context(), []byte(`"hi"`))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != 200 || string(inv.Body) != `"hi"` {
		t.Fatalf("invocation = %+v (body %s)", inv, inv.Body)
	}
	if !strings.Contains(r.Logs(), "START RequestId: "+inv.RequestID) {
		t.Fatalf("logs lack the invocation")
	}
}
