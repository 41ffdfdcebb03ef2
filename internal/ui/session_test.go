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
	"io"
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
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
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
	opts.Auth, opts.Reader, opts.Client, opts.Kube, opts.Config = AuthToken, c, c, kube, &rest.Config{Host: "https://api.invalid"}
	s, err := NewServer(opts)
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

// getWith sends GET path with the given cookies, and returns the answer's status and the cookies it sets.
func getWith(t *testing.T, ts *httptest.Server, path string, cookies ...*http.Cookie) (int, []*http.Cookie) {
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
	return resp.StatusCode, resp.Cookies()
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
	if status, _ := getWith(t, ts, "/api/tasks", session); status != http.StatusOK {
		t.Errorf("GET /api/tasks with the session cookie: %d, want 200", status)
	}
	// The same value under a name without the prefix, as another origin could have set it, signs nobody in.
	planted := &http.Cookie{Name: strings.TrimPrefix(session.Name, "__Host-"), Value: session.Value}
	if status, _ := getWith(t, ts, "/api/tasks", planted); status != http.StatusUnauthorized {
		t.Errorf("GET /api/tasks with the session under %s: %d, want 401", planted.Name, status)
	}
}

// The one session secret gives a key to seal sessions and another to sign CSRF tokens, neither of them the
// secret itself: a CSRF token, which every page shows, is never a session, a session is never a CSRF
// token, and whatever one key's use gives away says nothing of the other.
func TestSessionsAndCSRFTokensUseKeysOfTheirOwn(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, sessionKeySize)
	a, err := newAuth(AuthToken, kubefake.NewClientset(), secret, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	alice := viewer{user: authenticationv1.UserInfo{Username: "alice"}}
	const seed = "the-browsers-csrf-cookie"
	session := a.seal(newSession(aliceToken, time.Now()))
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
		plain := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Unix()))
		plain = append(binary.BigEndian.AppendUint64(plain, uint64(time.Now().Add(time.Minute).Unix())), aliceToken...)
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
	a, err := newAuth(AuthNone, nil, nil, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.seal(newSession("secret-token", time.Now()))
	if strings.Contains(sealed, "secret-token") {
		t.Fatalf("the cookie shows the token: %s", sealed)
	}
	if got, err := a.open(sealed); err != nil || got.token != "secret-token" {
		t.Errorf("open = %q, %v; want the token", got.token, err)
	}
	if _, err := a.open(a.seal(newSession("secret-token", time.Now().Add(-sessionIdleLifetime-time.Minute)))); err == nil {
		t.Error("an expired session was accepted")
	}
	other, _ := newAuth(AuthNone, nil, nil, clock.RealClock{})
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
			before, _ := newAuth(AuthToken, kube, key, clock.RealClock{})
			after, _ := newAuth(AuthToken, kube, again, clock.RealClock{})
			if got, err := after.open(before.seal(newSession("viewer-token", time.Now()))); err != nil || got.token != "viewer-token" {
				t.Errorf("after a restart, the session cookie opens to %q, %v; want the viewer's token", got.token, err)
			}
		})
	}
}

// signOut posts the sign-out form of a page, as the browser with cookies would, and returns the answer's
// status and the cookies it sets.
func signOut(t *testing.T, ts *httptest.Server, cookies map[string]*http.Cookie) (int, []*http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/templates", nil)
	req.AddCookie(cookies[sessionCookie])
	req.AddCookie(cookies[csrfCookie])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /templates before signing out: %d, with no sign-out form", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/signout", strings.NewReader(url.Values{"csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookies[sessionCookie])
	req.AddCookie(cookies[csrfCookie])
	if resp, err = noRedirects.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Cookies()
}

// Signing out clears the browser's cookie, and a copy of it, which the UI cannot tell from the original,
// stops working within 15 minutes: a session cookie lasts that long unless it is used.
func TestACopiedSessionDiesSoonAfterSignOut(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	ts := newSignInServer(t, Options{Clock: clk})
	cookies := signIn(t, ts, aliceToken)
	copied := cookies[sessionCookie]

	status, set := signOut(t, ts, cookies)
	if status != http.StatusSeeOther {
		t.Fatalf("signing out: %d, want 303", status)
	}
	cleared := false
	for _, c := range set {
		cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Errorf("signing out set %v; want the session cookie deleted", set)
	}
	clk.Step(15*time.Minute + time.Second)
	if status, _ := getWith(t, ts, "/api/tasks", copied); status != http.StatusUnauthorized {
		t.Errorf("a copy of the cookie, 15 minutes after signing out: %d, want 401", status)
	}
}

// A viewer who keeps using the UI stays signed in, each answer renewing the cookie, until 8 hours after
// signing in; a cookie left unused for 15 minutes ends. /api/session, which an open page asks for every
// few minutes, renews it as any page does.
func TestASessionInUseIsRenewedUpToItsLifetime(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	ts := newSignInServer(t, Options{Clock: clk})
	signedIn := clk.Now()
	session := signIn(t, ts, aliceToken)[sessionCookie]
	if session.MaxAge != int((15 * time.Minute).Seconds()) {
		t.Errorf("the session cookie's Max-Age %d, want 15 minutes", session.MaxAge)
	}
	unused := session
	step := 10 * time.Minute
	for i := 0; clk.Since(signedIn)+step < 8*time.Hour; i++ {
		clk.Step(step)
		path, want := "/api/tasks", http.StatusOK
		if i%2 == 1 {
			path, want = "/api/session", http.StatusNoContent
		}
		status, set := getWith(t, ts, path, session)
		if status != want {
			t.Fatalf("GET %s %v after signing in, used every %v: %d, want %d", path, clk.Since(signedIn), step, status, want)
		}
		for _, c := range set {
			if c.Name == sessionCookie {
				session = c
			}
		}
		if clk.Since(signedIn) > 15*time.Minute && unused != nil {
			if status, _ := getWith(t, ts, "/api/tasks", unused); status != http.StatusUnauthorized {
				t.Errorf("the first cookie, unused for %v: %d, want 401", clk.Since(signedIn), status)
			}
			unused = nil
		}
	}
	clk.SetTime(signedIn.Add(8*time.Hour + time.Second))
	if status, _ := getWith(t, ts, "/api/tasks", session); status != http.StatusUnauthorized {
		t.Errorf("a session used all along, 8 hours after signing in: %d, want 401", status)
	}
}
