package ui

import (
	"strings"
	"testing"
	"time"
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
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestSessionCookieKeepsTheTokenSealed(t *testing.T) {
	a, err := newAuth(AuthNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.seal("secret-token", time.Now())
	if strings.Contains(sealed, "secret-token") {
		t.Fatalf("the cookie shows the token: %s", sealed)
	}
	if got, err := a.open(sealed); err != nil || got != "secret-token" {
		t.Errorf("open = %q, %v; want the token", got, err)
	}
	if _, err := a.open(a.seal("secret-token", time.Now().Add(-sessionLifetime-time.Minute))); err == nil {
		t.Error("an expired session was accepted")
	}
	other, _ := newAuth(AuthNone, nil)
	if _, err := other.open(sealed); err == nil {
		t.Error("a cookie sealed with another key was accepted")
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
