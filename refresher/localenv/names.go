package localenv

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
)

// FreeAddr returns "127.0.0.1:PORT" of a currently free TCP port.
//
// The port is free when FreeAddr returns, not reserved: another process may
// take it before the caller binds it. StartMoto and StartRIE notice a server
// that failed to bind and retry on new ports.
func FreeAddr() (string, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// freeAddrs returns n distinct free loopback addresses, holding all the
// listeners open until every one is chosen so that none repeats.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// maxNamePrefix bounds the base part of UniqueName (Secrets Manager allows
// 512 characters in a name).
const maxNamePrefix = 200

// UniqueName returns a secret name unique in this run: base (for tests,
// t.Name()) with every character that a secret name may not hold (anything
// but letters, digits and /_+=.@-) replaced by '-', then '-' and 16 random
// hex digits. (AWS advises against names ending in '-' and exactly six
// characters, which look like the suffix of a secret's ARN; this suffix is
// longer.) An empty base becomes "test".
func UniqueName(base string) string {
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			strings.ContainsRune("/_+=.@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	prefix := b.String()
	if len(prefix) > maxNamePrefix {
		prefix = prefix[:maxNamePrefix]
	}
	if prefix == "" {
		prefix = "test"
	}
	return prefix + "-" + randomHex(8)
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(buf)
}

// NewUUID returns a random (version 4) UUID string, e.g. for a
// ClientRequestToken or an invocation's request id.
func NewUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
