package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The Lambda Runtime API (custom runtimes, provided.al2023): the function asks for the
// next invocation, handles it and posts the answer, in a loop.
const runtimeAPIVersion = "2018-06-01"

type invocation struct {
	RequestID string
	Deadline  time.Time
	TraceID   string
	Payload   []byte
}

type runtimeClient struct {
	base string // http://$AWS_LAMBDA_RUNTIME_API/2018-06-01
	http *http.Client
}

func newRuntimeClient(api string) *runtimeClient {
	// No client timeout: /next blocks until there is an invocation.
	return &runtimeClient{base: "http://" + api + "/" + runtimeAPIVersion, http: &http.Client{}}
}

func (r *runtimeClient) next(ctx context.Context) (invocation, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/runtime/invocation/next", nil)
	if err != nil {
		return invocation{}, err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return invocation{}, fmt.Errorf("get the next invocation: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return invocation{}, fmt.Errorf("read the next invocation: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return invocation{}, fmt.Errorf("get the next invocation: runtime API answered %s", resp.Status)
	}
	inv := invocation{
		RequestID: resp.Header.Get("Lambda-Runtime-Aws-Request-Id"),
		TraceID:   resp.Header.Get("Lambda-Runtime-Trace-Id"),
		Payload:   payload,
	}
	if inv.RequestID == "" {
		return invocation{}, errors.New("the runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id")
	}
	if ms, err := strconv.ParseInt(resp.Header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64); err == nil {
		inv.Deadline = time.UnixMilli(ms)
	}
	return inv, nil
}

func (r *runtimeClient) post(ctx context.Context, path string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: runtime API answered %s", path, resp.Status)
	}
	return nil
}

func (r *runtimeClient) respond(ctx context.Context, requestID string, body []byte) error {
	return r.post(ctx, "/runtime/invocation/"+requestID+"/response", body, nil)
}

// errorBody is the error document the Runtime API accepts.
func errorBody(err error) []byte {
	b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "SmokeHookError"})
	return b
}

func (r *runtimeClient) fail(ctx context.Context, requestID string, err error) error {
	return r.post(ctx, "/runtime/invocation/"+requestID+"/error", errorBody(err),
		http.Header{"Lambda-Runtime-Function-Error-Type": {"SmokeHookError"}})
}

func (r *runtimeClient) initError(ctx context.Context, err error) error {
	return r.post(ctx, "/runtime/init/error", errorBody(err),
		http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.InitError"}})
}

// handlerFunc turns one payload into one answer. An error is reported to Lambda as a
// function error.
type handlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// deadlineMargin is kept back from the invocation's deadline so the answer is posted
// before Lambda stops the function.
const deadlineMargin = 2 * time.Second

// serve handles invocations until ctx ends or the Runtime API fails.
func (r *runtimeClient) serve(ctx context.Context, handle handlerFunc) error {
	for {
		inv, err := r.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		invCtx := ctx
		cancel := func() {}
		if !inv.Deadline.IsZero() {
			invCtx, cancel = context.WithDeadline(ctx, inv.Deadline.Add(-deadlineMargin))
		}
		out, herr := handle(invCtx, inv.Payload)
		cancel()
		if herr != nil {
			err = r.fail(ctx, inv.RequestID, herr)
		} else {
			err = r.respond(ctx, inv.RequestID, out)
		}
		if err != nil {
			return err
		}
	}
}
