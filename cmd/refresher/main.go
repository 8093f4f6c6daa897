// Command refresher is the Lambda function (the bootstrap of a
// provided.al2023 runtime). It wires the configuration, the Secrets Manager
// client and the MightyCall client into refresher.Refresher and hands its
// Handle method to the Lambda runtime.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

func main() {
	r, err := setup(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "mightycall-token-refresher: configuration: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(r.Handle)
}

func setup(ctx context.Context) (*refresher.Refresher, error) {
	cfg, err := refresher.LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	// The SDK's HTTP client keeps 10 idle connections per host; with more
	// refreshes in flight, every call beyond that would open (and, against
	// AWS, TLS-handshake) a new connection. Keep one per concurrent refresh.
	smHTTP := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = cfg.Concurrency
		t.MaxIdleConns = max(t.MaxIdleConns, cfg.Concurrency)
	})
	// The SDK resolves AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL
	// itself; there is no other endpoint code path.
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(smHTTP), config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 5 })
	}))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	transport.MaxIdleConns = max(transport.MaxIdleConns, cfg.Concurrency)
	mc := &mightycall.Client{HTTPClient: &http.Client{Timeout: cfg.HTTPTimeout, Transport: transport}}
	return refresher.New(cfg, refresher.Deps{
		Store:     secrets.NewStore(secretsmanager.NewFromConfig(awsCfg)),
		Exchanger: mc,
		Checker:   mc,
		Now:       time.Now,
		Logger:    lambdacontext.NewLogger(),
		Metrics:   os.Stdout,
	}), nil
}
