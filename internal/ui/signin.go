package ui

import (
	"net/http"
	"net/url"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
)

// signInView is the sign-in form, with the page to go back to and why the last try failed.
type signInView struct {
	Next, Error string
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if s.opts.Auth != AuthToken {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "signin.html", s.newPage(w, r, viewer{}, "Sign in", signInView{Next: localPath(r.URL.Query().Get("next"))}))
}

// signIn checks the token with TokenReview and keeps it, sealed, in an HttpOnly, Secure, SameSite cookie:
// the UI itself stores no token.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if s.opts.Auth != AuthToken {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := s.checkPost(r, viewer{}); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	next := localPath(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	_, ok, err := s.auth.review(r.Context(), token)
	if err != nil || !ok {
		message := "The API server does not accept this token."
		if err != nil {
			ctrl.Log.WithName("ui").Error(err, "Checking a token failed")
			message = reviewUnavailable
		}
		s.render(w, http.StatusUnauthorized, "signin.html", s.newPage(w, r, viewer{}, "Sign in", signInView{Next: next, Error: message}))
		return
	}
	s.auth.setSession(w, newSession(token, s.auth.clock.Now()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	v, ok, _ := s.auth.viewerOf(r)
	if !ok {
		v = viewer{}
	}
	if err := s.checkPost(r, v); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	http.SetCookie(w, hostCookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// localPath keeps a redirect on this site: anything but a path of its own goes to the list. A path of
// its own parses with no scheme and no host, starts with one /, and is printable ASCII without \: browsers
// drop tabs and newlines from a URL and read \ as /, so "/<TAB>/evil.example" and "/\evil.example" are
// //evil.example to them, another site. The UI's own addresses are ASCII (RequestURI escapes the rest).
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, c := range []byte(next) {
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}
