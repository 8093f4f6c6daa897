package main_test

// Static checks of the SAM template (../../template.yaml): least privilege on
// the secrets, the retained secret, the rotation wiring, the alarms and the
// function settings the code relies on. Each check is a function returning the
// problems it finds; TestTemplateChecksCatchBreakage proves every check fails
// on a deliberately broken copy of the template.

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	tplPath       = "../../template.yaml"
	tplConfigPath = "../../refresher/config.go"
)

// ---------------------------------------------------------------------------
// Loading: YAML with CloudFormation short-form tags -> the JSON form
// (map[string]any / []any / scalars, intrinsics as {"Ref": ...}, {"Fn::If": ...}).

var tplIntrinsics = map[string]bool{
	"Ref": true, "Condition": true, "GetAtt": true, "Sub": true, "If": true, "Equals": true, "Not": true,
	"And": true, "Or": true, "Select": true, "Join": true, "Split": true, "FindInMap": true, "Base64": true,
	"Cidr": true, "ImportValue": true, "GetAZs": true, "Transform": true, "ToJsonString": true, "Length": true,
}

func tplParse(b []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	v, err := tplFromNode(&doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template is %T, not a mapping", v)
	}
	return m, nil
}

func tplFromNode(n *yaml.Node) (any, error) {
	switch {
	case n.Kind == yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return tplFromNode(n.Content[0])
	case n.Kind == yaml.AliasNode:
		return tplFromNode(n.Alias)
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"):
		return tplIntrinsic(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: non-scalar mapping key", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := tplFromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := tplFromNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

// tplIntrinsic turns a node tagged !Name into the long form of that intrinsic.
func tplIntrinsic(n *yaml.Node) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	if !tplIntrinsics[name] {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	var arg any
	if n.Kind == yaml.ScalarNode {
		arg = n.Value
	} else {
		plain := *n
		plain.Tag = ""
		var err error
		if arg, err = tplFromNode(&plain); err != nil {
			return nil, err
		}
	}
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: arg}, nil
	case "GetAtt":
		if s, ok := arg.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q needs Resource.Attribute", n.Line, s)
			}
			arg = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: arg}, nil
}

func tplLoad(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(tplPath)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := tplParse(b)
	if err != nil {
		t.Fatalf("%s: %v", tplPath, err)
	}
	return tpl
}

// ---------------------------------------------------------------------------
// Small accessors.

func tplMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func tplList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}
func tplStr(v any) string { s, _ := v.(string); return s }

// tplGet follows a path of mapping keys.
func tplGet(v any, path ...string) any {
	for _, k := range path {
		v = tplMap(v)[k]
	}
	return v
}

func tplRef(name string) map[string]any { return map[string]any{"Ref": name} }
func tplGetAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

func tplResources(tpl map[string]any) map[string]any { return tplMap(tpl["Resources"]) }

func tplResource(tpl map[string]any, name string) map[string]any {
	return tplMap(tplResources(tpl)[name])
}

