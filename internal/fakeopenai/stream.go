package fakeopenai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Wire shapes of a chat completion and its stream chunks. Field order follows what
// the servers print; optional fields are pointers so that "absent" and "empty"
// differ where the servers make them differ.

type wireFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type wireToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function wireFunction `json:"function"`
}

type wireDelta struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	Reasoning        *string         `json:"reasoning,omitempty"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	Refusal          json.RawMessage `json:"refusal,omitempty"`
	ToolCalls        []wireToolCall  `json:"tool_calls,omitempty"`
}

type wireChoice struct {
	Index        int             `json:"index"`
	Delta        *wireDelta      `json:"delta,omitempty"`
	Message      *wireDelta      `json:"message,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason *string         `json:"finish_reason"`
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type wireChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	Choices           []wireChoice    `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

var jsonNull = json.RawMessage("null")

// completion renders one scripted reply.
type completion struct {
	h      *Handler
	id     string
	model  string
	prompt string
	reply  Reply
}

func strptr(s string) *string { return &s }

func (c *completion) finishReason() string {
	switch {
	case c.reply.FinishReason != "":
		return c.reply.FinishReason
	case len(c.reply.ToolCalls) > 0:
		return "tool_calls"
	}
	return "stop"
}

func (c *completion) usage() wireUsage {
	u := wireUsage{PromptTokens: len(c.prompt)/4 + 1, CompletionTokens: (len(c.reply.Content)+len(c.reply.Reasoning))/4 + 1}
	if c.reply.Usage != nil {
		u.PromptTokens, u.CompletionTokens = c.reply.Usage.Prompt, c.reply.Usage.Completion
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

func (c *completion) fingerprint() string {
	switch c.h.flavor {
	case Ollama:
		return "fp_ollama"
	case OpenAI:
		return "fp_fake0001"
	}
	return ""
}

// reasoning puts text in the field the flavor uses for it.
func (c *completion) reasoning(d *wireDelta, text string) {
	if c.h.flavor == VLLM {
		d.ReasoningContent = strptr(text)
	} else {
		d.Reasoning = strptr(text)
	}
}

func (c *completion) chunk(choices ...wireChoice) wireChunk {
	if choices == nil {
		choices = []wireChoice{}
	}
	return wireChunk{
		ID: c.id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: c.model,
		SystemFingerprint: c.fingerprint(), Choices: choices,
	}
}

func (c *completion) toolCalls(full bool) []wireToolCall {
	var calls []wireToolCall
	for i, tc := range c.reply.ToolCalls {
		idx := i
		call := wireToolCall{Index: &idx, ID: fmt.Sprintf("call_%s_%d", strings.TrimPrefix(c.id, "chatcmpl-"), i), Type: "function",
			Function: wireFunction{Name: tc.Name}}
		if full {
			call.Function.Arguments = tc.Arguments
		}
		calls = append(calls, call)
	}
	return calls
}

func (c *completion) writeJSON(w http.ResponseWriter) {
	msg := &wireDelta{Role: "assistant", Content: strptr(c.reply.Content)}
	if c.reply.Reasoning != "" {
		c.reasoning(msg, c.reply.Reasoning)
	}
	if c.h.flavor == OpenAI {
		msg.Refusal = jsonNull
	}
	msg.ToolCalls = c.toolCalls(true)
	for i := range msg.ToolCalls {
		msg.ToolCalls[i].Index = nil
	}
	u, _ := json.Marshal(c.usage())
	writeJSON(w, http.StatusOK, struct {
		ID                string          `json:"id"`
		Object            string          `json:"object"`
		Created           int64           `json:"created"`
		Model             string          `json:"model"`
		SystemFingerprint string          `json:"system_fingerprint,omitempty"`
		Choices           []wireChoice    `json:"choices"`
		Usage             json.RawMessage `json:"usage"`
	}{c.id, "chat.completion", time.Now().Unix(), c.model, c.fingerprint(),
		[]wireChoice{{Message: msg, FinishReason: strptr(c.finishReason())}}, u})
}

// stream answers with server-sent events. It returns early, leaving the stream
// unfinished, for the misbehaving replies.
func (c *completion) stream(w http.ResponseWriter, r *http.Request, includeUsage bool) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	delay := c.h.latency
	if c.reply.ChunkDelay > 0 {
		delay = c.reply.ChunkDelay
	}
	sent := 0
	send := func(ch wireChunk) bool {
		if sent > 0 && !c.h.sleep(r, delay) {
			return false
		}
		if includeUsage && c.h.flavor == OpenAI && ch.Usage == nil {
			ch.Usage = jsonNull
		}
		if !c.write(w, flusher, ch) {
			return false
		}
		sent++
		return true
	}
	delta := func(d *wireDelta) wireChoice { return wireChoice{Delta: d, Logprobs: c.logprobs()} }
	// after the first chunk with something in it, the misbehaving replies take over
	misbehave := func() bool {
		switch {
		case c.reply.StallAfterFirstChunk:
			c.h.wait(r)
		case c.reply.CutAfterFirstChunk:
			panic(http.ErrAbortHandler) // the connection closes without the stream's end
		case c.reply.Malformed:
			fmt.Fprintf(w, "data: {\"id\":%q,\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tru\n\n", c.id)
			c.flush(flusher)
		case c.reply.StreamError != "":
			body, _ := json.Marshal(wireErrorBody{wireError{Message: c.reply.StreamError, Type: "BadRequestError", Code: 400}})
			fmt.Fprintf(w, "data: %s\n\n", body)
			if !c.reply.NoDone {
				fmt.Fprint(w, "data: [DONE]\n\n")
			}
			c.flush(flusher)
		default:
			return false
		}
		return true
	}

	if c.h.flavor != Ollama {
		role := &wireDelta{Role: "assistant", Content: strptr("")}
		if c.h.flavor == OpenAI {
			role.Refusal = jsonNull
		}
		if !send(c.chunk(delta(role))) {
			return
		}
	}
	for i, piece := range pieces(c.reply.Reasoning, 4) {
		d := &wireDelta{}
		if c.h.flavor == Ollama {
			d.Role, d.Content = "assistant", strptr("")
		}
		c.reasoning(d, piece)
		if !send(c.chunk(delta(d))) || (i == 0 && misbehave()) {
			return
		}
	}
	for _, piece := range pieces(c.reply.Content, 4) {
		d := &wireDelta{Content: strptr(piece)}
		if c.h.flavor == Ollama {
			d.Role = "assistant"
		}
		if !send(c.chunk(delta(d))) || misbehave() {
			return
		}
	}
	if c.reply.Content == "" && c.reply.Reasoning == "" && misbehave() {
		return
	}
	if len(c.reply.ToolCalls) > 0 {
		full := c.h.flavor == Ollama // Ollama sends each call whole; the others stream the arguments
		calls := c.toolCalls(full)
		for i := range calls {
			if !send(c.chunk(delta(&wireDelta{ToolCalls: calls[i : i+1]}))) {
				return
			}
			if full {
				continue
			}
			for _, piece := range pieces(c.reply.ToolCalls[i].Arguments, 3) {
				idx := i
				part := wireToolCall{Index: &idx, Function: wireFunction{Arguments: piece}}
				if !send(c.chunk(delta(&wireDelta{ToolCalls: []wireToolCall{part}}))) {
					return
				}
			}
		}
	}
	last := &wireDelta{}
	if c.h.flavor == Ollama {
		last.Role, last.Content = "assistant", strptr("")
	}
	finish := delta(last)
	finish.FinishReason = strptr(c.finishReason())
	if !send(c.chunk(finish)) {
		return
	}
	if includeUsage {
		u := c.chunk()
		u.Usage, _ = json.Marshal(c.usage())
		if !send(u) {
			return
		}
	}
	if !c.reply.NoDone {
		fmt.Fprint(w, "data: [DONE]\n\n")
		c.flush(flusher)
	}
}

func (c *completion) logprobs() json.RawMessage {
	if c.h.flavor == OpenAI {
		return jsonNull
	}
	return nil
}

func (c *completion) flush(f http.Flusher) {
	if f != nil {
		f.Flush()
	}
}

// write sends one chunk as an SSE event, optionally preceded by a comment and with
// its JSON spread over several data: lines (both legal SSE that real proxies send).
func (c *completion) write(w http.ResponseWriter, f http.Flusher, ch wireChunk) bool {
	var b strings.Builder
	if c.reply.KeepAlive {
		b.WriteString(": keep-alive\n\n")
	}
	var body []byte
	if c.reply.MultiLineData {
		body, _ = json.MarshalIndent(ch, "", " ")
	} else {
		body, _ = json.Marshal(ch)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := w.Write([]byte(b.String())); err != nil {
		return false
	}
	c.flush(f)
	return true
}

// pieces splits s into about n parts of similar length, never inside a UTF-8
// sequence, the way a model's tokens arrive.
func pieces(s string, n int) []string {
	if s == "" {
		return nil
	}
	size := max((len(s)+n-1)/n, 1)
	var out []string
	for len(s) > 0 {
		cut := min(size, len(s))
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}
