package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"golang.org/x/term"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// maxKeyLine bounds one line of key input.
const maxKeyLine = 4096

// readKeys reads the API key and the User key: from a prompt on a terminal,
// echoing neither, or as two lines of stdin (API key, then User key) when
// stdin is a pipe or file, so scripts and tests can supply them without
// putting them in arguments or the shell history. Prompts go to prompt.
func readKeys(stdin io.Reader, prompt io.Writer) (secrets.Keys, error) {
	var api, user string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read := func(label string) (string, error) {
			fmt.Fprintf(prompt, "%s (input hidden): ", label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			if err != nil {
				return "", fmt.Errorf("reading the %s: %w", label, err)
			}
			return string(b), nil
		}
		var err error
		if api, err = read("MightyCall API key"); err != nil {
			return secrets.Keys{}, err
		}
		if user, err = read("MightyCall User key"); err != nil {
			return secrets.Keys{}, err
		}
	} else {
		br := bufio.NewReaderSize(stdin, maxKeyLine)
		var err error
		if api, err = readLine(br, "API key"); err != nil {
			return secrets.Keys{}, err
		}
		if user, err = readLine(br, "User key"); err != nil {
			return secrets.Keys{}, err
		}
	}
	api, user = strings.TrimSpace(api), strings.TrimSpace(user)
	if err := checkKey("API key", api); err != nil {
		return secrets.Keys{}, err
	}
	if err := checkKey("User key", user); err != nil {
		return secrets.Keys{}, err
	}
	return secrets.Keys{APIKey: sensitive.New(api), UserKey: sensitive.New(user)}, nil
}

func readLine(br *bufio.Reader, what string) (string, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", fmt.Errorf("the %s line on stdin is longer than %d bytes", what, maxKeyLine)
	case errors.Is(err, io.EOF) && len(line) == 0:
		return "", fmt.Errorf("stdin ended before the %s: when stdin is not a terminal, give two lines: the API key, then the User key", what)
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("reading the %s from stdin: %w", what, err)
	}
	return string(line), nil
}

// checkKey rejects an empty key or one with spaces or control characters
// (a paste gone wrong), without quoting it.
func checkKey(what, v string) error {
	if v == "" {
		return fmt.Errorf("the %s is empty", what)
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("the %s contains spaces or control characters", what)
	}
	return nil
}
