package prompt

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestGolden(t *testing.T) {
	base := Data{
		RunID: "r-20261127-abc123", Iteration: 2, MaxIterations: 3,
		Task:      "Add a --verbose flag to cmd/tool and document it.",
		Additions: []string{"Also update the changelog."},
	}
	reworker := base
	reworker.Feedback, reworker.PreviousIteration = "The README does not mention --verbose.", 1
	auditor := base
	auditor.WorkerResult = "Added the flag in main.go and a section in README.md; go test passes."

	cases := []struct {
		name   string
		render func(Data) (string, error)
		data   Data
	}{
		{"worker", Worker, base},
		{"reworker", Reworker, reworker},
		{"auditor", Auditor, auditor},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.render(c.data)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s prompt changed:\n--- got ---\n%s\n--- want ---\n%s", c.name, got, want)
			}
		})
	}
}
