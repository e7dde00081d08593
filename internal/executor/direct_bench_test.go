package executor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// directBenchStream is an OpenAI-shaped stream of n token chunks (a newline every
// 16 tokens), the usage chunk and [DONE].
func directBenchStream(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		tok := fmt.Sprintf(" tok%d", i%1000)
		if i%16 == 15 {
			tok += "\n"
		}
		c, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion.chunk", "created": 1741570283,
			"model": "gpt-4o-2024-08-06", "service_tier": "default", "system_fingerprint": "fp_fc9f1d7035",
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": tok}, "logprobs": nil, "finish_reason": nil}},
			"usage":   nil,
		})
		fmt.Fprintf(&b, "data: %s\n\n", c)
	}
	b.WriteString(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4000,"total_tokens":4009}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

func directReportPerEvent(b *testing.B, events int, before runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	total := float64(events) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/event")
}

// BenchmarkDirectSSEReader measures SSE framing alone.
func BenchmarkDirectSSEReader(b *testing.B) {
	const n = 4000
	body := directBenchStream(n)
	b.SetBytes(int64(len(body)))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	for range b.N {
		r := newDirectSSEReader(bytes.NewReader(body), directMaxSSEEvent)
		for {
			if _, err := r.next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	directReportPerEvent(b, n+3, ms)
}

// BenchmarkDirectStream measures a whole streamed answer: SSE framing, chunk
// decoding, coalescing into line events, usage and result.
func BenchmarkDirectStream(b *testing.B) {
	const n = 4000
	body := directBenchStream(n)
	b.SetBytes(int64(len(body)))
	emitted := 0
	emit := func(activity.Event) { emitted++ }
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	for range b.N {
		turn := newDirectTurn(emit, defaultDirectOptions(), nil)
		if err := turn.consumeSSE(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		turn.finish()
	}
	b.StopTimer()
	directReportPerEvent(b, n+3, ms)
	b.ReportMetric(float64(emitted)/float64(b.N), "activity-events/op")
}
