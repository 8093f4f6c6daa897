// Command echo is a small Lambda handler for the testenv package's own tests.
// It returns its input unchanged, except for these inputs:
//
//	{"fail":true}          returns an error
//	{"sleepMs":N}          sleeps N ms first (to test the timeout)
//	{"readSecret":"NAME"}  returns {"value": the AWSCURRENT value of secret NAME},
//	                       read with config.LoadDefaultConfig from the environment
//
// It prints one line per invocation so that tests can see its logs captured.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

type request struct {
	Fail       bool   `json:"fail"`
	SleepMs    int    `json:"sleepMs"`
	ReadSecret string `json:"readSecret"`
}

func handle(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
	var req request
	_ = json.Unmarshal(in, &req) // any JSON value that is not such an object is echoed
	switch {
	case req.Fail:
		fmt.Println("echo: failing on request")
		return nil, errors.New("echo: asked to fail")
	case req.SleepMs > 0:
		fmt.Printf("echo: sleeping %d ms\n", req.SleepMs)
		time.Sleep(time.Duration(req.SleepMs) * time.Millisecond)
	case req.ReadSecret != "":
		fmt.Printf("echo: reading secret %s\n", req.ReadSecret)
		return readSecret(ctx, req.ReadSecret)
	}
	fmt.Printf("echo: %d bytes\n", len(in))
	return in, nil
}

func readSecret(ctx context.Context, name string) (json.RawMessage, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(name),
		VersionStage: aws.String("AWSCURRENT"),
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"value": aws.ToString(out.SecretString)})
}

func main() {
	lambda.Start(handle)
}
