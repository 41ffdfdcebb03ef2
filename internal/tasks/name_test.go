package tasks

import (
	"testing"

	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestNamePrefix(t *testing.T) {
	for runs, want := range map[string]string{
		"resize-photos":          "resize-photos-",
		"resize.photos":          "resize-photos-",
		"sh":                     "sh-",
		"Resize_Photos.v2":       "resize-photos-v2-",
		"---":                    "task-",
		"":                       "task-",
		string(make([]byte, 80)): "task-",
		"a23456789012345678901234567890123456789012345678901234567890": "a23456789012345678901234567890123456789012345678901234567-",
	} {
		if got := NamePrefix(runs); got != want {
			t.Errorf("NamePrefix(%q) = %q, want %q", runs, got, want)
		}
	}
}

func TestFromTemplateIsNamedAfterTheTemplate(t *testing.T) {
	task := FromTemplate(testutil.MakeTemplate("resize.photos", "photos").Obj(), nil)
	if task.Name != "" || task.GenerateName != "resize-photos-" {
		t.Errorf("a task from template resize.photos has name %q, generateName %q; want generateName resize-photos-", task.Name, task.GenerateName)
	}
}
