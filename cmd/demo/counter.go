package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
)

// opCounts counts the Secrets Manager calls a proxy received, by operation.
func opCounts(p *faultproxy.Proxy) map[string]int {
	n := map[string]int{}
	for _, r := range p.Requests() {
		n[r.Op]++
	}
	return n
}

// callText says which calls were made: "GetSecretValue 2, PutSecretValue 2",
// or "none"; total is their number.
func callText(counts map[string]int) (total int, text string) {
	ops := make([]string, 0, len(counts))
	for op, n := range counts {
		if n > 0 {
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return opOrder(ops[i]) < opOrder(ops[j]) })
	parts := make([]string, len(ops))
	for i, op := range ops {
		total += counts[op]
		parts[i] = fmt.Sprintf("%s %d", op, counts[op])
	}
	if total == 0 {
		return 0, "none"
	}
	return total, strings.Join(parts, ", ")
}

// opOrder sorts operations the way a refresh makes them.
func opOrder(op string) string {
	for i, o := range []string{
		faultproxy.OpDescribeSecret, faultproxy.OpGetSecretValue,
		faultproxy.OpPutSecretValue, faultproxy.OpUpdateSecretVersionStage,
	} {
		if op == o {
			return fmt.Sprint(i)
		}
	}
	return "9" + op
}
