package fakeopenai

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func post(t *testing.T, url, key string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func chat(model, prompt string, stream bool) map[string]any {
	m := map[string]any{"model": model, "stream": stream, "messages": []any{map[string]any{"role": "user", "content": prompt}}}
	if stream {
		m["stream_options"] = map[string]any{"include_usage": true}
	}
	return m
}

type parsedStream struct {
	raw       string
	chunks    []map[string]any
	content   string
	reasoning map[string]string // field name → text
	usage     map[string]any
	finish    string
	done      bool
}

// parseStream reads an SSE body the simple way: every event is one data line.
func parseStream(t *testing.T, r io.Reader) parsedStream {
	t.Helper()
	p := parsedStream{reasoning: map[string]string{}}
	raw, _ := io.ReadAll(r)
	p.raw = string(raw)
	sc := bufio.NewScanner(strings.NewReader(p.raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected line %q", line)
		}
		if data == "[DONE]" {
			p.done = true
			continue
		}
		var c map[string]any
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		p.chunks = append(p.chunks, c)
		if u, ok := c["usage"].(map[string]any); ok {
			p.usage = u
		}
		choices, _ := c["choices"].([]any)
		if len(choices) == 0 {
			continue
		}
		ch := choices[0].(map[string]any)
		if f, ok := ch["finish_reason"].(string); ok {
			p.finish = f
		}
		d := ch["delta"].(map[string]any)
		if s, ok := d["content"].(string); ok {
			p.content += s
		}
		for _, k := range []string{"reasoning", "reasoning_content"} {
			if s, ok := d[k].(string); ok {
				p.reasoning[k] += s
			}
		}
	}
	return p
}

func TestStreamsLikeEachServer(t *testing.T) {
	tests := []struct {
		flavor       Flavor
		reasoningKey string
		fingerprint  string
	}{
		{Ollama, "reasoning", "fp_ollama"},
		{OpenAI, "reasoning", "fp_fake0001"},
		{VLLM, "reasoning_content", ""},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			srv := New(t, WithFlavor(tt.flavor))
			srv.Script(Reply{Content: "The answer is 42, said the model.", Reasoning: "six times seven", Usage: &Usage{Prompt: 12, Completion: 8}})
			resp := post(t, srv.URL+"/chat/completions", "", chat("m1", "What is 6×7?", true))
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			p := parseStream(t, resp.Body)
			if p.content != "The answer is 42, said the model." || p.reasoning[tt.reasoningKey] != "six times seven" {
				t.Errorf("content %q, reasoning %q", p.content, p.reasoning)
			}
			if len(p.reasoning) != 1 {
				t.Errorf("reasoning in fields %v, want only %s", p.reasoning, tt.reasoningKey)
			}
			if n := strings.Count(p.raw, `"content":"`); n < 4 {
				t.Errorf("content came in %d chunks, want it split like tokens", n)
			}
			if p.finish != "stop" || !p.done {
				t.Errorf("finish %q, [DONE] %v", p.finish, p.done)
			}
			if p.usage["prompt_tokens"] != 12.0 || p.usage["completion_tokens"] != 8.0 || p.usage["total_tokens"] != 20.0 {
				t.Errorf("usage %v", p.usage)
			}
			last := p.chunks[len(p.chunks)-1]
			if ch, ok := last["choices"].([]any); !ok || len(ch) != 0 {
				t.Errorf("usage chunk choices %v, want []", last["choices"])
			}
			for _, c := range p.chunks {
				if c["object"] != "chat.completion.chunk" || c["model"] != "m1" || c["id"] != p.chunks[0]["id"] {
					t.Errorf("chunk %v", c)
				}
				if fp, _ := c["system_fingerprint"].(string); fp != tt.fingerprint {
					t.Errorf("system_fingerprint %q, want %q", fp, tt.fingerprint)
				}
				if _, has := c["usage"]; tt.flavor == OpenAI && !has {
					t.Errorf("OpenAI sends usage (null) in every chunk once asked: %v", c)
				}
			}
		})
	}
}

