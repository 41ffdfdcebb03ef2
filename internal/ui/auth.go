package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// AuthMode says how the UI knows who is looking.
type AuthMode string

const (
	// AuthNone lets anyone who reaches the UI see every task and act with the UI's own account: for a UI
	// that only its own user can reach, such as one listening on loopback.
	AuthNone AuthMode = "none"
	// AuthToken asks each viewer for a Kubernetes bearer token, shows only what the API server's RBAC lets
	// that viewer see, and starts and cancels tasks with the viewer's own token.
	AuthToken AuthMode = "token"
)

const (
	// reviewTTL is how long the answers of TokenReview and SubjectAccessReview are kept: a revoked token or
	// permission stops working within it, and a busy page does not ask the API server on every request.
	reviewTTL = 30 * time.Second
	// reviewCacheSize bounds how many answers are kept, the least recently used going first.
	reviewCacheSize = 4096
)

// viewer is who made a request. With AuthNone it is anonymous and may do whatever the UI's account may.
type viewer struct {
	user authenticationv1.UserInfo
	// token is the viewer's bearer token; empty with AuthNone.
	token string
	// session is the sign-in the viewer's session cookie holds, as renewed by the answer (its expires is
	// when the browser's cookie ends); zero for a token sent in Authorization.
	session session
}

// Name is the viewer's user name, for pages and messages.
func (v viewer) Name() string { return v.user.Username }

// auth signs viewers in and asks the API server what they may do.
type auth struct {
	mode AuthMode
	// reviews asks TokenReview and SubjectAccessReview, as the UI.
	reviews kubernetes.Interface
	// keys seal session cookies and sign CSRF tokens: derived from Options.SessionKey, or, without one,
	// from a secret made when the UI starts, so that a restart signs everyone out.
	keys sessionKeys
	// clock tells when sessions start and end.
	clock clock.PassiveClock
	// tokens and access keep the answers of TokenReview and SubjectAccessReview for ttl (reviewTTL
	// unless Options.ReviewTTL says).
	ttl    time.Duration
	tokens *cache.LRUExpireCache
	access *cache.LRUExpireCache
}

func newAuth(mode AuthMode, reviews kubernetes.Interface, key []byte, clock clock.PassiveClock) (*auth, error) {
	if mode != AuthNone && mode != AuthToken {
		return nil, fmt.Errorf("--auth=%q: must be none or token", mode)
	}
	if mode == AuthToken && reviews == nil {
		return nil, errors.New("--auth=token needs a client for TokenReview and SubjectAccessReview")
	}
	if key == nil {
		key = make([]byte, sessionKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	keys, err := newSessionKeys(key)
	if err != nil {
		return nil, err
	}
	return &auth{mode: mode, reviews: reviews, keys: keys, clock: clock, ttl: reviewTTL,
		tokens: cache.NewLRUExpireCache(reviewCacheSize), access: cache.NewLRUExpireCache(reviewCacheSize)}, nil
}

// viewerOf says who made the request: the bearer token an authenticating proxy passed in Authorization,
// or the one sealed in the session cookie. ok is false when the request is nobody's.
func (a *auth) viewerOf(r *http.Request) (viewer, bool, error) {
	if a.mode == AuthNone {
		return viewer{user: authenticationv1.UserInfo{Username: "anyone"}}, true, nil
	}
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var session session
	if !found {
		cookie, err := r.Cookie(sessionCookie)
		if err != nil {
			return viewer{}, false, nil
		}
		if session, err = a.open(cookie.Value); err != nil {
			return viewer{}, false, nil
		}
		token = session.token
	}
	user, ok, err := a.review(r.Context(), strings.TrimSpace(token))
	if err != nil || !ok {
		return viewer{}, false, err
	}
	return viewer{user: user, token: strings.TrimSpace(token), session: session}, true, nil
}

// review asks the API server whose token it is.
func (a *auth) review(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	if token == "" {
		return authenticationv1.UserInfo{}, false, nil
	}
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	if cached, ok := a.tokens.Get(key); ok {
		user := cached.(authenticationv1.UserInfo)
		return user, user.Username != "", nil
	}
	review, err := a.reviews.AuthenticationV1().TokenReviews().Create(ctx,
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, fmt.Errorf("checking the token with the API server: %w", err)
	}
	var user authenticationv1.UserInfo
	if review.Status.Authenticated {
		user = review.Status.User
	}
	a.tokens.Add(key, user, a.ttl)
	return user, user.Username != "", nil
}

// resource is what a viewer wants to do: a verb on a kind of object in a namespace.
type resource struct {
	verb, group, resource, subresource, namespace string
}

func (res resource) String() string {
	what := res.resource
	if res.subresource != "" {
		what += "/" + res.subresource
	}
	if res.namespace == "" {
		return res.verb + " " + what + " in all namespaces"
	}
	return res.verb + " " + what + " in namespace " + res.namespace
}

// may asks the API server whether the viewer may do what res says.
func (a *auth) may(ctx context.Context, v viewer, res resource) (bool, error) {
	if a.mode == AuthNone {
		return true, nil
	}
	key := strings.Join([]string{v.user.UID, v.user.Username, strings.Join(v.user.Groups, ","), res.verb, res.group, res.resource, res.subresource, res.namespace}, "\x00")
	if allowed, ok := a.access.Get(key); ok {
		return allowed.(bool), nil
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for k, values := range v.user.Extra {
		extra[k] = authorizationv1.ExtraValue(values)
	}
	review, err := a.reviews.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: v.user.Username, UID: v.user.UID, Groups: v.user.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: res.verb, Group: res.group, Resource: res.resource, Subresource: res.subresource, Namespace: res.namespace,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("asking the API server whether %s may %s: %w", v.Name(), res, err)
	}
	a.access.Add(key, review.Status.Allowed, a.ttl)
	return review.Status.Allowed, nil
}

// DefaultAuth is the sign-in a UI listening on address gets when none is asked for: none only when it
// listens on loopback, where only people on its own machine can reach it.
func DefaultAuth(address string) AuthMode {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return AuthToken
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return AuthNone
	}
	return AuthToken
}
