package ui

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// aliceToken is the one token the API server of newSignInServer accepts, as alice, who may do anything.
const aliceToken = "alice-token"

// newSignInServer serves a UI with --auth=token, whose API server knows aliceToken.
func newSignInServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kube := kubefake.NewClientset()
	kube.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		review := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		if review.Spec.Token == aliceToken {
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}
		}
		return true, review, nil
	})
	kube.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		review.Status.Allowed = true
		return true, review, nil
	})
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	opts.Auth, opts.Client, opts.Kube, opts.Config = AuthToken, c, kube, &rest.Config{Host: "https://api.invalid"}
	s, err := NewServer(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// signIn signs in with token on the sign-in page, as a browser would, and returns the cookies the UI set:
// the CSRF cookie of the page, and the session cookie of the answer to the form.
func signIn(t *testing.T, ts *httptest.Server, token string) map[string]*http.Cookie {
	t.Helper()
	csrf, csrfToken := csrfFor(t, ts.URL+"/signin")
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/signin", strings.NewReader(url.Values{"csrf": {csrfToken}, "token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(csrf)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in: status %d, want 303", resp.StatusCode)
	}
	cookies := map[string]*http.Cookie{csrf.Name: csrf}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	return cookies
}

// getWith sends GET path with the given cookies, and returns the answer, its body closed.
func getWith(t *testing.T, ts *httptest.Server, path string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The UI's cookies carry the __Host- prefix, so that a browser takes them only from this very origin over
// a secure connection, for the whole site: a page of a sibling domain (evil.example.com beside
// tasks.example.com) or a plain-HTTP answer on the path to the UI cannot plant a CSRF cookie it knows or a
// session of its own choosing.
func TestCookiesAreHostOnly(t *testing.T) {
	ts := newSignInServer(t, Options{})
	cookies := signIn(t, ts, aliceToken)
	for _, name := range []string{"__Host-longtask-csrf", "__Host-longtask-session"} {
		c := cookies[name]
		if c == nil {
			t.Errorf("no cookie %s among %v", name, cookies)
			continue
		}
		// What a browser requires of a __Host- cookie, and what keeps the token from scripts and other sites.
		if !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("%s: Secure %v, Path %q, Domain %q, HttpOnly %v, SameSite %v; want Secure, Path /, no Domain, HttpOnly, Strict",
				name, c.Secure, c.Path, c.Domain, c.HttpOnly, c.SameSite)
		}
	}
	session := cookies["__Host-longtask-session"]
	if session == nil {
		t.FailNow()
	}
	if resp := getWith(t, ts, "/api/tasks", session); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/tasks with the session cookie: %d, want 200", resp.StatusCode)
	}
	// The same value under a name without the prefix, as another origin could have set it, signs nobody in.
	planted := &http.Cookie{Name: strings.TrimPrefix(session.Name, "__Host-"), Value: session.Value}
	if resp := getWith(t, ts, "/api/tasks", planted); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/tasks with the session under %s: %d, want 401", planted.Name, resp.StatusCode)
	}
}

// The one session secret gives a key to seal sessions and another to sign CSRF tokens, neither of them the
// secret itself: a CSRF token, which every page shows, is never a session, a session is never a CSRF
// token, and whatever one key's use gives away says nothing of the other.
func TestSessionsAndCSRFTokensUseKeysOfTheirOwn(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, sessionKeySize)
	a, err := newAuth(AuthToken, kubefake.NewClientset(), secret)
	if err != nil {
		t.Fatal(err)
	}
	alice := viewer{user: authenticationv1.UserInfo{Username: "alice"}}
	const seed = "the-browsers-csrf-cookie"
	session := a.seal(aliceToken, time.Now())
	csrf := a.sign(seed, alice)

	if _, err := a.open(csrf); err == nil {
		t.Error("a CSRF token opened as a session")
	}
	if checkCSRF(a, session, seed, alice) == nil {
		t.Error("a sealed session was taken as a CSRF token")
	}
	// Sealed with the secret itself, as when one key served both, or with the key that signs CSRF tokens:
	// refused.
	for name, key := range map[string][]byte{"the secret": secret, "the CSRF key": a.keys.csrf} {
		block, _ := aes.NewCipher(key)
		gcm, _ := cipher.NewGCM(block)
		nonce := make([]byte, gcm.NonceSize())
		plain := append(binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(time.Hour).Unix())), aliceToken...)
		if _, err := a.open(base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, plain, []byte(sessionCookie)))); err == nil {
			t.Errorf("a session sealed with %s opened", name)
		}
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(seed + "\x00" + alice.Name()))
	if checkCSRF(a, base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), seed, alice) == nil {
		t.Error("a CSRF token signed with the secret itself was accepted")
	}
}

// checkCSRF posts token as the form's CSRF token, with seed as the browser's CSRF cookie, to a.checkCSRF.
func checkCSRF(a *auth, token, seed string, v viewer) error {
	r := httptest.NewRequest(http.MethodPost, "/signout", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: seed})
	return a.checkCSRF(r, v)
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

// The UI reads its session secret, and never makes it: the install does (the Helm chart, or kubectl
// create secret as the README says), so the UI's Role needs no create on Secrets. A missing or short
// secret stops the UI with a message that names the Secret and says how to make it.
func TestSessionKeyIsReadFromTheSecretTheInstallMade(t *testing.T) {
	const howToCreate = `kubectl create secret generic longtask-ui-session -n longtask-system --from-literal=key="$(head -c32 /dev/urandom | base64)"`
	random := bytes.Repeat([]byte{0xa5}, sessionKeySize)
	for name, tc := range map[string]struct {
		key     []byte // nil: no Secret
		wantErr []string
	}{
		"missing":                       {wantErr: []string{"Secret longtask-system/longtask-ui-session is missing", howToCreate}},
		"too short":                     {key: []byte("too short"), wantErr: []string{"longtask-system/longtask-ui-session: data.key has 9 bytes, want at least 32", howToCreate}},
		"32 random bytes (the chart's)": {key: random},
		"as the kubectl command makes it (44 characters of base64)": {key: []byte(base64.StdEncoding.EncodeToString(random))},
	} {
		t.Run(name, func(t *testing.T) {
			kube := kubefake.NewClientset()
			if tc.key != nil {
				kube = kubefake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "longtask-ui-session", Namespace: "longtask-system"},
					Data: map[string][]byte{"key": tc.key}})
			}
			key, err := SessionKey(context.Background(), kube, "longtask-system", "longtask-ui-session")
			for _, action := range kube.Actions() {
				if action.GetVerb() != "get" {
					t.Errorf("the UI did %s %s; it may only get its Secret", action.GetVerb(), action.GetResource().Resource)
				}
			}
			if tc.wantErr != nil {
				for _, want := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("error %v; want it to say %s", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// A restart, or a second replica, reads the same key and opens the cookies the first sealed.
			again, _ := SessionKey(context.Background(), kube, "longtask-system", "longtask-ui-session")
			before, _ := newAuth(AuthToken, kube, key)
			after, _ := newAuth(AuthToken, kube, again)
			if got, err := after.open(before.seal("viewer-token", time.Now())); err != nil || got != "viewer-token" {
				t.Errorf("after a restart, the session cookie opens to %q, %v; want the viewer's token", got, err)
			}
		})
	}
}