func TestNoStreamAnswersAChatCompletion(t *testing.T) {
	for _, r := range []struct {
		reply  Reply
		stream bool
	}{{Reply{Content: "42", NoStream: true}, true}, {Reply{Content: "42"}, false}} {
		srv := New(t)
		srv.Script(r.reply)
		resp := post(t, srv.URL+"/chat/completions", "", chat("m", "q", r.stream))
		var c struct {
			Object  string
			Choices []struct {
				Message      struct{ Role, Content string }
				FinishReason string `json:"finish_reason"`
			}
			Usage struct {
				TotalTokens int `json:"total_tokens"`
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "chat.completion" || c.Choices[0].Message.Content != "42" || c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens == 0 {
			t.Errorf("completion %+v", c)
		}
	}
}

func TestScriptConsumesInOrderAndRepeatsTheLast(t *testing.T) {
	srv := New(t)
	srv.Script(Reply{Content: "one"}, Reply{Content: "two"})
	var got []string
	for range 4 {
		got = append(got, parseStream(t, post(t, srv.URL+"/chat/completions", "", chat("m", "q", true)).Body).content)
	}
	if strings.Join(got, ",") != "one,two,two,two" {
		t.Errorf("answers %q", got)
	}
}

func TestDefaultAndDynamicReplies(t *testing.T) {
	srv := New(t)
	ask := func(prompt string) string {
		return parseStream(t, post(t, srv.URL+"/chat/completions", "", chat("m", prompt, true)).Body).content
	}
	if got := ask("Fix the bug"); got != "fake answer" {
		t.Errorf("default answer %q", got)
	}
	if got := ask(`Answer with {"verdict": …}`); got != VerdictDone {
		t.Errorf("default verdict %q", got)
	}
	srv.Respond(func(r Request) Reply { return Reply{Content: "echo: " + r.Prompt()} })
	if got := ask("ping"); got != "echo: ping" {
		t.Errorf("dynamic answer %q", got)
	}
}

func TestRecordsRequestsWithoutTheKey(t *testing.T) {
	const key = "sk-record-me-not-1234567890"
	srv := New(t, WithAPIKey(key))
	post(t, srv.URL+"/chat/completions", key, chat("m", "first", true))
	post(t, srv.URL+"/chat/completions", "", chat("m", "second", false))
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if !reqs[0].HasAuth || reqs[1].HasAuth || reqs[0].Prompt() != "first" || !reqs[0].Stream || !reqs[0].IncludeUsage || reqs[1].Stream {
		t.Errorf("requests %+v", reqs)
	}
	if strings.Contains(fmt.Sprintf("%+v", reqs), key) {
		t.Error("the recorded requests contain the key")
	}
}

func TestErrorsLikeEachServer(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		url    func(*Server) string
		key    string
		status int
		body   string
	}{
		{"ollama model not found", []Option{WithModels("llama3.2")}, nil, "", 404,
			`{"error":{"message":"model \"nope\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}`},
		{"openai model not found", []Option{WithFlavor(OpenAI), WithModels("gpt-4o")}, nil, "", 404,
			`{"error":{"message":"The model ` + "`nope`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`},
		{"vllm model not found", []Option{WithFlavor(VLLM), WithModels("q")}, nil, "", 404,
			`{"error":{"message":"The model ` + "`nope`" + ` does not exist.","type":"NotFoundError","param":null,"code":404}}`},
		{"ollama unknown path", nil, func(s *Server) string { return s.Root() + "/chat/completions" }, "", 404, `404 page not found`},
		{"openai unknown path", []Option{WithFlavor(OpenAI)}, func(s *Server) string { return s.Root() + "/chat/completions" }, "", 404,
			`{"error":{"message":"Invalid URL (POST /chat/completions)","type":"invalid_request_error","param":null,"code":null}}`},
		{"vllm unknown path", []Option{WithFlavor(VLLM)}, func(s *Server) string { return s.Root() + "/chat/completions" }, "", 404, `{"detail":"Not Found"}`},
		{"wrong key", []Option{WithAPIKey("sk-right-0000000000000")}, nil, "sk-wrong-1111111111234", 401,
			`{"error":{"message":"Incorrect API key provided: sk-***************1234. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(t, tt.opts...)
			url := srv.URL + "/chat/completions"
			if tt.url != nil {
				url = tt.url(srv)
			}
			resp := post(t, url, tt.key, chat("nope", "q", true))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || strings.TrimSpace(string(body)) != tt.body {
				t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

func TestScriptedStatusAndRetryAfter(t *testing.T) {
	srv := New(t, WithFlavor(OpenAI))
	srv.Script(Reply{Status: 429, RetryAfter: "7"})
	resp := post(t, srv.URL+"/chat/completions", "", chat("m", "q", true))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(body), `"code":"rate_limit_exceeded"`) {
		t.Errorf("got %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestFailureRate(t *testing.T) {
	srv := New(t, WithFailureRate(0.5, "1"), WithSeed(7))
	failed := 0
	for range 40 {
		if post(t, srv.URL+"/chat/completions", "", chat("m", "q", false)).StatusCode == 429 {
			failed++
		}
	}
	if failed < 8 || failed > 32 {
		t.Errorf("%d of 40 requests failed, want about half", failed)
	}
}

func TestMisbehaviour(t *testing.T) {
	t.Run("hang sends no headers until the client leaves", func(t *testing.T) {
		srv := New(t)
		srv.Script(Reply{Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
		start := time.Now()
		if _, err := http.DefaultClient.Do(req); err == nil || time.Since(start) < 200*time.Millisecond {
			t.Errorf("got an answer (%v) after %v", err, time.Since(start))
		}
	})
	t.Run("stall sends one chunk", func(t *testing.T) {
		srv := New(t)
		srv.Script(Reply{Content: "abcd efgh", StallAfterFirstChunk: true})
		resp := post(t, srv.URL+"/chat/completions", "", chat("m", "q", true))
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || !strings.Contains(line, `"content":"abc`) {
			t.Errorf("first line %q, %v", line, err)
		}
	})
	for name, reply := range map[string]Reply{
		"malformed":    {Content: "abcd", Malformed: true},
		"stream error": {Content: "abcd", StreamError: "CUDA out of memory"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := New(t)
			srv.Script(reply)
			raw, _ := io.ReadAll(post(t, srv.URL+"/chat/completions", "", chat("m", "q", true)).Body)
			switch {
			case reply.Malformed && !strings.HasSuffix(string(raw), "\"content\":\"tru\n\n"):
				t.Errorf("stream %q, want it to end in a cut chunk", raw)
			case reply.StreamError != "" && !strings.Contains(string(raw), `data: {"error":{"message":"CUDA out of memory"`):
				t.Errorf("stream %q, want an error chunk", raw)
			}
		})
	}
	t.Run("reset and cut", func(t *testing.T) {
		srv := New(t)
		srv.Script(Reply{Reset: true}, Reply{Content: "abcd efgh", CutAfterFirstChunk: true})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Error("a reset connection gave a response")
		}
		resp := post(t, srv.URL+"/chat/completions", "", chat("m", "q", true))
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("a cut stream read to a clean end")
		}
	})
}

func TestPieces(t *testing.T) {
	for _, s := range []string{"", "a", "hello world", "ééééé", "日本語のテキスト", strings.Repeat("x", 1001)} {
		ps := pieces(s, 4)
		if strings.Join(ps, "") != s || len(ps) > 4 {
			t.Errorf("pieces(%q) = %q", s, ps)
		}
		for _, p := range ps {
			if p == "" || !utf8.RuneStart(p[0]) {
				t.Errorf("piece %q starts inside a character", p)
			}
		}
	}
}

func TestParseFlavor(t *testing.T) {
	for _, f := range []Flavor{Ollama, OpenAI, VLLM} {
		if got, err := ParseFlavor(strings.ToUpper(f.String())); err != nil || got != f {
			t.Errorf("ParseFlavor(%q) = %v, %v", f, got, err)
		}
	}
	if _, err := ParseFlavor("bedrock"); err == nil {
		t.Error("unknown flavor accepted")
	}
}
