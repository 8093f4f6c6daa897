package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

// step is one numbered part of the demo.
type step struct {
	title string
	run   func(context.Context) error
}

// steps is the demo, in order. Each step narrates what it does, checks the
// outcome it shows (a surprise fails the demo), and leaves the services
// running for the next one.
//
// To add a part, append a step here: it is numbered and headed like the
// others and runs before the closing recap. (Planned: a `status` table of
// the secrets, and one consumer call reading access_token from AWSCURRENT.)
func (d *demo) steps() []step {
	return []step{
		{"Two MightyCall accounts, stored with only their keys", d.createSecrets},
		{"First scheduled run: both accounts get their first token", d.firstRun},
		{"A second scheduled run right away: nothing to do", d.freshRun},
		{"A forced refresh: the refresh token is used", d.forcedRefresh},
		{"A full rotation, driven the way Secrets Manager drives it", d.rotation},
		{"MightyCall rejects the refresh token: fall back to the keys", d.fallback},
		{"An event the function does not understand", d.rejectedEvent},
		{"The operator's view: mctoken status", d.operatorStatus},
		{"A consumer calls the MightyCall API with the token", d.consumerCall},
	}
}

func (d *demo) createSecrets(ctx context.Context) error {
	for _, a := range []account{d.cc, d.classic} {
		doc := map[string]string{"api_key": a.apiKey, "user_key": a.secretKey(), "base_url": d.mc.URL}
		order := []string{"api_key", "user_key", "base_url"}
		if a.extension != "" {
			doc["platform"] = "classic"
			order = []string{"api_key", "user_key", "platform", "base_url"}
		}
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range order {
			if i > 0 {
				b.WriteByte(',')
			}
			kj, _ := json.Marshal(k)
			vj, _ := json.Marshal(doc[k])
			fmt.Fprintf(&b, "%s:%s", kj, vj)
		}
		b.WriteByte('}')
		if _, err := d.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(a.secretID), SecretString: aws.String(b.String()),
		}); err != nil {
			return fmt.Errorf("creating %s: %w", a.secretID, err)
		}
		shown, err := maskedDoc(b.String())
		if err != nil {
			return err
		}
		d.printf("  %s: %s\n    %s\n", a.secretID, a.what, shown)
	}
	d.printf("  base_url is the emulator (http: allowed on loopback only). The function has SECRET_IDS=%s,%s\n", d.cc.secretID, d.classic.secretID)
	return nil
}

func (d *demo) firstRun(ctx context.Context) error {
	d.printf("  An EventBridge schedule invokes the function (every 30 minutes by default); {} means the same.\n")
	c, s, err := d.refresh(ctx, `{}`)
	if err != nil {
		return err
	}
	if err := expect(s, 2, "refreshed", "client_credentials"); err != nil {
		return err
	}
	d.printCalls(c)
	d.printLog(c)
	cur, err := d.current(ctx, d.cc.secretID)
	if err != nil {
		return err
	}
	fields, err := docFields(aws.ToString(cur.SecretString))
	if err != nil {
		return err
	}
	d.printf("  %s (AWSCURRENT) now also holds:\n", d.cc.secretID)
	for _, f := range fields {
		switch f.name {
		case "api_key", "user_key", "base_url", "platform":
			continue // as the user stored them
		}
		d.printf("    %-14s %s\n", f.name, f.value)
	}
	return nil
}

func (d *demo) freshRun(ctx context.Context) error {
	c, s, err := d.refresh(ctx, `{}`)
	if err != nil {
		return err
	}
	if err := expect(s, 2, "skipped", "client_credentials"); err != nil {
		return err
	}
	d.printCalls(c)
	if c.tokens.TokenRequests != 0 || c.smText != "GetSecretValue 2" {
		return fmt.Errorf("a fresh run made calls: %d token requests; Secrets Manager: %s", c.tokens.TokenRequests, c.smText)
	}
	d.printf("  Both tokens are fresh (valid for longer than REFRESH_MARGIN, 6h): one read each, no other call.\n")
	d.printLog(c)
	return nil
}

func (d *demo) forcedRefresh(ctx context.Context) error {
	c, s, err := d.refresh(ctx, `{"secret_ids":["`+d.cc.secretID+`","`+d.classic.secretID+`"],"force":true}`)
	if err != nil {
		return err
	}
	if err := expect(s, 2, "refreshed", "refresh_token"); err != nil {
		return err
	}
	d.printCalls(c)
	d.printf("  Each new version becomes AWSCURRENT (the old one AWSPREVIOUS) by a compare-and-swap.\n")
	d.printLog(c)
	return nil
}

