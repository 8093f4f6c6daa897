// Package invocation reads what a Lambda invocation answered: the error
// object a runtime writes when the handler fails.
package invocation

import "encoding/json"

// ErrorObject reports whether body is a Lambda error object, as the
// runtimes (aws-lambda-go: errorMessage, errorType, stackTrace) and the
// runtime emulator (Runtime.ExitError, …) write it: a JSON object with a
// non-empty string errorType and a string errorMessage, and no keys besides
// those, stackTrace, requestId and cause. Real Lambda also flags it with the
// X-Amz-Function-Error header; the runtime emulator does not, so callers
// that may talk to it look at the body too.
func ErrorObject(body []byte) (typ, msg string, ok bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "", "", false
	}
	for k := range fields {
		switch k {
		case "errorType", "errorMessage", "stackTrace", "requestId", "cause":
		default:
			return "", "", false
		}
	}
	if json.Unmarshal(fields["errorType"], &typ) != nil || typ == "" {
		return "", "", false
	}
	if json.Unmarshal(fields["errorMessage"], &msg) != nil {
		return "", "", false
	}
	return typ, msg, true
}
