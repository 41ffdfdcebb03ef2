package localnode

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"NAME": "resize", "EMPTY": ""}
	cases := map[string]string{
		"plain":               "plain",
		"$(NAME)":             "resize",
		"--task=$(NAME)-1":    "--task=resize-1",
		"$(EMPTY)x":           "x",
		"$(UNKNOWN)":          "$(UNKNOWN)",
		"$$(NAME)":            "$(NAME)",
		"cost: $5":            "cost: $5",
		"$(NAME":              "$(NAME",
		"$(NAME) and $(NAME)": "resize and resize",
	}
	for in, want := range cases {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}
