package ui

import (
	"strings"
	"testing"
)

func TestDefaultAuthSignsInEveryoneBeyondLoopback(t *testing.T) {
	for address, want := range map[string]AuthMode{
		"127.0.0.1:8090": AuthNone,
		"[::1]:8090":     AuthNone,
		"localhost:8090": AuthNone,
		":8090":          AuthToken,
		"0.0.0.0:8090":   AuthToken,
		"10.0.0.5:8090":  AuthToken,
		"not an address": AuthToken,
	} {
		if got := DefaultAuth(address); got != want {
			t.Errorf("DefaultAuth(%q) = %s, want %s", address, got, want)
		}
	}
}

func TestSignInGoesBackOnlyToTheUIsOwnPages(t *testing.T) {
	for next, want := range map[string]string{
		"/tasks/photos/resize?x=1": "/tasks/photos/resize?x=1",
		"":                         "/",
		"https://evil.example/":    "/",
		"//evil.example/":          "/",
		`/\evil.example/`:          "/",
		// Browsers drop tabs and newlines from a URL, so this one is //evil.example to them.
		"/\t/evil.example":      "/",
		"/\n/evil.example":      "/",
		"/\r\n/evil.example":    "/",
		"/\x00/evil.example":    "/",
		"/\x7f/evil.example":    "/",
		"/tasks\\..\\..\\evil":  "/",
		"\\\\evil.example":      "/",
		"/\u2028/evil.example":  "/",
		"https:evil.example":    "/",
		"javascript:alert(1)":   "/",
		" /tasks":               "/",
		"/?next=//evil.example": "/?next=//evil.example",
		"/tasks/a%2F%2Fb#log":   "/tasks/a%2F%2Fb#log",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestReadLinesCutsLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*maxLineBytes)
	var got []string
	if err := readLines(strings.NewReader("one\n"+long+"\n\nlast without newline"), func(l string) error {
		got = append(got, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"one", strings.Repeat("x", maxLineBytes) + " …", "", "last without newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", got, want)
	}
}