func tplOfType(tpl map[string]any, typ string) []string {
	var names []string
	for name, r := range tplResources(tpl) {
		if tplStr(tplMap(r)["Type"]) == typ {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// tplFunctionProp is a property of the function, falling back to Globals.
func tplFunctionProp(tpl map[string]any, fn string, key string) any {
	if v, ok := tplMap(tplGet(tplResource(tpl, fn), "Properties"))[key]; ok {
		return v
	}
	return tplGet(tpl, "Globals", "Function", key)
}

// tplContains reports whether want occurs anywhere inside v (deep equality).
func tplContains(v, want any) bool {
	if reflect.DeepEqual(v, want) {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			if tplContains(c, want) {
				return true
			}
		}
	case []any:
		for _, c := range x {
			if tplContains(c, want) {
				return true
			}
		}
	}
	return false
}

// tplExpandIf calls emit for every value v can take: both branches of each
// Fn::If (with the condition, negated as "!Cond" for the false branch), and
// nothing for AWS::NoValue.
func tplExpandIf(v any, conds []string, emit func(v any, conds []string)) {
	if m := tplMap(v); len(m) == 1 {
		if args, ok := m["Fn::If"].([]any); ok && len(args) == 3 {
			c := tplStr(args[0])
			tplExpandIf(args[1], append(slices.Clone(conds), c), emit)
			tplExpandIf(args[2], append(slices.Clone(conds), "!"+c), emit)
			return
		}
		if m["Ref"] == "AWS::NoValue" {
			return
		}
	}
	emit(v, conds)
}

// ---------------------------------------------------------------------------
// IAM policies anywhere in the template.

type tplStatement struct {
	where string
	conds []string // conditions on its path; "!X" is the false branch of X
	body  map[string]any
}

func (s tplStatement) under(cond string) bool { return slices.Contains(s.conds, cond) }

// actions: every string in Action (both branches of any Fn::If).
func (s tplStatement) actions() []string {
	var out []string
	tplExpandIf(s.body["Action"], nil, func(v any, _ []string) {
		for _, a := range tplList(v) {
			if str, ok := a.(string); ok {
				out = append(out, str)
			}
		}
	})
	return out
}

func (s tplStatement) hasActionPrefix(prefix string) bool {
	for _, a := range s.actions() {
		if strings.HasPrefix(strings.ToLower(a), prefix) {
			return true
		}
	}
	return false
}

// tplLeaves collects what a Resource expression can evaluate to: literal
// strings (including Fn::Sub templates), Ref targets and Fn::GetAtt targets.
func tplLeaves(v any, literals, refs *[]string) {
	switch x := v.(type) {
	case string:
		*literals = append(*literals, x)
	case []any:
		for _, c := range x {
			tplLeaves(c, literals, refs)
		}
	case map[string]any:
		for k, c := range x {
			switch k {
			case "Ref":
				*refs = append(*refs, tplStr(c))
			case "Fn::GetAtt":
				*refs = append(*refs, "GetAtt:"+fmt.Sprint(c))
			case "Fn::If":
				args := tplList(c)
				if len(args) == 3 {
					tplLeaves(args[1], literals, refs)
					tplLeaves(args[2], literals, refs)
				}
			default:
				tplLeaves(c, literals, refs)
			}
		}
	}
}

type tplPolicyDoc struct {
	resource string
	where    string
	conds    []string
	doc      any
}

// tplPolicyDocs: inline policies of functions and roles, managed and inline
// policy resources. otherPolicies lists the function's non-inline entries
// (managed policy names, SAM policy templates).
func tplPolicyDocs(tpl map[string]any) (docs []tplPolicyDoc, otherPolicies []string) {
	for name, rv := range tplResources(tpl) {
		r := tplMap(rv)
		props := tplMap(r["Properties"])
		var conds []string
		if c := tplStr(r["Condition"]); c != "" {
			conds = []string{c}
		}
		switch tplStr(r["Type"]) {
		case "AWS::Serverless::Function":
			tplExpandIf(props["Policies"], conds, func(v any, conds []string) {
				for i, p := range tplList(v) {
					where := fmt.Sprintf("%s Policies[%d]", name, i)
					tplExpandIf(p, conds, func(p any, conds []string) {
						m := tplMap(p)
						switch {
						case m["Statement"] != nil:
							docs = append(docs, tplPolicyDoc{name, where, conds, m})
						case m != nil:
							for k := range m {
								otherPolicies = append(otherPolicies, where+" SAM policy template "+k)
							}
						default:
							otherPolicies = append(otherPolicies, where+" managed policy "+fmt.Sprint(p))
						}
					})
				}
			})
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			docs = append(docs, tplPolicyDoc{name, name + " PolicyDocument", conds, props["PolicyDocument"]})
		case "AWS::IAM::Role":
			for i, p := range tplList(props["Policies"]) {
				docs = append(docs, tplPolicyDoc{name, fmt.Sprintf("%s Policies[%d]", name, i), conds,
					tplGet(p, "PolicyDocument")})
			}
		}
	}
	return docs, otherPolicies
}

func tplStatements(tpl map[string]any, resource string) []tplStatement {
	docs, _ := tplPolicyDocs(tpl)
	var out []tplStatement
	for _, d := range docs {
		if resource != "" && d.resource != resource {
			continue
		}
		tplExpandIf(tplGet(d.doc, "Statement"), d.conds, func(v any, conds []string) {
			for i, s := range tplList(v) {
				tplExpandIf(s, conds, func(s any, conds []string) {
					body := tplMap(s)
					where := fmt.Sprintf("%s Statement[%d]", d.where, i)
					if sid := tplStr(body["Sid"]); sid != "" {
						where += " (" + sid + ")"
					}
					out = append(out, tplStatement{where, conds, body})
				})
			}
		})
	}
	return out
}

// ---------------------------------------------------------------------------
// The checks. Each returns the problems it finds.

var (
	tplTokenSecretRefs = []string{"TokenSecret", "ExistingSecretArn", "AdditionalSecretArns"}
	tplReadOnlyActions = []string{"secretsmanager:getsecretvalue", "secretsmanager:describesecret"}
)

// Every statement granting a Secrets Manager action names its secrets: no
// wildcard, only the template's secret parameters and the created secret.
func tplCheckSecretsManagerResources(tpl map[string]any) []string {
	var probs []string
	allowedRefs := append(slices.Clone(tplTokenSecretRefs), "CredentialsSecretArns")
	for _, s := range tplStatements(tpl, "") {
		if s.body["NotAction"] != nil || s.body["NotResource"] != nil || s.body["NotPrincipal"] != nil {
			probs = append(probs, s.where+": uses NotAction/NotResource/NotPrincipal")
		}
		for _, a := range s.actions() {
			l := strings.ToLower(a)
			if strings.ContainsAny(a, "*?") && (l == "*" || strings.HasPrefix(l, "secretsmanager:") || strings.HasPrefix(l, "kms:")) {
				probs = append(probs, fmt.Sprintf("%s: wildcard action %q", s.where, a))
			}
		}
		if !s.hasActionPrefix("secretsmanager:") {
			continue
		}
		if s.body["Resource"] == nil {
			probs = append(probs, s.where+": Secrets Manager statement without Resource")
		}
		var literals, refs []string
		tplLeaves(s.body["Resource"], &literals, &refs)
		for _, l := range literals {
			if strings.ContainsAny(l, "*?") {
				probs = append(probs, fmt.Sprintf("%s: wildcard resource %q for Secrets Manager actions", s.where, l))
			}
		}
		for _, r := range refs {
			if !slices.Contains(allowedRefs, r) {
				probs = append(probs, fmt.Sprintf("%s: Secrets Manager resource refers to %s, not to a managed secret", s.where, r))
			}
		}
	}
	_, others := tplPolicyDocs(tpl)
	for _, o := range others {
		l := strings.ToLower(o)
		if strings.Contains(l, "secret") || strings.Contains(l, "kms") || strings.Contains(l, "key") ||
			strings.Contains(l, "admin") || strings.Contains(l, "fullaccess") || strings.Contains(l, "poweruser") {
			probs = append(probs, o+": broad managed policy or SAM policy template (use an explicit statement)")
		}
	}
	return probs
}

// KMS actions only under the HasKmsKey condition, on KmsKeyArn, via Secrets Manager.
func tplCheckKMS(tpl map[string]any) []string {
	var probs []string
	found := false
	for _, s := range tplStatements(tpl, "") {
		if !s.hasActionPrefix("kms:") {
			continue
		}
		found = true
		if !s.under("HasKmsKey") {
			probs = append(probs, s.where+": KMS actions outside a !If on HasKmsKey")
		}
		if !reflect.DeepEqual(s.body["Resource"], tplRef("KmsKeyArn")) {
			probs = append(probs, fmt.Sprintf("%s: KMS Resource is %v, want !Ref KmsKeyArn", s.where, s.body["Resource"]))
		}
		if tplGet(s.body, "Condition", "StringEquals", "kms:ViaService") == nil {
			probs = append(probs, s.where+": KMS statement without a kms:ViaService condition")
		}
	}
	if !found {
		probs = append(probs, "no KMS statement at all (a customer managed KmsKeyArn needs one)")
	}
	return probs
}

// The function may only read CredentialsSecretArns; it writes the token secrets.
func tplCheckCredentialsReadOnly(tpl map[string]any) []string {
	var probs []string
	writes := map[string]bool{}
	for _, s := range tplStatements(tpl, "") {
		if !s.hasActionPrefix("secretsmanager:") {
			continue
		}
		onCreds := tplContains(s.body["Resource"], tplRef("CredentialsSecretArns"))
		for _, a := range s.actions() {
			l := strings.ToLower(a)
			if onCreds && !slices.Contains(tplReadOnlyActions, l) {
				probs = append(probs, fmt.Sprintf("%s: %s granted on CredentialsSecretArns (read-only secrets)", s.where, a))
			}
			if !onCreds && s.body["Effect"] == "Allow" && strings.HasPrefix(s.where, "RefresherFunction ") {
				writes[l] = true
			}
		}
	}
	for _, a := range []string{"secretsmanager:putsecretvalue", "secretsmanager:updatesecretversionstage"} {
		if !writes[a] {
			probs = append(probs, "the function's policy does not grant "+a+" on the token secrets")
		}
	}
	return probs
}

// TokenReadPolicy: GetSecretValue on the token secrets, kms:Decrypt under HasKmsKey, nothing else.
func tplCheckTokenReadPolicy(tpl map[string]any) []string {
	var probs []string
	r := tplResource(tpl, "TokenReadPolicy")
	if tplStr(r["Type"]) != "AWS::IAM::ManagedPolicy" {
		return []string{"TokenReadPolicy is not an AWS::IAM::ManagedPolicy"}
	}
	if tplContains(r, tplRef("CredentialsSecretArns")) {
		probs = append(probs, "TokenReadPolicy refers to CredentialsSecretArns (consumers must never read the keys)")
	}
	var readRefs []string
	for _, s := range tplStatements(tpl, "TokenReadPolicy") {
		if s.body["Effect"] != "Allow" {
			continue
		}
		for _, a := range s.actions() {
			switch strings.ToLower(a) {
			case "secretsmanager:getsecretvalue":
				var literals []string
				tplLeaves(s.body["Resource"], &literals, &readRefs)
			case "kms:decrypt":
				// the KMS check covers the condition, resource and kms:ViaService
			default:
				probs = append(probs, fmt.Sprintf("%s: TokenReadPolicy grants %s (only GetSecretValue and kms:Decrypt)", s.where, a))
			}
		}
	}
	for _, want := range tplTokenSecretRefs {
		if !slices.Contains(readRefs, want) {
			probs = append(probs, "TokenReadPolicy does not grant GetSecretValue on "+want)
		}
	}
	for _, ref := range readRefs {
		if !slices.Contains(tplTokenSecretRefs, ref) {
			probs = append(probs, "TokenReadPolicy grants GetSecretValue on "+ref)
		}
	}
	if !reflect.DeepEqual(tplGet(tpl, "Outputs", "TokenReadPolicyArn", "Value"), tplRef("TokenReadPolicy")) {
		probs = append(probs, "output TokenReadPolicyArn is not !Ref TokenReadPolicy")
	}
	return probs
}

// Created secrets survive stack deletion and replacement.
func tplCheckSecretRetained(tpl map[string]any) []string {
	var probs []string
	secrets := tplOfType(tpl, "AWS::SecretsManager::Secret")
	if !slices.Contains(secrets, "TokenSecret") {
		probs = append(probs, "no AWS::SecretsManager::Secret TokenSecret")
	}
	for _, name := range secrets {
		r := tplResource(tpl, name)
		for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if r[k] != "Retain" {
				probs = append(probs, fmt.Sprintf("%s: %s is %v, want Retain", name, k, r[k]))
			}
		}
	}
	return probs
}

// Every rotation schedule waits for Secrets Manager's permission to invoke its
// function, and that permission is limited to this account.
func tplCheckRotationSchedule(tpl map[string]any) []string {
	var probs []string
	schedules := tplOfType(tpl, "AWS::SecretsManager::RotationSchedule")
	if len(schedules) == 0 {
		probs = append(probs, "no AWS::SecretsManager::RotationSchedule")
	}
	for _, name := range schedules {
		r := tplResource(tpl, name)
		lambdaARN := tplGet(r, "Properties", "RotationLambdaARN")
		ok := false
		for _, dep := range tplList(r["DependsOn"]) {
			p := tplResource(tpl, tplStr(dep))
			props := tplMap(p["Properties"])
			if tplStr(p["Type"]) != "AWS::Lambda::Permission" ||
				props["Principal"] != "secretsmanager.amazonaws.com" {
				continue
			}
			ok = true
			if props["SourceAccount"] == nil {
				probs = append(probs, fmt.Sprintf("%s: permission %v has no SourceAccount", name, dep))
			}
			if props["Action"] != "lambda:InvokeFunction" {
				probs = append(probs, fmt.Sprintf("%s: permission %v action is %v", name, dep, props["Action"]))
			}
			if !reflect.DeepEqual(props["FunctionName"], lambdaARN) {
				probs = append(probs, fmt.Sprintf("%s: permission %v is for %v, rotation uses %v", name, dep, props["FunctionName"], lambdaARN))
			}
		}
		if !ok {
			probs = append(probs, name+": does not DependsOn the secretsmanager.amazonaws.com Lambda permission")
		}
	}
	return probs
}

type tplMetric struct {
	namespace any
	name      string
	dims      map[string]any
	stat      string
	period    int
}

// tplAlarmMetrics: the metrics an alarm reads, plain or in metric math.
func tplAlarmMetrics(props map[string]any) []tplMetric {
	dims := func(v any) map[string]any {
		out := map[string]any{}
		for _, d := range tplList(v) {
			out[tplStr(tplGet(d, "Name"))] = tplGet(d, "Value")
		}
		return out
	}
	if name := tplStr(props["MetricName"]); name != "" {
		stat := tplStr(props["Statistic"])
		if stat == "" {
			stat = tplStr(props["ExtendedStatistic"])
		}
		p, _ := props["Period"].(int)
		return []tplMetric{{props["Namespace"], name, dims(props["Dimensions"]), stat, p}}
	}
	var out []tplMetric
	for _, m := range tplList(props["Metrics"]) {
		ms := tplMap(tplGet(m, "MetricStat"))
		if ms == nil {
			continue
		}
		p, _ := ms["Period"].(int)
		out = append(out, tplMetric{tplGet(ms, "Metric", "Namespace"), tplStr(tplGet(ms, "Metric", "MetricName")),
			dims(tplGet(ms, "Metric", "Dimensions")), tplStr(ms["Stat"]), p})
	}
	return out
}

func tplAlarmsOn(tpl map[string]any, namespace any, metric string) []string {
	var names []string
	for _, name := range tplOfType(tpl, "AWS::CloudWatch::Alarm") {
		for _, m := range tplAlarmMetrics(tplMap(tplResource(tpl, name)["Properties"])) {
			if reflect.DeepEqual(m.namespace, namespace) && m.name == metric {
				names = append(names, name)
				break
			}
		}
	}
	return names
}

func tplCheckAlarmBasics(name string, props map[string]any, ns any, metric, wantStat string) []string {
	var probs []string
	if !tplContains(props["AlarmActions"], tplRef("AlarmTopic")) {
		probs = append(probs, name+": AlarmActions does not notify AlarmTopic")
	}
	eval, _ := props["EvaluationPeriods"].(int)
	for _, m := range tplAlarmMetrics(props) {
		if !reflect.DeepEqual(m.namespace, ns) || m.name != metric {
			continue
		}
		if !reflect.DeepEqual(m.dims["FunctionName"], tplRef("RefresherFunction")) {
			probs = append(probs, fmt.Sprintf("%s: %s dimension FunctionName is %v, want !Ref RefresherFunction", name, metric, m.dims["FunctionName"]))
		}
		if m.stat != wantStat {
			probs = append(probs, fmt.Sprintf("%s: %s statistic %q, want %s", name, metric, m.stat, wantStat))
		}
		// The schedule runs every 30 minutes: an hour is two runs.
		if m.period <= 0 || eval <= 0 || m.period*eval > 3600 {
			probs = append(probs, fmt.Sprintf("%s: evaluates %d x %d s, want at most one hour", name, eval, m.period))
		}
	}
	return probs
}

// The expiry alarm and the failure alarm, both notifying the alarm topic.
func tplCheckAlarms(tpl map[string]any) []string {
	var probs []string
	ns := tplRef("MetricsNamespace")
	expiry := tplAlarmsOn(tpl, ns, "MinSecondsToExpiry")
	if len(expiry) == 0 {
		probs = append(probs, "no alarm on MinSecondsToExpiry")
	}
	for _, name := range expiry {
		props := tplMap(tplResource(tpl, name)["Properties"])
		probs = append(probs, tplCheckAlarmBasics(name, props, ns, "MinSecondsToExpiry", "Minimum")...)
		if props["TreatMissingData"] != "breaching" {
			probs = append(probs, fmt.Sprintf("%s: TreatMissingData %v, want breaching (fire when the function stops)", name, props["TreatMissingData"]))
		}
		if !strings.HasPrefix(tplStr(props["ComparisonOperator"]), "LessThan") {
			probs = append(probs, fmt.Sprintf("%s: ComparisonOperator %v, want LessThan...", name, props["ComparisonOperator"]))
		}
		if !tplContains(props["Threshold"], tplRef("ExpiryAlarmThresholdHours")) {
			probs = append(probs, name+": Threshold does not come from ExpiryAlarmThresholdHours")
		}
		// Hours against a metric in seconds: the alarm must read it through "/ 3600".
		converted := false
		for _, m := range tplList(props["Metrics"]) {
			if tplGet(m, "ReturnData") == true && strings.Contains(tplStr(tplGet(m, "Expression")), "/ 3600") {
				converted = true
			}
		}
		if !converted {
			probs = append(probs, name+": threshold in hours but no returned metric math expression converts seconds (\"/ 3600\")")
		}
	}
	if d := tplGet(tpl, "Parameters", "ExpiryAlarmThresholdHours", "Default"); d != 4 {
		probs = append(probs, fmt.Sprintf("ExpiryAlarmThresholdHours default %v, want 4 (the simulation shows 4 h fires at least 3 h before expiry)", d))
	}

	failure := tplAlarmsOn(tpl, ns, "Failed")
	failure = append(failure, tplAlarmsOn(tpl, "AWS/Lambda", "Errors")...)
	slices.Sort(failure)
	failure = slices.Compact(failure)
	if len(failure) == 0 {
		probs = append(probs, "no alarm on Failed or Lambda Errors")
	}
	for _, name := range failure {
		props := tplMap(tplResource(tpl, name)["Properties"])
		probs = append(probs, tplCheckAlarmBasics(name, props, ns, "Failed", "Sum")...)
		probs = append(probs, tplCheckAlarmBasics(name, props, "AWS/Lambda", "Errors", "Sum")...)
		if props["TreatMissingData"] != "notBreaching" {
			probs = append(probs, fmt.Sprintf("%s: TreatMissingData %v, want notBreaching", name, props["TreatMissingData"]))
		}
		op, th := props["ComparisonOperator"], props["Threshold"]
		if !(op == "GreaterThanOrEqualToThreshold" && th == 1) && !(op == "GreaterThanThreshold" && th == 0) {
			probs = append(probs, fmt.Sprintf("%s: %v %v, want >= 1", name, op, th))
		}
	}

	if tplStr(tplResource(tpl, "AlarmTopic")["Type"]) != "AWS::SNS::Topic" {
		probs = append(probs, "no AWS::SNS::Topic AlarmTopic")
	}
	if d, ok := tplGet(tpl, "Parameters", "AlarmEmail").(map[string]any); !ok || d["Default"] != "" {
		probs = append(probs, "parameter AlarmEmail missing or not empty by default")
	}
	subscribed := false
	for _, name := range tplOfType(tpl, "AWS::SNS::Subscription") {
		r := tplResource(tpl, name)
		if reflect.DeepEqual(tplGet(r, "Properties", "TopicArn"), tplRef("AlarmTopic")) &&
			reflect.DeepEqual(tplGet(r, "Properties", "Endpoint"), tplRef("AlarmEmail")) {
			subscribed = true
			if r["Condition"] != "HasAlarmEmail" || !reflect.DeepEqual(tplGet(tpl, "Conditions", "HasAlarmEmail"),
				map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{tplRef("AlarmEmail"), ""}}}}) {
				probs = append(probs, name+": e-mail subscription not conditional on a non-empty AlarmEmail")
			}
		}
	}
	if !subscribed {
		probs = append(probs, "no subscription of AlarmEmail to AlarmTopic")
	}
	return probs
}

