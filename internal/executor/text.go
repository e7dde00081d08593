package executor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// How events and errors word what the agents did: summaries of tool calls and usage,
// hints for model API failures, and text made from JSON values, shortened or cleaned.

// toolCallSummary renders a tool call as "name: the argument that says what it does".
func toolCallSummary(name string, input json.RawMessage) string {
	if name == "" {
		name = "tool"
	}
	var args struct {
		Command      json.RawMessage `json:"command"`
		FilePath     string          `json:"file_path"`
		AbsolutePath string          `json:"absolute_path"`
		Path         string          `json:"path"`
		Pattern      string          `json:"pattern"`
		URL          string          `json:"url"`
		Query        string          `json:"query"`
		Description  string          `json:"description"`
		Prompt       string          `json:"prompt"`
	}
	input = bytes.TrimSpace(input)
	if len(input) == 0 || bytes.Equal(input, []byte("null")) || bytes.Equal(input, []byte("{}")) {
		return name
	}
	if input[0] == '{' && json.Unmarshal(input, &args) == nil {
		for _, s := range []string{jsonText(args.Command), args.FilePath, args.AbsolutePath, args.Path, args.Pattern, args.URL, args.Query, args.Description, args.Prompt} {
			if s != "" {
				return name + ": " + clipText(flattenSpace(s), 200)
			}
		}
	}
	return name + " " + clipText(flattenSpace(jsonText(input)), 200)
}

// toolResultSummary renders what a tool returned.
func toolResultSummary(name string, failed bool, output string) string {
	var b strings.Builder
	if name != "" {
		b.WriteString(name)
		b.WriteString(" ")
	}
	if failed {
		b.WriteString("failed")
	} else {
		b.WriteString("returned")
	}
	if output != "" {
		b.WriteString(": ")
		b.WriteString(output)
	}
	return activity.Truncate(b.String())
}

// usageSummary renders token counts and cost for a usage event.
func usageSummary(u Usage) string {
	s := fmt.Sprintf("tokens: %d in, %d out", u.InputTokens, u.OutputTokens)
	if u.CostUSD > 0 {
		s += fmt.Sprintf(", cost $%.4f", u.CostUSD)
	}
	return s
}

// modelAPIHint says what to do about a model API's HTTP status.
func modelAPIHint(status int) string {
	switch {
	case status == 400:
		return "the model API rejected the request: check the model name and the agent's extra arguments"
	case status == 401 || status == 403:
		return "the model API refused the credentials: check the agent's API key variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY…)"
	case status == 404:
		return "the model API does not know the model or the endpoint: check --worker-model/--auditor-model and the agent's base URL"
	case status == 408:
		return "the model API timed out: try again, or check that the endpoint is reachable"
	case status == 429:
		return "the model API is rate limiting or the quota is used up: wait and retry, or raise the quota"
	case status >= 500 && status <= 599:
		return "the model API failed on its side: retry later, or check the inference endpoint"
	}
	return "check the model API endpoint, the model name and the API key"
}

// jsonText renders a JSON value as text: strings unquoted, arrays of strings or of text
// blocks joined, anything else compact JSON.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '[':
		var parts []json.RawMessage
		if json.Unmarshal(raw, &parts) == nil {
			texts := make([]string, 0, len(parts))
			for _, p := range parts {
				p = bytes.TrimSpace(p)
				if len(p) > 0 && p[0] == '{' {
					var blk struct {
						Text *string `json:"text"`
					}
					if json.Unmarshal(p, &blk) == nil && blk.Text != nil {
						texts = append(texts, *blk.Text)
						continue
					}
				}
				texts = append(texts, jsonText(p))
			}
			return strings.Join(texts, " ")
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// jsonErrorText renders an error object ({"message": …}, as Gemini and Codex print them) or
// any other JSON value.
func jsonErrorText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var e struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return e.Message
		}
	}
	return jsonText(raw)
}

// quoteEventType names an event type in a message, even an empty or odd one.
func quoteEventType(t string) string {
	if t == "" {
		return `""`
	}
	return strconv.Quote(clipText(t, 64))
}

// flattenSpace collapses whitespace runs (newlines included) to single spaces.
func flattenSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clipText shortens s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// stripTermEscapes removes terminal escape sequences (Gemini colours its errors red even when
// stderr is a pipe).
func stripTermEscapes(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0x1b {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch s[i+1] {
		case '[': // CSI: parameters, then one final byte in 0x40–0x7E
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
		case ']': // OSC: up to BEL or ESC \
			j := i + 2
			for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			if j < len(s) && s[j] == 0x1b {
				j++
			}
			i = j
		default: // two-byte sequence
			i++
		}
	}
	return b.String()
}

// kindsError is a failure of two kinds at once (a model API error that also made the
// agent exit non-zero): errors.Is matches both, the message names only the first.
type kindsError struct {
	msg   string
	kinds []error
}

func (e *kindsError) Error() string   { return e.msg }
func (e *kindsError) Unwrap() []error { return e.kinds }

func withKinds(primary, secondary error, format string, args ...any) error {
	return &kindsError{msg: primary.Error() + ": " + fmt.Sprintf(format, args...), kinds: []error{primary, secondary}}
}
