package main

import (
	"strings"
	"testing"
)

func TestRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		says string
	}{
		{[]string{"-failure-rate", "2"}, "between 0 and 1"},
		{[]string{"-flavor", "bedrock"}, "unknown flavor"},
		{[]string{"-port", "-1"}, ""},
	}
	for _, tt := range tests {
		err := run(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("run(%q) = %v, want an error saying %q", tt.args, err, tt.says)
		}
	}
}
