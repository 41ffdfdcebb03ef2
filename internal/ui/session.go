package ui

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The cookies' names carry the __Host- prefix: a browser keeps such a cookie only when it came from this
// very origin over a secure connection (or from localhost, which browsers trust as one), with Path=/ and
// no Domain. A sibling domain, or a plain-HTTP answer forged on the way to the UI, then cannot plant a
// CSRF cookie it knows or a session of its own choosing. Browsers already refused the UI's Secure cookies
// over plain HTTP anywhere but localhost, so the prefix costs no deployment that worked without it.
const (
	sessionCookie = "__Host-longtask-session"
	csrfCookie    = "__Host-longtask-csrf"
	// sessionLifetime is the longest a sign-in lasts, however much it is used; the token itself is
	// checked again every reviewTTL.
	sessionLifetime = 8 * time.Hour
	// sessionIdleLifetime is how long a session cookie works unless it is used; each use renews it, up to
	// sessionLifetime after signing in. Signing out deletes the browser's cookie, but the UI keeps no
	// list of sessions, which its replicas would have to share: a copy of the cookie, which the UI cannot
	// tell from the browser's, works until this runs out, unless whoever holds it keeps using it.
	sessionIdleLifetime = 15 * time.Minute
	// sessionRenewAfter is how old a session cookie gets before an answer renews it, so that a page that
	// polls every two seconds is not sent a new cookie every time.
	sessionRenewAfter = time.Minute
)

// session is what a session cookie holds, sealed.
type session struct {
	token string
	// signedIn is when the viewer signed in; expires is when the cookie stops working unless renewed.
	signedIn, expires time.Time
}

func newSession(token string, now time.Time) session {
	return session{token: token, signedIn: now}.renewed(now)
}

// renewed is the session used at now: it works for another sessionIdleLifetime, but no longer than
// sessionLifetime after signing in.
func (s session) renewed(now time.Time) session {
	s.expires = now.Add(sessionIdleLifetime)
	if end := s.signedIn.Add(sessionLifetime); s.expires.After(end) {
		s.expires = end
	}
	return s
}

// sessionKeySize is the least size of the session secret, and the size of each key derived from it:
// AES-256 seals session cookies, HMAC-SHA256 signs CSRF tokens.
const sessionKeySize = 32

// The HKDF info labels of the keys derived from the session secret, one per use.
const (
	sealKeyInfo = "longtask-ui session cookie AES-256-GCM"
	csrfKeyInfo = "longtask-ui CSRF token HMAC-SHA256"
)

// sessionKeys are the keys derived from the one session secret: one seals session cookies, the other
// signs CSRF tokens. Had they one key, the CSRF token every page shows would be a MAC made with the
// key that seals sessions; apart, neither use can stand in for the other, and the secret itself
// signs and seals nothing. HKDF makes the same keys from the same secret in every replica.
type sessionKeys struct {
	seal cipher.AEAD
	csrf []byte
}

func newSessionKeys(secret []byte) (sessionKeys, error) {
	sealKey, err := hkdf.Key(sha256.New, secret, nil, sealKeyInfo, sessionKeySize)
	if err != nil {
		return sessionKeys{}, err
	}
	csrfKey, err := hkdf.Key(sha256.New, secret, nil, csrfKeyInfo, sessionKeySize)
	if err != nil {
		return sessionKeys{}, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return sessionKeys{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sessionKeys{}, err
	}
	return sessionKeys{seal: aead, csrf: csrfKey}, nil
}

// sessionKeyField is the Secret's field that holds the key.
const sessionKeyField = "key"

// SessionKey returns the session secret kept in the Secret namespace/name, which the install made (the
// Helm chart, or make deploy, or kubectl as the error says). Every replica of the UI, and every restart,
// then seals and opens sign-in cookies with the same keys: a viewer stays signed in, and a page that
// follows a task reconnects, when the UI restarts. The UI only reads it, so its Role needs no create on
// Secrets, a right that cannot be limited to one name.
func SessionKey(ctx context.Context, kube kubernetes.Interface, namespace, name string) ([]byte, error) {
	howToCreate := fmt.Sprintf(`kubectl create secret generic %s -n %s --from-literal=%s="$(head -c32 /dev/urandom | base64)"`,
		name, namespace, sessionKeyField)
	secret, err := kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		//nolint:staticcheck // ST1005: "Secret" is the Kubernetes kind, written as kubectl writes it.
		return nil, fmt.Errorf("Secret %s/%s is missing: it holds the key of the sign-in cookies, which the Helm chart "+
			"and make deploy create; create it with: %s", namespace, name, howToCreate)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session key from Secret %s/%s: %w", namespace, name, err)
	}
	key := secret.Data[sessionKeyField]
	// HKDF makes the keys from a secret of any length; fewer bytes than a key is a mistake, not a choice.
	if len(key) < sessionKeySize {
		//nolint:staticcheck // ST1005: "Secret" is the Kubernetes kind, written as kubectl writes it.
		return nil, fmt.Errorf("Secret %s/%s: data.%s has %d bytes, want at least %d; delete the Secret and create it with: %s",
			namespace, name, sessionKeyField, len(key), sessionKeySize, howToCreate)
	}
	return key, nil
}

