// Command smokehook is the smoke test of an api deployment: an AWS Lambda function
// (runtime provided.al2023, arm64) that ECS calls as a blue/green lifecycle hook after
// the new tasks received the test listener's traffic (POST_TEST_TRAFFIC_SHIFT).
//
// Through the test listener it checks that /readyz answers 200, that /healthz reports the
// version of the release being deployed (the org.opencontainers.image.version label of
// the task definition under test), and that an authenticated GET /api/v1/status works
// with the token stored in Secrets Manager. It answers {"hookStatus":"SUCCEEDED"} when
// all pass and {"hookStatus":"FAILED"} otherwise, which makes ECS roll back before any
// production traffic reaches the new tasks.
//
// Settings (environment): SMOKE_BASE_URL (the test listener, e.g.
// https://api.example.com:8443), SMOKE_TOKEN_SECRET_ID, and optionally
// SMOKE_CONTAINER_NAME (default oneshot), SMOKE_EXPECTED_VERSION, SMOKE_READY_TIMEOUT
// (default 60s), SMOKE_REQUEST_TIMEOUT (default 5s). AWS credentials and region come
// from the standard variables Lambda sets.
//
// Outside Lambda, `smokehook -once [-event FILE]` runs the checks once with the
// credentials in the environment and prints the result (see docs/runbooks).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smokehook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	once := fs.Bool("once", false, "run the checks once outside Lambda and print the result")
	eventFile := fs.String("event", "", "with -once: a lifecycle hook event to use (default: an empty one; set SMOKE_EXPECTED_VERSION)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	cfg, cfgErr := configFromEnv(getenv)
	h := newHook(cfg, getenv, log)

	if *once {
		if cfgErr != nil {
			printf(stderr, "smokehook: %v\n", cfgErr)
			return 2
		}
		var ev event
		if *eventFile != "" {
			data, err := os.ReadFile(*eventFile)
			if err == nil {
				err = json.Unmarshal(data, &ev)
			}
			if err != nil {
				printf(stderr, "smokehook: read the event: %v\n", err)
				return 2
			}
		}
		res := h.handle(ctx, ev)
		out, _ := json.Marshal(res)
		printf(stdout, "%s\n", out)
		if res.HookStatus != hookSucceeded {
			return 1
		}
		return 0
	}

	api := getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		printf(stderr, "smokehook: AWS_LAMBDA_RUNTIME_API is not set: this program runs as a Lambda function (provided.al2023); use -once to run the checks by hand\n")
		return 2
	}
	rt := newRuntimeClient(api)
	if cfgErr != nil {
		log.Error("invalid configuration", "err", cfgErr.Error())
		if err := rt.initError(ctx, cfgErr); err != nil {
			log.Error("report the init error", "err", err.Error())
		}
		return 1
	}
	if err := rt.serve(ctx, lambdaHandler(h)); err != nil {
		log.Error("runtime API", "err", err.Error())
		return 1
	}
	return 0
}

// lambdaHandler decodes a lifecycle hook event and encodes the hook's answer. A payload
// that is not an event is answered FAILED, never with a function error, so ECS always
// gets a decision.
func lambdaHandler(h *hook) handlerFunc {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		var ev event
		res := result{HookStatus: hookFailed}
		if err := json.Unmarshal(payload, &ev); err != nil {
			h.log.Error("the invocation is not an ECS lifecycle hook event", "err", err.Error())
		} else {
			res = h.handle(ctx, ev)
		}
		return json.Marshal(res)
	}
}

// printf writes a message for the person at the terminal; when that fails there is no
// one to tell.
func printf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func newHook(cfg config, getenv func(string) string, log *slog.Logger) *hook {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = 30 * time.Second
	return &hook{
		cfg: cfg,
		log: log,
		// The service's answers must come from the tasks, not from a redirect elsewhere.
		http: &http.Client{
			Transport:     transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		aws: &awsClient{
			http: &http.Client{Transport: transport, Timeout: 20 * time.Second},
			creds: credentials{
				AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
				SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
				SessionToken:    getenv("AWS_SESSION_TOKEN"),
			},
			region:   region,
			endpoint: regionalEndpoint(region),
			now:      time.Now,
		},
	}
}
