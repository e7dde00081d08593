package runtime

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the agent program of the command executor: started with
// -fakeagent MODE ARGS… it plays an agent instead of running the tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-fakeagent" {
		os.Exit(fakeAgent(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// fakeAgent modes:
//
//	answer TEXT [COUNTFILE]   print TEXT (appending a line to COUNTFILE first, if given)
//	chatty N                  print N lines as fast as it can
//	done                      print a DONE verdict
//	drip PIDFILE              write the pid, then print a line every 20ms
//	hang PIDFILE [TERM]       write the pid, then wait (ignoring SIGTERM unless TERM is "term")
func fakeAgent(mode string, args []string) int {
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	switch mode {
	case "answer":
		if len(args) > 1 {
			f, err := os.OpenFile(args[1], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Fprintln(f, os.Getpid())
			f.Close()
		}
		fmt.Println(args[0])
		return 0
	case "chatty":
		n, _ := strconv.Atoi(args[0])
		w := bufio.NewWriterSize(os.Stdout, 64<<10)
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "line %d of a chatty agent's output, about as long as a log line\n", i)
		}
		w.Flush()
		return 0
	case "done":
		fmt.Println(`{"verdict": "DONE", "feedback": "the answer is right"}`)
		return 0
	case "drip":
		if err := os.WriteFile(args[0]+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o600); err == nil {
			_ = os.Rename(args[0]+".tmp", args[0])
		}
		for i := 1; i <= 15000; i++ {
			fmt.Printf("progress line %d\n", i)
			time.Sleep(20 * time.Millisecond)
		}
		return 0
	case "hang":
		if len(args) < 2 || args[1] != "term" {
			signal.Ignore(syscall.SIGTERM)
		}
		fmt.Println("working on it")
		if err := os.WriteFile(args[0]+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o600); err == nil {
			_ = os.Rename(args[0]+".tmp", args[0])
		}
		time.Sleep(5 * time.Minute)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown fake agent mode", mode, strings.Join(args, " "))
	return 2
}
