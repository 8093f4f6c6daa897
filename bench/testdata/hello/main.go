// Command hello is the cold-start baseline of `make bench`: the smallest
// aws-lambda-go function, built exactly as the refresher's bootstrap is
// (CGO_ENABLED=0 -trimpath -tags lambda.norpc -ldflags "-s -w"). It lives
// under testdata so that ./... leaves it out.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) {
		return "hello", nil
	})
}
