package ui

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// loopbackHosts are the names a UI that signs nobody in always answers to: this machine's, which only a
// page served from this machine can have.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// onlyOwnHosts refuses a request whose Host is not one of the UI's names, for a UI that signs nobody in
// (AuthNone). Anyone who reaches such a UI acts as it, and a browser is made to reach it by DNS
// rebinding: a web page on attacker.example, whose address is then changed to 127.0.0.1, is still of
// attacker.example's origin to the browser, so its script reads the answers of the UI on 127.0.0.1 as
// its own, every task and log, and posts its forms. The Host that browser sends is attacker.example.
// With AuthToken the Host does not matter: such a page has no viewer's cookie.
//
// /healthz answers on any name: the kubelet's probe asks at the pod's IP, and it shows nothing.
func onlyOwnHosts(allowed []string, next http.Handler) http.Handler {
	names := map[string]bool{}
	for _, name := range append(allowed, loopbackHosts...) {
		names[strings.ToLower(strings.Trim(name, "[]"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if names[hostName(r.Host)] || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, fmt.Sprintf("This UI signs nobody in (--auth=none), so it answers only to localhost, 127.0.0.1, "+
			"[::1] and the names given with --allowed-hosts, lest a web page on another name that resolves to its "+
			"address act as it. Add %q to --allowed-hosts to reach it by that name, or use --auth=token.", hostName(r.Host)),
			http.StatusMisdirectedRequest)
	})
}

// hostName is the name of a Host header without its port, in lower case; [::1] is ::1.
func hostName(host string) string {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}