// The rotation-failure rule and the topic policy letting it publish.
func tplCheckRotationFailureRule(tpl map[string]any) []string {
	var probs []string
	var rules []string
	for _, name := range tplOfType(tpl, "AWS::Events::Rule") {
		p := tplGet(tplResource(tpl, name), "Properties", "EventPattern")
		if slices.Contains(tplList(tplGet(p, "source")), any("aws.secretsmanager")) {
			rules = append(rules, name)
		}
	}
	if len(rules) == 0 {
		return []string{"no EventBridge rule on aws.secretsmanager events"}
	}
	for _, name := range rules {
		props := tplMap(tplResource(tpl, name)["Properties"])
		p := props["EventPattern"]
		if !slices.Contains(tplList(tplGet(p, "detail-type")), any("AWS Service Event via CloudTrail")) {
			probs = append(probs, name+": detail-type does not match \"AWS Service Event via CloudTrail\"")
		}
		events := tplList(tplGet(p, "detail", "eventName"))
		for _, e := range []string{"RotationFailed", "RotationAbandoned"} {
			if !slices.Contains(events, any(e)) {
				probs = append(probs, name+": does not match eventName "+e)
			}
		}
		targeted := false
		for _, tgt := range tplList(props["Targets"]) {
			if reflect.DeepEqual(tplGet(tgt, "Arn"), tplRef("AlarmTopic")) {
				targeted = true
			}
		}
		if !targeted {
			probs = append(probs, name+": does not target AlarmTopic")
		}
		allowed := false
		for _, tp := range tplOfType(tpl, "AWS::SNS::TopicPolicy") {
			props := tplMap(tplResource(tpl, tp)["Properties"])
			if !tplContains(props["Topics"], tplRef("AlarmTopic")) {
				continue
			}
			for _, s := range tplList(tplGet(props, "PolicyDocument", "Statement")) {
				if tplGet(s, "Effect") == "Allow" &&
					tplContains(tplGet(s, "Principal", "Service"), "events.amazonaws.com") &&
					tplContains(tplGet(s, "Action"), "sns:Publish") &&
					reflect.DeepEqual(tplGet(s, "Condition", "ArnEquals", "aws:SourceArn"), tplGetAtt(name, "Arn")) {
					allowed = true
				}
			}
		}
		if !allowed {
			probs = append(probs, name+": no AlarmTopic policy lets events.amazonaws.com publish with aws:SourceArn of this rule")
		}
	}
	return probs
}

