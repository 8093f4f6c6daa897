package refresher

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
)

// Config is the function's configuration (SPEC section 4).
type Config struct {
	SecretIDs      []string      // SECRET_IDS
	DefaultBaseURL string        // MIGHTYCALL_BASE_URL
	Margin         time.Duration // REFRESH_MARGIN
	Concurrency    int           // CONCURRENCY
	HTTPTimeout    time.Duration // HTTP_TIMEOUT: one MightyCall attempt
	// WriteReserve is the time kept back from the invocation's deadline for
	// writing the secret after a token is obtained (WRITE_RESERVE).
	WriteReserve time.Duration
	TokenCheck   bool   // TOKEN_CHECK=profile
	Namespace    string // METRICS_NAMESPACE
	// PerSecretMetrics emits SecondsToExpiry per secret (PER_SECRET_METRICS);
	// the aggregate minimum is always emitted.
	PerSecretMetrics bool
	FunctionName     string // AWS_LAMBDA_FUNCTION_NAME, a metric dimension
}

// Defaults.
const (
	DefaultMargin       = 6 * time.Hour
	DefaultConcurrency  = 8
	DefaultHTTPTimeout  = 10 * time.Second
	DefaultWriteReserve = 5 * time.Second
	DefaultNamespace    = "MightyCallTokenRefresher"
)

func (c Config) withDefaults() Config {
	if c.DefaultBaseURL == "" {
		c.DefaultBaseURL = mightycall.CallCenterBaseURL
	}
	if c.Margin <= 0 {
		c.Margin = DefaultMargin
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.WriteReserve <= 0 {
		c.WriteReserve = DefaultWriteReserve
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.FunctionName == "" {
		c.FunctionName = "mightycall-token-refresher"
	}
	return c
}

// LoadConfig reads the configuration from getenv (os.Getenv in main). An
// invalid value fails with a message naming the variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{PerSecretMetrics: true}
	for _, id := range strings.Split(getenv("SECRET_IDS"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.SecretIDs = append(c.SecretIDs, id)
		}
	}
	c.SecretIDs = dedupe(c.SecretIDs)
	if v := strings.TrimSpace(getenv("MIGHTYCALL_BASE_URL")); v != "" {
		u, err := mightycall.CheckBaseURL(v)
		if err != nil {
			return c, fmt.Errorf("MIGHTYCALL_BASE_URL: %w", err)
		}
		c.DefaultBaseURL = u
	}
	dur := func(name string, dst *time.Duration, lo, hi time.Duration) error {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a Go duration such as 6h or 90m", name, v)
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s: %s is outside %s..%s", name, d, lo, hi)
		}
		*dst = d
		return nil
	}
	if err := dur("REFRESH_MARGIN", &c.Margin, time.Minute, 23*time.Hour); err != nil {
		return c, err
	}
	if err := dur("HTTP_TIMEOUT", &c.HTTPTimeout, 100*time.Millisecond, 5*time.Minute); err != nil {
		return c, err
	}
	if err := dur("WRITE_RESERVE", &c.WriteReserve, 100*time.Millisecond, 5*time.Minute); err != nil {
		return c, err
	}
	if v := strings.TrimSpace(getenv("CONCURRENCY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			return c, fmt.Errorf("CONCURRENCY: %q must be a whole number from 1 to 256", v)
		}
		c.Concurrency = n
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("TOKEN_CHECK"))); v {
	case "", "off", "none", "false":
	case "profile":
		c.TokenCheck = true
	default:
		return c, fmt.Errorf("TOKEN_CHECK: %q must be off or profile", v)
	}
	if v := strings.TrimSpace(getenv("PER_SECRET_METRICS")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("PER_SECRET_METRICS: %q must be true or false", v)
		}
		c.PerSecretMetrics = b
	}
	c.Namespace = strings.TrimSpace(getenv("METRICS_NAMESPACE"))
	c.FunctionName = getenv("AWS_LAMBDA_FUNCTION_NAME")
	return c.withDefaults(), nil
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
