// Package prompt renders the prompts the loop gives to the worker, the reworker (the
// worker after a RETRY) and the auditor.
//
// Each prompt starts with a header naming the run and iteration, so agents' own session
// lists stay readable. The task is always passed unchanged; the reworker also gets the
// auditor's latest feedback, and the auditor sees only this iteration's worker answer.
package prompt

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"
)

//go:embed templates/*.tmpl
var files embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(files, "templates/*.tmpl"))

// Data is what the templates can use.
type Data struct {
	RunID             string
	Iteration         int
	MaxIterations     int
	Task              string
	Additions         []string
	Feedback          string // reworker: the auditor's latest feedback
	PreviousIteration int    // reworker: the iteration the feedback is about
	WorkerResult      string // auditor: the worker's final answer of this iteration
}

// Worker renders the prompt of a first worker run.
func Worker(d Data) (string, error) { return render("worker.tmpl", d) }

// Reworker renders the prompt of a worker run after a RETRY.
func Reworker(d Data) (string, error) { return render("reworker.tmpl", d) }

// Auditor renders the auditor's prompt.
func Auditor(d Data) (string, error) { return render("auditor.tmpl", d) }

func render(name string, d Data) (string, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, d); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}
