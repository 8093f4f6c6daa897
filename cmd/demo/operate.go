package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/tokensource"
)

// operatorStatus runs the operator's companion, `mctoken status`, over the
// demo accounts, exactly as an operator would (a separate process with the
// standard AWS configuration, here pointed at the local Secrets Manager).
func (d *demo) operatorStatus(ctx context.Context) error {
	bin := filepath.Join(d.workDir, "mctoken")
	if err := localenv.BuildCommand("./cmd/mctoken", bin); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "status", "--secret", d.cc.secretID, "--secret", d.classic.secretID)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.workDir}, d.moto.Env()...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	d.printf("  $ mctoken status --secret %s --secret %s\n", d.cc.secretID, d.classic.secretID)
	for _, line := range strings.Split(strings.TrimRight(out.String()+errOut.String(), "\n"), "\n") {
		d.printf("    %s\n", line)
	}
	if err != nil {
		return fmt.Errorf("mctoken status: %w", err)
	}
	d.printf("  Every account is healthy (exit status 0); `--json` gives the same for scripts.\n")
	return nil
}

// consumerCall calls the MightyCall API the way another workload would,
// through the package secrets/tokensource: it reads AWSCURRENT, caches the
// token and adds Authorization and x-api-key to the request.
func (d *demo) consumerCall(ctx context.Context) error {
	src := tokensource.New(d.sm, d.cc.secretID)
	client := tokensource.NewClient(src, nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.mc.URL+"/api/profile", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("consumer call: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var env struct {
		IsSuccess bool `json:"isSuccess"`
	}
	_ = json.Unmarshal(body, &env)
	d.printf("  src := tokensource.New(secretsmanager.NewFromConfig(cfg), %q)\n", d.cc.secretID)
	d.printf("  tokensource.NewClient(src, nil).Get(\"%s/api/profile\")\n", d.mc.URL)
	d.printf("  ← HTTP %d, isSuccess=%v: the token from AWSCURRENT works at MightyCall\n", resp.StatusCode, env.IsSuccess)
	if resp.StatusCode != http.StatusOK || !env.IsSuccess {
		return fmt.Errorf("consumer call answered HTTP %d", resp.StatusCode)
	}
	return nil
}
