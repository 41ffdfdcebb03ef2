package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// A UI that signs nobody in answers only to the names of this machine and those it is given: a web page
// on a name of its own that it later resolves to 127.0.0.1 (DNS rebinding) is, to the browser, on its
// own origin, and would read every task and log and start and cancel tasks.
func TestUIWithoutSignInAnswersOnlyToItsOwnNames(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(testutil.MakeLongTask("secret-plans", "photos").Obj()).Build()
	serve := func(opts Options) http.Handler {
		opts.Reader, opts.Client, opts.Kube = c, c, kubefake.NewClientset()
		s, err := NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s.Handler()
	}
	none := serve(Options{Auth: AuthNone, AllowedHosts: []string{"tasks.internal", "10.0.0.7"}})

	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{host: "localhost:8090", path: "/", want: http.StatusOK},
		{host: "localhost", path: "/", want: http.StatusOK},
		{host: "LocalHost:8090", path: "/", want: http.StatusOK},
		{host: "127.0.0.1:8090", path: "/", want: http.StatusOK},
		{host: "[::1]:8090", path: "/", want: http.StatusOK},
		{host: "[::1]", path: "/", want: http.StatusOK},
		{host: "tasks.internal:443", path: "/api/tasks", want: http.StatusOK},
		{host: "10.0.0.7:8090", path: "/api/tasks", want: http.StatusOK},
		{host: "attacker.example", path: "/", want: http.StatusMisdirectedRequest},
		{host: "attacker.example:8090", path: "/api/tasks", want: http.StatusMisdirectedRequest},
		{host: "attacker.example", path: "/tasks/photos/secret-plans/log", want: http.StatusMisdirectedRequest},
		{host: "localhost.attacker.example", path: "/", want: http.StatusMisdirectedRequest},
		{host: "127.0.0.2:8090", path: "/", want: http.StatusMisdirectedRequest},
		{host: "", path: "/", want: http.StatusMisdirectedRequest},
		// The kubelet's readiness probe asks for /healthz at the pod's IP; it shows nothing.
		{host: "10.244.0.9:8090", path: "/healthz", want: http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Host = tc.host
		w := httptest.NewRecorder()
		none.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("GET %s with Host %q: %d, want %d", tc.path, tc.host, w.Code, tc.want)
		}
		if w.Code == http.StatusMisdirectedRequest {
			if body := w.Body.String(); strings.Contains(body, "secret-plans") || !strings.Contains(body, "--allowed-hosts") {
				t.Errorf("GET %s with Host %q answered %q, want a message that names --allowed-hosts and no task", tc.path, tc.host, body)
			}
		}
	}

	// With sign-in the name does not matter: a page on another site has no viewer's cookie.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "tasks.example.com"
	w := httptest.NewRecorder()
	serve(Options{Auth: AuthToken, Config: &rest.Config{Host: "https://api.invalid"}}).ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		t.Errorf("GET / on another name with --auth=token: %d, want 303 to the sign-in page", w.Code)
	}
}