// The function's runtime, build and logging, and its async failure handling.
func tplCheckFunction(tpl map[string]any) []string {
	var probs []string
	const fn = "RefresherFunction"
	r := tplResource(tpl, fn)
	if tplStr(r["Type"]) != "AWS::Serverless::Function" {
		return []string{"no AWS::Serverless::Function RefresherFunction"}
	}
	want := map[string]any{
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"Handler":       "bootstrap",
	}
	for k, v := range want {
		if got := tplFunctionProp(tpl, fn, k); !reflect.DeepEqual(got, v) {
			probs = append(probs, fmt.Sprintf("%s: %s is %v, want %v", fn, k, got, v))
		}
	}
	if got := tplGet(r, "Metadata", "BuildMethod"); got != "makefile" {
		probs = append(probs, fmt.Sprintf("%s: Metadata BuildMethod %v, want makefile", fn, got))
	}
	if got := tplGet(tplFunctionProp(tpl, fn, "LoggingConfig"), "LogFormat"); got != "JSON" {
		probs = append(probs, fmt.Sprintf("%s: LoggingConfig LogFormat %v, want JSON", fn, got))
	}
	eic := tplFunctionProp(tpl, fn, "EventInvokeConfig")
	if got := tplGet(eic, "MaximumRetryAttempts"); got != 1 {
		probs = append(probs, fmt.Sprintf("%s: EventInvokeConfig MaximumRetryAttempts %v, want 1", fn, got))
	}
	onFailure := tplGet(eic, "DestinationConfig", "OnFailure")
	if tplGet(onFailure, "Type") != "SQS" ||
		!reflect.DeepEqual(tplGet(onFailure, "Destination"), tplGetAtt("FailedInvocationsQueue", "Arn")) {
		probs = append(probs, fmt.Sprintf("%s: OnFailure destination %v, want SQS FailedInvocationsQueue", fn, onFailure))
	}
	q := tplResource(tpl, "FailedInvocationsQueue")
	if tplStr(q["Type"]) != "AWS::SQS::Queue" {
		probs = append(probs, "no AWS::SQS::Queue FailedInvocationsQueue")
	}
	if got := tplGet(q, "Properties", "MessageRetentionPeriod"); got != 14*24*3600 {
		probs = append(probs, fmt.Sprintf("FailedInvocationsQueue: MessageRetentionPeriod %v, want 14 days", got))
	}
	if tplGet(q, "Properties", "SqsManagedSseEnabled") != true && tplGet(q, "Properties", "KmsMasterKeyId") == nil {
		probs = append(probs, "FailedInvocationsQueue: server-side encryption not enabled")
	}
	if !reflect.DeepEqual(tplGet(tplFunctionProp(tpl, fn, "Environment"), "Variables", "PER_SECRET_METRICS"), tplRef("PerSecretMetrics")) {
		probs = append(probs, fn+": PER_SECRET_METRICS does not come from the PerSecretMetrics parameter")
	}
	return probs
}

