package main

import "testing"

func TestParseForward(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    forward
		wantErr bool
	}{
		"a Service port":     {in: "8090=longtask-system/longtask-ui:8090", want: forward{hostPort: 8090, port: 8090, namespace: "longtask-system", name: "longtask-ui"}},
		"no namespace":       {in: "8090=longtask-ui:8090", wantErr: true},
		"no service port":    {in: "8090=longtask-system/longtask-ui", wantErr: true},
		"a port that is not": {in: "ui=longtask-system/longtask-ui:8090", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseForward(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseForward(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("parseForward(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