// seal encrypts a session for its cookie, with the times it began and ends, so that the cookie shows
// nobody the token and cannot be made, or made to last longer, by anyone without the UI's key.
func (a *auth) seal(s session) string {
	plain := binary.BigEndian.AppendUint64(nil, uint64(s.signedIn.Unix()))
	plain = binary.BigEndian.AppendUint64(plain, uint64(s.expires.Unix()))
	plain = append(plain, s.token...)
	nonce := make([]byte, a.keys.seal.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(a.keys.seal.Seal(nonce, nonce, plain, []byte(sessionCookie)))
}

// open is the session a cookie holds, unless it has expired.
func (a *auth) open(sealed string) (session, error) {
	data, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(data) < a.keys.seal.NonceSize() {
		return session{}, errors.New("not a session")
	}
	nonce, ciphertext := data[:a.keys.seal.NonceSize()], data[a.keys.seal.NonceSize():]
	plain, err := a.keys.seal.Open(nil, nonce, ciphertext, []byte(sessionCookie))
	if err != nil || len(plain) < 16 {
		return session{}, errors.New("not a session")
	}
	s := session{
		signedIn: time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0),
		expires:  time.Unix(int64(binary.BigEndian.Uint64(plain[8:16])), 0),
		token:    string(plain[16:]),
	}
	if !a.clock.Now().Before(s.expires) {
		return session{}, errors.New("the session expired")
	}
	return s, nil
}

// setSession gives the browser the session's cookie, lasting as long as the session.
func (a *auth) setSession(w http.ResponseWriter, s session) {
	http.SetCookie(w, hostCookie(sessionCookie, a.seal(s), int(s.expires.Sub(a.clock.Now()).Seconds())))
}

// renewSession renews the cookie of a viewer signed in with one, once it is sessionRenewAfter old: the
// answer sets it anew, to work for another sessionIdleLifetime. It returns the viewer with the session
// the browser now holds, whose expires a stream can end at.
func (a *auth) renewSession(w http.ResponseWriter, v viewer) viewer {
	if v.session.token == "" {
		return v
	}
	renewed := v.session.renewed(a.clock.Now())
	if renewed.expires.Sub(v.session.expires) >= sessionRenewAfter {
		a.setSession(w, renewed)
		v.session = renewed
	}
	return v
}

// keepSignedIn answers 204 to a signed-in viewer, whose cookie viewing renews as for every request: a
// page that follows a task over an event stream, which sets no cookie once it is open, asks for it every
// few minutes (app.js), so that its viewer stays signed in while it is open.
func (s *Server) keepSignedIn(w http.ResponseWriter, _ *http.Request, _ viewer) {
	w.WriteHeader(http.StatusNoContent)
}

// csrfToken is the token the forms of a page carry: a signature of the browser's CSRF cookie and the
// viewer's name, which a page of another site can neither read nor make. It sets the cookie when the
// browser has none yet.
func (a *auth) csrfToken(w http.ResponseWriter, r *http.Request, v viewer) string {
	seed := ""
	if cookie, err := r.Cookie(csrfCookie); err == nil && cookie.Value != "" {
		seed = cookie.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		seed = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, hostCookie(csrfCookie, seed, 0))
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: seed})
	}
	return a.sign(seed, v)
}

func (a *auth) sign(seed string, v viewer) string {
	mac := hmac.New(sha256.New, a.keys.csrf)
	mac.Write([]byte(seed + "\x00" + v.Name()))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkCSRF refuses a state-changing request whose form does not carry the page's CSRF token.
func (a *auth) checkCSRF(r *http.Request, v viewer) error {
	cookie, err := r.Cookie(csrfCookie)
	if err != nil || cookie.Value == "" {
		return errors.New("the request has no CSRF cookie: reload the page and try again " +
			"(browsers keep the UI's cookies only over HTTPS, or over HTTP on localhost)")
	}
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(a.sign(cookie.Value, v))) {
		return errors.New("the request's CSRF token is missing or wrong: reload the page and try again")
	}
	return nil
}

// hostCookie is a cookie of the UI's, as a __Host- name requires it (Secure, Path=/, no Domain), and out
// of reach of scripts and of other sites' requests. maxAge as http.Cookie's: 0 for a cookie that lasts
// as long as the browser, negative to delete it.
func hostCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}