// Every environment variable the template sets is read by refresher/config.go.
func tplCheckEnvironment(tpl map[string]any, configSrc string) []string {
	var probs []string
	names := map[string]bool{}
	for _, fn := range tplOfType(tpl, "AWS::Serverless::Function") {
		for k := range tplMap(tplGet(tplResource(tpl, fn), "Properties", "Environment", "Variables")) {
			names[k] = true
		}
	}
	for k := range tplMap(tplGet(tpl, "Globals", "Function", "Environment", "Variables")) {
		names[k] = true
	}
	if len(names) == 0 {
		probs = append(probs, "the template sets no environment variable")
	}
	for k := range names {
		if !strings.Contains(configSrc, `"`+k+`"`) {
			probs = append(probs, fmt.Sprintf("environment variable %s is not read in refresher/config.go", k))
		}
	}
	slices.Sort(probs)
	return probs
}

// Outputs and the console's parameter groups.
func tplCheckOutputsAndParameters(tpl map[string]any) []string {
	var probs []string
	want := map[string]any{
		"AlarmTopicArn":             tplRef("AlarmTopic"),
		"TokenReadPolicyArn":        tplRef("TokenReadPolicy"),
		"FailedInvocationsQueueUrl": tplRef("FailedInvocationsQueue"),
	}
	for _, d := range tplOfType(tpl, "AWS::CloudWatch::Dashboard") {
		want["DashboardName"] = tplRef(d)
	}
	for k, v := range want {
		if got := tplGet(tpl, "Outputs", k, "Value"); !reflect.DeepEqual(got, v) {
			probs = append(probs, fmt.Sprintf("output %s is %v, want %v", k, got, v))
		}
	}
	grouped := map[string]int{}
	for _, g := range tplList(tplGet(tpl, "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups")) {
		for _, p := range tplList(tplGet(g, "Parameters")) {
			grouped[tplStr(p)]++
		}
	}
	for p := range tplMap(tpl["Parameters"]) {
		if grouped[p] != 1 {
			probs = append(probs, fmt.Sprintf("parameter %s is in %d parameter groups, want 1", p, grouped[p]))
		}
	}
	for p := range grouped {
		if tplGet(tpl, "Parameters", p) == nil {
			probs = append(probs, "parameter group lists unknown parameter "+p)
		}
	}
	slices.Sort(probs)
	return probs
}

