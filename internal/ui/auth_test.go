package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
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

func TestSessionCookieKeepsTheTokenSealed(t *testing.T) {
	a, err := newAuth(AuthNone, nil, nil)
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
	other, _ := newAuth(AuthNone, nil, nil)
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

func TestSessionKeyIsKeptInASecretSoARestartKeepsViewersSignedIn(t *testing.T) {
	ctx := context.Background()
	kube := kubefake.NewClientset()
	key, err := SessionKey(ctx, kube, "longtask-system", "longtask-ui-session")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := newAuth(AuthToken, kube, key)
	sealed := before.seal("viewer-token", time.Now())

	// The UI restarts, or a second replica starts: it reads the same key, and opens the cookie.
	again, err := SessionKey(ctx, kube, "longtask-system", "longtask-ui-session")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := newAuth(AuthToken, kube, again)
	if got, err := after.open(sealed); err != nil || got != "viewer-token" {
		t.Errorf("after a restart, the session cookie opens to %q, %v; want the viewer's token", got, err)
	}

	// A Secret that does not hold a key of the right size is refused, naming it and its field.
	kube = kubefake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "short", Namespace: "longtask-system"},
		Data: map[string][]byte{"key": []byte("too short")}})
	if _, err := SessionKey(ctx, kube, "longtask-system", "short"); err == nil || !strings.Contains(err.Error(), "longtask-system/short: data.key") {
		t.Errorf("a 9-byte key: %v; want an error naming the Secret and data.key", err)
	}
}
