package mightycall

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Published base URLs (mightycall-auth.md).
const (
	CallCenterBaseURL = "https://ccapi.mightycall.com/v4"
	ClassicBaseURL    = "https://api.mightycall.com/v4"
)

// BaseURLForPlatform returns the published base URL of a platform name as a
// secret spells it ("callcenter" or "classic").
func BaseURLForPlatform(platform string) (string, error) {
	switch platform {
	case "callcenter":
		return CallCenterBaseURL, nil
	case "classic":
		return ClassicBaseURL, nil
	}
	return "", fmt.Errorf("unknown platform %q (want callcenter or classic)", platform)
}

// CheckBaseURL accepts an absolute https URL, or an http URL whose host is a
// loopback address (127.0.0.0/8, ::1, localhost), which is how local runs
// reach the emulator. It returns the URL without a trailing slash.
func CheckBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("base URL is not a URL")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q must be an absolute URL with a host and no user, query or fragment", redactURL(u))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return "", fmt.Errorf("base URL %q must use https (plain http is allowed only on a loopback host)", redactURL(u))
		}
	default:
		return "", fmt.Errorf("base URL %q must use https", redactURL(u))
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment = ""
	return c.String()
}
