package main

import (
	"slices"
	"testing"
)

func TestParseFault(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    faultCommand
		wantErr bool
	}{
		"stop etcd":            {args: []string{"--state-dir", "/tmp/c", "stop", "etcd"}, want: faultCommand{stateDir: "/tmp/c", component: "etcd", actions: []string{"stop"}}},
		"start the node":       {args: []string{"--state-dir=/tmp/c", "start", "node"}, want: faultCommand{stateDir: "/tmp/c", component: "node", actions: []string{"start"}}},
		"restart is two steps": {args: []string{"restart", "kube-apiserver"}, want: faultCommand{stateDir: "bin/dev", component: "kube-apiserver", actions: []string{"stop", "start"}}},
		"unknown component":    {args: []string{"stop", "kubelet"}, wantErr: true},
		"unknown action":       {args: []string{"pause", "etcd"}, wantErr: true},
		"no component":         {args: []string{"stop"}, wantErr: true},
		"too many arguments":   {args: []string{"stop", "etcd", "node"}, wantErr: true},
		"unknown flag":         {args: []string{"--state", "/tmp/c", "stop", "etcd"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseFault(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseFault(%q) error %v, want error %v", tc.args, err, tc.wantErr)
			}
			if !tc.wantErr && (got.stateDir != tc.want.stateDir || got.component != tc.want.component || !slices.Equal(got.actions, tc.want.actions)) {
				t.Errorf("parseFault(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}