// ---------------------------------------------------------------------------
// Tests.

type tplCheck struct {
	name string
	fn   func(tpl map[string]any, configSrc string) []string
}

func tplNoConfig(f func(map[string]any) []string) func(map[string]any, string) []string {
	return func(tpl map[string]any, _ string) []string { return f(tpl) }
}

var tplChecks = []tplCheck{
	{"SecretsManagerResources", tplNoConfig(tplCheckSecretsManagerResources)},
	{"KMS", tplNoConfig(tplCheckKMS)},
	{"CredentialsReadOnly", tplNoConfig(tplCheckCredentialsReadOnly)},
	{"TokenReadPolicy", tplNoConfig(tplCheckTokenReadPolicy)},
	{"SecretRetained", tplNoConfig(tplCheckSecretRetained)},
	{"RotationSchedule", tplNoConfig(tplCheckRotationSchedule)},
	{"Alarms", tplNoConfig(tplCheckAlarms)},
	{"RotationFailureRule", tplNoConfig(tplCheckRotationFailureRule)},
	{"Function", tplNoConfig(tplCheckFunction)},
	{"Environment", tplCheckEnvironment},
	{"OutputsAndParameters", tplNoConfig(tplCheckOutputsAndParameters)},
}

func tplConfigSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(tplConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTemplate(t *testing.T) {
	tpl := tplLoad(t)
	cfg := tplConfigSource(t)
	for _, c := range tplChecks {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.fn(tpl, cfg) {
				t.Error(p)
			}
		})
	}
}

