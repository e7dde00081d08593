// Command fakeopenai serves the fake OpenAI-compatible chat completions API on a
// loopback port, for manual runs of oneshot and for chaos tests of the service.
//
// It answers every prompt with "fake answer", and prompts that mention a verdict with
// {"verdict":"DONE","feedback":"ok"}.
//
//	go run ./internal/fakeopenai/cmd/fakeopenai -port 11435 -latency 50ms -failure-rate 0.2
//	oneshot run --executor direct --worker-endpoint http://127.0.0.1:11435/v1 --worker-model fake "task"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oneshot-run/oneshot/internal/fakeopenai"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fakeopenai:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("fakeopenai", flag.ContinueOnError)
	port := fs.Int("port", 11435, "port to listen on, on 127.0.0.1 (0 picks a free one)")
	latency := fs.Duration("latency", 0, "delay before the headers and between stream chunks")
	failureRate := fs.Float64("failure-rate", 0, "fraction of requests (0..1) answered with 429")
	retryAfter := fs.String("retry-after", "1", "Retry-After header sent with those 429s (empty: none)")
	flavor := fs.String("flavor", "ollama", "server to imitate: ollama, openai or vllm")
	models := fs.String("models", "", "comma-separated models the server has (empty: any)")
	seed := fs.Uint64("seed", 0, "seed for the failure draws (0: random)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *failureRate < 0 || *failureRate > 1 {
		return fmt.Errorf("-failure-rate %v: must be between 0 and 1", *failureRate)
	}
	fl, err := fakeopenai.ParseFlavor(*flavor)
	if err != nil {
		return err
	}
	opts := []fakeopenai.Option{
		fakeopenai.WithFlavor(fl),
		fakeopenai.WithLatency(*latency),
		fakeopenai.WithFailureRate(*failureRate, *retryAfter),
	}
	if *models != "" {
		opts = append(opts, fakeopenai.WithModels(strings.Split(*models, ",")...))
	}
	if *seed != 0 {
		opts = append(opts, fakeopenai.WithSeed(*seed))
	}
	// An API key, if wanted, comes from the environment like the real ones do.
	if key := os.Getenv("FAKEOPENAI_API_KEY"); key != "" {
		opts = append(opts, fakeopenai.WithAPIKey(key))
	}
	h := fakeopenai.NewHandler(opts...)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		h.Close() // release hung and stalled requests
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	fmt.Printf("fakeopenai (%s) listening on http://%s/v1\n", fl, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
