package executor

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// directSSEReference is a deliberately naive reading of the SSE rules, to check
// the buffered parser against: split into lines, then fold lines into events.
func directSSEReference(in string) []directSSECopy {
	var lines []string
	for len(in) > 0 {
		i := strings.IndexAny(in, "\r\n")
		if i < 0 {
			lines = append(lines, in)
			break
		}
		lines = append(lines, in[:i])
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
	}
	var out []directSSECopy
	var data []string
	name, hasData := "", false
	dispatch := func() {
		out = append(out, directSSECopy{name, []byte(strings.Join(data, "\n"))})
		data, name, hasData = nil, "", false
	}
	for _, line := range lines {
		switch {
		case line == "":
			if hasData {
				dispatch()
			}
			name = ""
		case line[0] == ':':
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "data":
				data, hasData = append(data, value), true
			case "event":
				name = value
			}
		}
	}
	if hasData {
		dispatch()
	}
	return out
}

func FuzzDirectSSEReader(f *testing.F) {
	for _, seed := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
		"data: a\r\n\r\ndata: b\r\rdata: c\n\n",
		": keep-alive\n\nevent: error\ndata: {\"error\":{\"message\":\"x\"}}\n\n",
		"data: {\n data: \"a\": 1\ndata: }\n\n",
		"event: ping\n\nevent:message\ndata:x\n\ndata",
		"\r\r\n\n\r",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := directSSEReference(string(in))
		for name, r := range map[string]io.Reader{
			"whole":    bytes.NewReader(in),
			"one byte": iotest.OneByteReader(bytes.NewReader(in)),
			"halves":   iotest.HalfReader(bytes.NewReader(in)),
			"with EOF": iotest.DataErrReader(bytes.NewReader(in)),
		} {
			got, err := directReadAll(newDirectSSEReader(r, 1<<20))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !slices.EqualFunc(got, want, func(a, b directSSECopy) bool {
				return a.name == b.name && bytes.Equal(a.data, b.data)
			}) {
				t.Fatalf("%s: %q\ngot  %q\nwant %q", name, in, got, want)
			}
		}
	})
}

// FuzzDirectStream feeds arbitrary bodies to the chunk handling: it must never
// panic, every event must be loggable, and the answer stays bounded.
func FuzzDirectStream(f *testing.F) {
	for _, seed := range []string{
		"data: " + directChunkJSON("The answer\nis 42") + "\n\ndata: [DONE]\n\n",
		`data: {"choices":[{"delta":{"reasoning_content":"hm","tool_calls":[{"index":0,"id":"c","function":{"name":"ls","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}` + "\n\n",
		`data: {"choices":[{"delta":{"content":[{"type":"text","text":"parts"}]}}]}` + "\n\n",
		`data: {"error":{"message":"boom","code":500}}` + "\n\n",
		"event: error\ndata: oops\n\n",
		`{"choices":[{"message":{"content":"whole"},"finish_reason":"stop"}]}`,
		`data: {"choices":[{"delta":{"tool_calls":[{"index":-1},{"index":99999999}]}}]}` + "\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, asJSON := range []bool{false, true} {
			var events []activity.Event
			opts := directTestOptions()
			opts.FlushInterval = 0 // no timer: the fuzzer runs many inputs in parallel
			turn := newDirectTurn(func(e activity.Event) { events = append(events, e) }, opts, nil)
			var err error
			if asJSON {
				err = turn.consumeJSON(bytes.NewReader(in))
			} else {
				err = turn.consumeSSE(bytes.NewReader(in))
			}
			var res Result
			if err == nil {
				res = turn.finish()
			} else {
				res = turn.partial()
			}
			if len(res.Text) > directMaxAnswer+64 {
				t.Fatalf("answer of %d bytes", len(res.Text))
			}
			for _, e := range events {
				if _, err := json.Marshal(e); err != nil {
					t.Fatalf("event %+v does not encode: %v", e, err)
				}
				if e.Type == activity.Message && (len(e.Text) > opts.FlushBytes || !utf8.ValidString(e.Text) && utf8.Valid(in)) {
					t.Fatalf("message event %q", e.Text)
				}
			}
		}
	})
}