func TestTemplateParsesShortFormIntrinsics(t *testing.T) {
	src := `
A: !Ref X
B: !GetAtt Fn.Arn
C: !If [Cond, !Sub "x-${Y}", !Ref AWS::NoValue]
D: !Join
  - ","
  - !Split [",", !Select [0, [a, b]]]
E: !Not [!Equals [!Ref P, ""]]
F: 3
`
	got, err := tplParse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": tplRef("X"),
		"B": tplGetAtt("Fn", "Arn"),
		"C": map[string]any{"Fn::If": []any{"Cond", map[string]any{"Fn::Sub": "x-${Y}"}, tplRef("AWS::NoValue")}},
		"D": map[string]any{"Fn::Join": []any{",", map[string]any{"Fn::Split": []any{",",
			map[string]any{"Fn::Select": []any{0, []any{"a", "b"}}}}}}},
		"E": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{tplRef("P"), ""}}}},
		"F": 3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%#v\nwant\n%#v", got, want)
	}
	if _, err := tplParse([]byte("A: !Reff X\n")); err == nil {
		t.Error("unknown tag accepted")
	}
	if _, err := tplParse([]byte("A: 1\nA: 2\n")); err == nil {
		t.Error("duplicate key accepted")
	}
}

// Helpers for the breakage cases: find a statement by Sid anywhere, or the
// list element holding it (also inside a !If).
func tplWalk(v any, visit func(any)) {
	visit(v)
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			tplWalk(c, visit)
		}
	case []any:
		for _, c := range x {
			tplWalk(c, visit)
		}
	}
}

func tplStatementBySid(t *testing.T, root any, sid string) map[string]any {
	t.Helper()
	var found map[string]any
	tplWalk(root, func(v any) {
		if m := tplMap(v); m != nil && m["Sid"] == sid {
			found = m
		}
	})
	if found == nil {
		t.Fatalf("no statement with Sid %s", sid)
	}
	return found
}

