package main

// The floor: the calls the function makes, made by the benchmark itself,
// one after the other, with the Go SDK client (through the same latency
// proxy to the same moto_server) and a plain HTTP client (to the same
// emulator behind the same latency). Each direct run changes the secret as
// the function would, so the two can alternate on the same secrets.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// getDoc reads a version of a secret through the proxy and decodes it.
func (e *env) getDoc(ctx context.Context, in *secretsmanager.GetSecretValueInput) (string, map[string]any, error) {
	out, doc, err := e.getVersion(ctx, in)
	if err != nil {
		return "", nil, err
	}
	return aws.ToString(out.VersionId), doc, nil
}

func (e *env) getVersion(ctx context.Context, in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, map[string]any, error) {
	out, err := e.sm.GetSecretValue(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		return nil, nil, err
	}
	return out, doc, nil
}

func current(id string) *secretsmanager.GetSecretValueInput {
	return &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(secrets.StageCurrent)}
}

func pendingVersion(id, version string) *secretsmanager.GetSecretValueInput {
	return &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(version), VersionStage: aws.String(secrets.StagePending)}
}

// postToken makes one token request to the emulator through the latency.
func (e *env) postToken(ctx context.Context, apiKey string, form url.Values) (tokenAnswer, error) {
	var t tokenAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.emURL+"/auth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return t, err
	}
	req.Header.Set("x-api-key", apiKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := e.mcHTTP.Do(req)
	if err != nil {
		return t, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return t, err
	}
	if resp.StatusCode != http.StatusOK {
		return t, fmt.Errorf("token request: HTTP %d: %s", resp.StatusCode, body)
	}
	return t, json.Unmarshal(body, &t)
}

// withToken puts a token answer into a secret document, as the refresher does.
func withToken(doc map[string]any, t tokenAnswer, grant string, issued time.Time) string {
	doc["access_token"] = t.AccessToken
	doc["token_type"] = t.TokenType
	if t.RefreshToken != "" {
		doc["refresh_token"] = t.RefreshToken
	}
	doc["expires_at"] = issued.Add(time.Duration(t.ExpiresIn) * time.Second).UTC().Format(time.RFC3339)
	doc["issued_at"] = issued.UTC().Format(time.RFC3339)
	doc["grant"] = grant
	b, _ := json.Marshal(doc)
	return string(b)
}

func str(doc map[string]any, k string) string {
	s, _ := doc[k].(string)
	return s
}

// directFresh is a scheduled refresh of a fresh secret: one read.
func (e *env) directFresh(ctx context.Context, id string) error {
	_, _, err := e.getDoc(ctx, current(id))
	return err
}

// directDue is a scheduled refresh of a due secret: read (and read the
// credentials secret in the split layout), refresh grant, write the new
// version under the product's own label, move AWSCURRENT to it, and, as the
// refresher does after a finished rotation (AWSPENDING left on the version
// that was current), take AWSPENDING off the old version.
func (e *env) directDue(ctx context.Context, id string) error {
	out, doc, err := e.getVersion(ctx, current(id))
	if err != nil {
		return err
	}
	from := aws.ToString(out.VersionId)
	apiKey := str(doc, "api_key")
	if cid := str(doc, "credentials_secret_id"); cid != "" {
		_, cred, err := e.getDoc(ctx, current(cid))
		if err != nil {
			return err
		}
		apiKey = str(cred, "api_key")
	}
	issued := time.Now()
	t, err := e.postToken(ctx, apiKey, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(doc, "refresh_token")}})
	if err != nil {
		return err
	}
	body := withToken(doc, t, "refresh_token", issued)
	to := localenv.NewUUID()
	if _, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), ClientRequestToken: aws.String(to), SecretString: aws.String(body),
		VersionStages: []string{secrets.StageStaged},
	}); err != nil {
		return err
	}
	if _, err = e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(secrets.StageCurrent),
		MoveToVersionId: aws.String(to), RemoveFromVersionId: aws.String(from),
	}); err != nil || !slices.Contains(out.VersionStages, secrets.StagePending) {
		return err
	}
	_, err = e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(secrets.StagePending), RemoveFromVersionId: aws.String(from),
	})
	return err
}

// directRotationStep makes the calls the function makes for one rotation
// step on a version that is AWSPENDING (the normal path).
func (e *env) directRotationStep(ctx context.Context, step, id, version, rotationToken string) error {
	if _, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)}); err != nil {
		return err
	}
	switch step {
	case "createSecret":
		_, doc, err := e.getDoc(ctx, current(id))
		if err != nil {
			return err
		}
		if _, _, err := e.getDoc(ctx, pendingVersion(id, version)); err == nil {
			return errors.New("createSecret: the pending version already has a value")
		}
		issued := time.Now()
		t, err := e.postToken(ctx, str(doc, "api_key"), url.Values{"grant_type": {"client_credentials"},
			"client_id": {str(doc, "api_key")}, "client_secret": {str(doc, "user_key")}})
		if err != nil {
			return err
		}
		_, err = e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(id), ClientRequestToken: aws.String(version),
			SecretString:  aws.String(withToken(doc, t, "client_credentials", issued)),
			VersionStages: []string{secrets.StagePending}, RotationToken: aws.String(rotationToken),
		})
		return err
	case "setSecret":
		return nil
	case "testSecret":
		_, _, err := e.getDoc(ctx, pendingVersion(id, version))
		return err
	case "finishSecret":
		if _, _, err := e.getDoc(ctx, pendingVersion(id, version)); err != nil {
			return err
		}
		from, _, err := e.getDoc(ctx, current(id))
		if err != nil {
			return err
		}
		_, err = e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(id), VersionStage: aws.String(secrets.StageCurrent),
			MoveToVersionId: aws.String(version), RemoveFromVersionId: aws.String(from),
		})
		return err
	}
	return fmt.Errorf("unknown step %q", step)
}
