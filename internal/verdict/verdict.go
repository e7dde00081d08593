// Package verdict reads the auditor's answer.
//
// The auditor is asked to answer with one JSON object:
//
//	{"verdict": "DONE" | "RETRY" | "IMPOSSIBLE", "feedback": "..."}
//
// Parse accepts exactly that first (optionally inside a Markdown code fence), then a small
// set of clearly anchored fallbacks: the last JSON object in the text that has a "verdict"
// key, or a line that starts with "VERDICT:". Anything else is RETRY: an unreadable verdict
// must never finish a task, and "not done" is never DONE.
package verdict

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Verdict is the auditor's decision.
type Verdict string

const (
	Done       Verdict = "DONE"
	Retry      Verdict = "RETRY"
	Impossible Verdict = "IMPOSSIBLE"
)

// Decision is a parsed auditor answer.
type Decision struct {
	Verdict  Verdict `json:"verdict"`
	Feedback string  `json:"feedback"`
	// Readable is false when the answer could not be read and Verdict fell back to RETRY.
	Readable bool `json:"readable"`
}

type wire struct {
	Verdict  *string         `json:"verdict"`
	Feedback json.RawMessage `json:"feedback"`
}

var fence = regexp.MustCompile("(?s)^```[a-zA-Z]*\\s*\n(.*?)\n?```$")

// verdictLine matches "VERDICT: DONE" (optionally bold, optionally followed by feedback)
// at the start of a line.
var verdictLine = regexp.MustCompile(`(?im)^\s*\**verdict\**\s*[:=]\s*\**\s*"?(DONE|RETRY|IMPOSSIBLE)"?\**\s*(?:[-–—:]\s*(.*))?$`)

// Parse reads the auditor's final message.
func Parse(answer string) Decision {
	text := strings.TrimSpace(answer)
	if m := fence.FindStringSubmatch(text); m != nil {
		text = strings.TrimSpace(m[1])
	}
	if d, ok := fromJSON(text); ok {
		return d
	}
	if d, ok := lastJSONObject(text); ok {
		return d
	}
	if ms := verdictLine.FindAllStringSubmatch(text, -1); len(ms) > 0 {
		m := ms[len(ms)-1]
		return Decision{Verdict: Verdict(strings.ToUpper(m[1])), Feedback: strings.TrimSpace(m[2]), Readable: true}
	}
	return unreadable(answer)
}

func fromJSON(text string) (Decision, bool) {
	if !strings.HasPrefix(text, "{") {
		return Decision{}, false
	}
	var w wire
	if err := json.Unmarshal([]byte(text), &w); err != nil || w.Verdict == nil {
		return Decision{}, false
	}
	v := Verdict(strings.ToUpper(strings.TrimSpace(*w.Verdict)))
	switch v {
	case Done, Retry, Impossible:
	default:
		return Decision{}, false
	}
	return Decision{Verdict: v, Feedback: feedbackText(w.Feedback), Readable: true}, true
}

// feedbackText accepts feedback as a string, or as any other JSON value (a list of
// points, say), which is kept as compact JSON rather than dropped.
func feedbackText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var items []string
	if json.Unmarshal(raw, &items) == nil {
		return strings.Join(items, "\n")
	}
	return string(raw)
}

// lastJSONObject finds the last balanced {...} in text that decodes as a verdict. Agents
// often explain first and put the JSON last; the last object wins because an auditor may
// quote the expected format earlier in its answer.
func lastJSONObject(text string) (Decision, bool) {
	if len(text) > maxScan {
		text = text[len(text)-maxScan:]
	}
	for end := strings.LastIndexByte(text, '}'); end >= 0; end = strings.LastIndexByte(text[:end], '}') {
		depth := 0
		for start := end; start >= 0; start-- {
			switch text[start] {
			case '}':
				depth++
			case '{':
				depth--
			}
			if depth == 0 {
				if d, ok := fromJSON(text[start : end+1]); ok {
					return d, true
				}
				break
			}
		}
	}
	return Decision{}, false
}

// maxScan bounds the tail of an answer searched for a JSON verdict, keeping Parse linear
// in practice however long or brace-heavy an auditor's answer is.
const maxScan = 16 << 10

func unreadable(answer string) Decision {
	excerpt := strings.TrimSpace(answer)
	if len(excerpt) > 500 {
		excerpt = excerpt[:500] + "…"
	}
	fb := "The auditor's answer could not be read as a verdict, so the task is treated as not done."
	if excerpt != "" {
		fb += " Its answer was: " + excerpt
	}
	return Decision{Verdict: Retry, Feedback: fb, Readable: false}
}