func (d *demo) rotation(ctx context.Context) error {
	a := d.cc
	// moto cannot invoke a Lambda function: RotateSecret fails to call
	// this made-up one, but leaves rotation enabled and the empty AWSPENDING
	// version that Secrets Manager creates before calling createSecret.
	_, rotateErr := d.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(a.secretID),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:mightycall-token-refresher"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)},
	})
	desc, err := d.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(a.secretID)})
	if err != nil {
		return err
	}
	version := ""
	for id, stages := range desc.VersionIdsToStages {
		for _, s := range stages {
			if s == "AWSPENDING" {
				version = id
			}
		}
	}
	if version == "" {
		return fmt.Errorf("RotateSecret left no AWSPENDING version (RotateSecret: %v)", rotateErr)
	}
	labels, err := d.labels(ctx, a.secretID, version)
	if err != nil {
		return err
	}
	d.printf("  RotateSecret on %s: Secrets Manager adds an empty version labelled AWSPENDING, then\n", a.secretID)
	d.printf("  calls the function once per step. moto cannot call a Lambda, so the demo sends the events.\n")
	d.printf("  labels before:       %s\n", labels)
	for i, st := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		payload := fmt.Sprintf(`{"Step":%q,"SecretId":%q,"ClientRequestToken":%q,"RotationToken":%q}`, st, a.secretID, version, d.rotationToken)
		shown := payload
		if i > 0 {
			shown = fmt.Sprintf(`{"Step":%q, and the same SecretId, ClientRequestToken, RotationToken}`, st)
		}
		d.printf("  → invoke %s\n", shown)
		c, err := d.invokeQuiet(ctx, payload)
		if err != nil {
			return err
		}
		if c.inv.FunctionError {
			return fmt.Errorf("%s failed: %s: %s", st, c.inv.ErrorType, c.inv.ErrorMessage)
		}
		labels, err := d.labels(ctx, a.secretID, version)
		if err != nil {
			return err
		}
		d.printf("  labels after %-8s %s\n", strings.TrimSuffix(st, "Secret")+":", labels)
		for _, l := range c.logLines {
			d.printf("    %s\n", l)
		}
	}
	cur, err := d.current(ctx, a.secretID)
	if err != nil {
		return err
	}
	var doc struct {
		Grant string `json:"grant"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &doc)
	if aws.ToString(cur.VersionId) != version || doc.Grant != "client_credentials" {
		return fmt.Errorf("after finishSecret AWSCURRENT is version %s with grant %q; want the rotation's version %s, client_credentials",
			aws.ToString(cur.VersionId), doc.Grant, version)
	}
	d.printf("  AWSCURRENT is the rotation's version; finishSecret took AWSPENDING off, so the next rotation can start.\n")
	d.printf("  createSecret logged in afresh but wrote AWSPENDING only: consumers kept the old token until finishSecret.\n")
	return nil
}

func (d *demo) fallback(ctx context.Context) error {
	fault := emulator.Fault{Grant: "refresh_token", Status: 400, Body: `{"error":"invalid_grant"}`, ContentType: "application/json"}
	if err := d.mc.InjectFault(ctx, fault); err != nil {
		return err
	}
	// The fault as the control API takes it, without its zero fields.
	fj, _ := json.Marshal(struct {
		Grant       string
		Status      int
		Body        string
		ContentType string
	}{fault.Grant, fault.Status, fault.Body, fault.ContentType})
	d.printf("  The emulator is told to reject the next refresh token, as MightyCall does with a revoked one:\n")
	d.printf("  POST /_emulator/faults %s\n", fj)
	c, s, err := d.refresh(ctx, `{"secret_ids":["`+d.cc.secretID+`"],"force":true}`)
	if err != nil {
		return err
	}
	if err := expect(s, 1, "refreshed", "client_credentials"); err != nil {
		return err
	}
	d.printCalls(c)
	fellBack := false
	for _, l := range c.logLines {
		if strings.Contains(l, "fell back") {
			fellBack = true
		}
	}
	if !fellBack || c.tokens.RefreshToken != 1 || c.tokens.ClientCredentials != 1 {
		return fmt.Errorf("no fallback: %d refresh_token and %d client_credentials requests; log:\n%s",
			c.tokens.RefreshToken, c.tokens.ClientCredentials, strings.Join(c.logLines, "\n"))
	}
	d.printf("  The rejected refresh token (invalid_grant) is dropped and the keys log in, in the same run:\n")
	d.printLog(c)
	return nil
}

func (d *demo) rejectedEvent(ctx context.Context) error {
	c, err := d.invoke(ctx, `{"hello":1}`)
	if err != nil {
		return err
	}
	if !c.inv.FunctionError || !strings.Contains(c.inv.ErrorMessage, "unsupported event") {
		return fmt.Errorf("the event was not rejected: %s", c.inv.Body)
	}
	if c.tokens.TokenRequests != 0 || c.smTotal != 0 {
		return fmt.Errorf("a rejected event made calls: %d token requests; Secrets Manager: %s", c.tokens.TokenRequests, c.smText)
	}
	d.printf("  ← function error %s: %s\n", c.inv.ErrorType, c.inv.ErrorMessage)
	d.printCalls(c)
	d.printf("  Lambda counts it as an error (metrics, retries, alarms); nothing was read or changed.\n")
	d.printLog(c)
	return nil
}

// recap closes the demo: where the logs are, and what it showed.
func (d *demo) recap() {
	d.heading("Where to look")
	d.printf("  This run's logs (masked), written when the services stop, in %s:\n", d.logDir)
	for _, f := range logFiles {
		d.printf("    %-23s %s\n", f[0], f[1])
	}
	d.heading("What you just saw")
	d.printf("  - A secret needs only api_key and user_key; the first run logs in and fills in the token fields.\n")
	d.printf("  - Scheduled runs are cheap: a fresh token costs one Secrets Manager read and no MightyCall call.\n")
	d.printf("  - When due or forced, the refresh token is used; if MightyCall rejects it, the keys are used\n")
	d.printf("    in the same run, so the secret always ends up with a working token.\n")
	d.printf("  - A rotation writes the new token as AWSPENDING only; finishSecret makes it AWSCURRENT, where\n")
	d.printf("    consumers read access_token. No key or token is ever logged.\n")
}

// expect checks a summary: n results, each with outcome and grant.
func expect(s summary, n int, outcome, grant string) error {
	if len(s.Results) != n {
		return fmt.Errorf("%d results, want %d", len(s.Results), n)
	}
	for _, r := range s.Results {
		if string(r.Outcome) != outcome || r.Grant != grant {
			return fmt.Errorf("%s: outcome %s, grant %q (%s); want %s, %s", r.SecretID, r.Outcome, r.Grant, r.Error, outcome, grant)
		}
	}
	return nil
}
