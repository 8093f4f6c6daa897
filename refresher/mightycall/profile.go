package mightycall

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// CheckToken makes one authenticated call, GET {base}/api/profile, and
// reports whether MightyCall accepts the token. The endpoint comes from
// public client code, not from MightyCall's documentation, so callers make
// this check optional.
func (c *Client) CheckToken(ctx context.Context, baseURL string, apiKey, accessToken sensitive.String) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/profile", nil)
	if err != nil {
		return fmt.Errorf("token check: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken.Reveal())
	req.Header.Set("x-api-key", apiKey.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("token check: %w", err)
	}
	defer resp.Body.Close()
	limit := orDefault(c.MaxResponseBytes, DefaultMaxResponseBytes)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("token check: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("token check: GET /api/profile answered HTTP %d", resp.StatusCode)
	}
	var env struct {
		IsSuccess bool `json:"isSuccess"`
	}
	if int64(len(body)) > limit || json.Unmarshal(body, &env) != nil {
		return fmt.Errorf("token check: GET /api/profile answered 200 without a JSON envelope")
	}
	if !env.IsSuccess {
		return fmt.Errorf("token check: GET /api/profile answered isSuccess=false")
	}
	return nil
}