// TestTemplateChecksCatchBreakage breaks a fresh copy of the template in one
// way at a time and expects the named check to object.
func TestTemplateChecksCatchBreakage(t *testing.T) {
	props := func(tpl map[string]any, res string) map[string]any {
		return tplMap(tplResource(tpl, res)["Properties"])
	}
	cases := []struct {
		name, check string
		breakIt     func(t *testing.T, tpl map[string]any)
	}{
		{"read policy on *", "SecretsManagerResources", func(t *testing.T, tpl map[string]any) {
			tplStatementBySid(t, tplResource(tpl, "TokenReadPolicy"), "ReadMainTokenSecret")["Resource"] = "*"
		}},
		{"function policy on secret:* in an If branch", "SecretsManagerResources", func(t *testing.T, tpl map[string]any) {
			tplStatementBySid(t, tplResource(tpl, "RefresherFunction"), "ManageMainTokenSecret")["Resource"] =
				map[string]any{"Fn::If": []any{"CreateSecret", tplRef("TokenSecret"),
					map[string]any{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}}}
		}},
		{"secretsmanager:Put* action", "SecretsManagerResources", func(t *testing.T, tpl map[string]any) {
			s := tplStatementBySid(t, tplResource(tpl, "RefresherFunction"), "ManageAdditionalTokenSecrets")
			s["Action"] = append(tplList(s["Action"]), "secretsmanager:Put*")
		}},
		{"SAM secrets policy template", "SecretsManagerResources", func(t *testing.T, tpl map[string]any) {
			p := props(tpl, "RefresherFunction")
			p["Policies"] = append(tplList(p["Policies"]), map[string]any{
				"AWSSecretsManagerGetSecretValuePolicy": map[string]any{"SecretArn": tplRef("ExistingSecretArn")}})
		}},
		{"KMS outside HasKmsKey", "KMS", func(t *testing.T, tpl map[string]any) {
			stmts := tplMap(tplList(props(tpl, "RefresherFunction")["Policies"])[0])["Statement"].([]any)
			for i, s := range stmts {
				if args := tplList(tplGet(s, "Fn::If")); len(args) == 3 && args[0] == "HasKmsKey" {
					stmts[i] = args[1]
					return
				}
			}
			t.Fatal("no !If HasKmsKey statement in the function policy")
		}},
		{"KMS in the read policy without the condition", "KMS", func(t *testing.T, tpl map[string]any) {
			doc := tplMap(props(tpl, "TokenReadPolicy")["PolicyDocument"])
			doc["Statement"] = append(tplList(doc["Statement"]), map[string]any{
				"Effect": "Allow", "Action": "kms:Decrypt", "Resource": tplRef("KmsKeyArn"),
				"Condition": map[string]any{"StringEquals": map[string]any{"kms:ViaService": "x"}}})
		}},
		{"write on credentials secrets", "CredentialsReadOnly", func(t *testing.T, tpl map[string]any) {
			s := tplStatementBySid(t, tplResource(tpl, "RefresherFunction"), "ReadCredentialsSecrets")
			s["Action"] = append(tplList(s["Action"]), "secretsmanager:PutSecretValue")
		}},
		{"consumers read the credentials secrets", "TokenReadPolicy", func(t *testing.T, tpl map[string]any) {
			tplStatementBySid(t, tplResource(tpl, "TokenReadPolicy"), "ReadAdditionalTokenSecrets")["Resource"] =
				[]any{tplRef("AdditionalSecretArns"), tplRef("CredentialsSecretArns")}
		}},
		{"consumers may describe", "TokenReadPolicy", func(t *testing.T, tpl map[string]any) {
			tplStatementBySid(t, tplResource(tpl, "TokenReadPolicy"), "ReadMainTokenSecret")["Action"] =
				[]any{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
		}},
		{"secret deleted with the stack", "SecretRetained", func(t *testing.T, tpl map[string]any) {
			tplResource(tpl, "TokenSecret")["DeletionPolicy"] = "Delete"
		}},
		{"secret replaced on update", "SecretRetained", func(t *testing.T, tpl map[string]any) {
			delete(tplResource(tpl, "TokenSecret"), "UpdateReplacePolicy")
		}},
		{"rotation schedule without DependsOn", "RotationSchedule", func(t *testing.T, tpl map[string]any) {
			delete(tplResource(tpl, "TokenSecretRotationSchedule"), "DependsOn")
		}},
		{"permission without SourceAccount", "RotationSchedule", func(t *testing.T, tpl map[string]any) {
			delete(props(tpl, "RotationInvokePermission"), "SourceAccount")
		}},
		{"expiry alarm ignores missing data", "Alarms", func(t *testing.T, tpl map[string]any) {
			props(tpl, "TokenExpiryAlarm")["TreatMissingData"] = "notBreaching"
		}},
		{"expiry alarm notifies nobody", "Alarms", func(t *testing.T, tpl map[string]any) {
			delete(props(tpl, "TokenExpiryAlarm"), "AlarmActions")
		}},
		{"expiry alarm over six hours", "Alarms", func(t *testing.T, tpl map[string]any) {
			props(tpl, "TokenExpiryAlarm")["EvaluationPeriods"] = 6
		}},
		{"no failure alarm", "Alarms", func(t *testing.T, tpl map[string]any) {
			delete(tplResources(tpl), "RefreshFailureAlarm")
		}},
		{"rule misses RotationAbandoned", "RotationFailureRule", func(t *testing.T, tpl map[string]any) {
			d := tplMap(tplGet(props(tpl, "RotationFailureRule"), "EventPattern", "detail"))
			d["eventName"] = []any{"RotationFailed"}
		}},
		{"topic policy without SourceArn", "RotationFailureRule", func(t *testing.T, tpl map[string]any) {
			tplStatementBySid(t, tplResource(tpl, "AlarmTopicPolicy"), "RotationFailureRulePublishes")["Condition"] = nil
		}},
		{"x86_64", "Function", func(t *testing.T, tpl map[string]any) {
			props(tpl, "RefresherFunction")["Architectures"] = []any{"x86_64"}
		}},
		{"text logs", "Function", func(t *testing.T, tpl map[string]any) {
			tplMap(props(tpl, "RefresherFunction")["LoggingConfig"])["LogFormat"] = "Text"
		}},
		{"no failure destination", "Function", func(t *testing.T, tpl map[string]any) {
			delete(tplMap(props(tpl, "RefresherFunction")["EventInvokeConfig"]), "DestinationConfig")
		}},
		{"unknown environment variable", "Environment", func(t *testing.T, tpl map[string]any) {
			tplMap(tplGet(props(tpl, "RefresherFunction"), "Environment", "Variables"))["REFRESH_MARGINS"] = "6h"
		}},
		{"missing output", "OutputsAndParameters", func(t *testing.T, tpl map[string]any) {
			delete(tplMap(tpl["Outputs"]), "AlarmTopicArn")
		}},
		{"parameter not grouped", "OutputsAndParameters", func(t *testing.T, tpl map[string]any) {
			tplMap(tpl["Parameters"])["Extra"] = map[string]any{"Type": "String"}
		}},
	}
	cfg := tplConfigSource(t)
	checks := map[string]tplCheck{}
	for _, c := range tplChecks {
		checks[c.name] = c
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := checks[tc.check]
			if !ok {
				t.Fatalf("no check %s", tc.check)
			}
			tpl := tplLoad(t)
			tc.breakIt(t, tpl)
			if probs := c.fn(tpl, cfg); len(probs) == 0 {
				t.Errorf("check %s accepted a template broken by %q", tc.check, tc.name)
			} else {
				t.Logf("%s: %s", tc.check, strings.Join(probs, "; "))
			}
		})
	}
}
