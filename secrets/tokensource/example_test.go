package tokensource_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/oauth2"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/tokensource"
)

// A workload on AWS: the Secrets Manager client comes from the standard
// credential chain (the role of the Lambda function, task or instance), and
// every call to MightyCall goes through the client NewClient returns.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Create the Source once (outside a Lambda handler) and share it.
	src := tokensource.New(secretsmanager.NewFromConfig(cfg), "mightycall/main")
	client := tokensource.NewClient(src, nil)

	resp, err := client.Get("https://ccapi.mightycall.com/v4/api/profile")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// The Source is an oauth2.TokenSource, for code that wants the token itself.
// MightyCall also needs the x-api-key header, which APIKey supplies.
func ExampleSource_Token() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var ts oauth2.TokenSource = tokensource.New(secretsmanager.NewFromConfig(cfg), "mightycall/main")
	tok, err := ts.Token()
	if err != nil {
		log.Fatal(err) // e.g. "... not bootstrapped: run the refresher"
	}
	fmt.Println("token valid until", tok.Expiry)
}

// fakeSecrets stands in for Secrets Manager: the secret as the refresher
// writes it.
type fakeSecrets struct{ value string }

func (f fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: aws.String(f.value)}, nil
}

// NewClient adds the bearer token and the x-api-key header to every request.
// Here Secrets Manager is a fake and MightyCall a test server that checks
// both headers, as GET /v4/api/profile does.
func ExampleNewClient() {
	mightycall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer example-access-token" || r.Header.Get("x-api-key") != "example-api-key" {
			http.Error(w, `{"isSuccess":false}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"data":{"firstName":"Emulated"},"isSuccess":true}`)
	}))
	defer mightycall.Close()

	expires := time.Now().Add(20 * time.Hour).UTC().Format(time.RFC3339)
	secret := fakeSecrets{value: `{"api_key":"example-api-key","user_key":"never-read",` +
		`"access_token":"example-access-token","token_type":"bearer","expires_at":"` + expires + `"}`}

	client := tokensource.NewClient(tokensource.New(secret, "mightycall/main"), nil)
	resp, err := client.Get(mightycall.URL + "/v4/api/profile")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"data":{"firstName":"Emulated"},"isSuccess":true}
}
