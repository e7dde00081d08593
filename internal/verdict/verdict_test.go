package verdict

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		verdict  Verdict
		feedback string
		readable bool
	}{
		{"strict done", `{"verdict": "DONE", "feedback": "ok"}`, Done, "ok", true},
		{"strict retry", `{"verdict":"RETRY","feedback":"tests fail"}`, Retry, "tests fail", true},
		{"strict impossible", `{"verdict":"IMPOSSIBLE","feedback":"needs hardware"}`, Impossible, "needs hardware", true},
		{"lower case value", `{"verdict":"done","feedback":""}`, Done, "", true},
		{"fenced", "```json\n{\"verdict\":\"DONE\",\"feedback\":\"fine\"}\n```", Done, "fine", true},
		{"explanation then json", "I checked the files.\nAll good.\n{\"verdict\": \"DONE\", \"feedback\": \"all good\"}", Done, "all good", true},
		{"format quoted then real verdict", "You asked for {\"verdict\": \"DONE\"} style.\nResult: {\"verdict\": \"RETRY\", \"feedback\": \"missing test\"}", Retry, "missing test", true},
		{"feedback list", `{"verdict":"RETRY","feedback":["add tests","fix lint"]}`, Retry, "add tests\nfix lint", true},
		{"verdict line", "Looked at it.\nVERDICT: RETRY - the function is missing", Retry, "the function is missing", true},
		{"bold verdict line", "**Verdict:** DONE", Done, "", true},
		{"not done prose", "The task is not done yet.", Retry, "", false},
		{"done prose", "Done! Everything looks great.", Retry, "", false},
		{"empty", "", Retry, "", false},
		{"unknown verdict word", `{"verdict":"MAYBE","feedback":"x"}`, Retry, "", false},
		{"verdict missing", `{"feedback":"DONE"}`, Retry, "", false},
		{"broken json", `{"verdict": "DONE", "feedback": "unterminated`, Retry, "", false},
		{"done inside feedback of retry", `{"verdict":"RETRY","feedback":"not done: DONE only when tests pass"}`, Retry, "not done: DONE only when tests pass", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Parse(tt.in)
			if d.Verdict != tt.verdict || d.Readable != tt.readable {
				t.Fatalf("Parse(%q) = %+v, want verdict %s readable %v", tt.in, d, tt.verdict, tt.readable)
			}
			if tt.readable && d.Feedback != tt.feedback {
				t.Errorf("feedback = %q, want %q", d.Feedback, tt.feedback)
			}
			if !tt.readable && !strings.Contains(d.Feedback, "could not be read") {
				t.Errorf("unreadable feedback should explain itself, got %q", d.Feedback)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"verdict":"DONE","feedback":"ok"}`, "VERDICT: IMPOSSIBLE", "not done", "```\n{}\n```",
		"{{{{}}}}", `{"verdict":"DONE"`, "{\"verdict\":\"RETRY\",\"feedback\":{\"a\":1}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := Parse(s)
		switch d.Verdict {
		case Done, Retry, Impossible:
		default:
			t.Fatalf("Parse(%q) gave verdict %q", s, d.Verdict)
		}
		if !d.Readable && d.Verdict != Retry {
			t.Fatalf("unreadable answer %q gave %s, want RETRY", s, d.Verdict)
		}
		lower := strings.ToLower(s)
		if d.Verdict == Done && !strings.Contains(lower, "done") {
			t.Fatalf("DONE from an answer without the word: %q", s)
		}
	})
}
