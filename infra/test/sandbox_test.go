package test

import (
	"strings"
	"testing"
)

func TestSandboxFromEnv(t *testing.T) {
	zone := map[string]string{"ONESHOT_TEST_ROUTE53_ZONE_ID": "Z0123456789ABCDEFGHIJ", "ONESHOT_TEST_DOMAIN": "sandbox.example.com."}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range zone {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}

	tests := []struct {
		name        string
		env         map[string]string
		skip        []string // every one must be in the reason; nil: the test runs
		credentials string
		region      string
	}{
		{name: "nothing set", env: map[string]string{}, skip: []string{"no AWS credentials", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN"}},
		{name: "only the zone", env: with(nil), skip: []string{"no AWS credentials"}},
		{name: "blank credentials", env: with(map[string]string{"AWS_PROFILE": "  "}), skip: []string{"no AWS credentials"}},
		{name: "credentials without a zone", env: map[string]string{"AWS_PROFILE": "sandbox"}, skip: []string{"ONESHOT_TEST_ROUTE53_ZONE_ID and ONESHOT_TEST_DOMAIN"}},
		{name: "credentials without the domain", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "ONESHOT_TEST_ROUTE53_ZONE_ID": "Z0123456789ABCDEFGHIJ"}, skip: []string{"set ONESHOT_TEST_DOMAIN"}},
		{name: "profile", env: with(map[string]string{"AWS_PROFILE": "sandbox"}), credentials: "AWS_PROFILE", region: DefaultRegion},
		{name: "access key and region", env: with(map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_REGION": "us-east-2"}), credentials: "AWS_ACCESS_KEY_ID", region: "us-east-2"},
		{name: "role and default region", env: with(map[string]string{"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci", "AWS_DEFAULT_REGION": "eu-central-1"}), credentials: "AWS_ROLE_ARN", region: "eu-central-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reason := SandboxFromEnv(func(k string) string { return tt.env[k] })
			if tt.skip != nil {
				if reason == "" {
					t.Fatalf("SandboxFromEnv(%v) gave no reason to skip", tt.env)
				}
				for _, want := range tt.skip {
					if !strings.Contains(reason, want) {
						t.Errorf("reason %q does not mention %q", reason, want)
					}
				}
				return
			}
			if reason != "" {
				t.Fatalf("SandboxFromEnv(%v) skips: %s", tt.env, reason)
			}
			if s.Credentials != tt.credentials || s.Region != tt.region {
				t.Errorf("got credentials %q region %q, want %q %q", s.Credentials, s.Region, tt.credentials, tt.region)
			}
			if s.ZoneID != "Z0123456789ABCDEFGHIJ" || s.Domain != "sandbox.example.com" {
				t.Errorf("got zone %q domain %q", s.ZoneID, s.Domain)
			}
			if got := s.Host("oneshot-t-ab12cd"); got != "oneshot-t-ab12cd.sandbox.example.com" {
				t.Errorf("Host = %q", got)
			}
		})
	}
}

func TestStackName(t *testing.T) {
	for _, suffix := range []string{"AbC123", "a", "0123456789abcdefghijklmnop", "abcdefghijklm-"} {
		name := StackName(suffix)
		if !strings.HasPrefix(name, "oneshot-t-") || len(name) > 24 || strings.HasSuffix(name, "-") || name != strings.ToLower(name) {
			t.Errorf("StackName(%q) = %q: want oneshot-t-<suffix>, lower case, at most 24 characters, not ending in a hyphen", suffix, name)
		}
		for _, env := range []string{"dev", "staging", "prod"} {
			if name == "oneshot-"+env {
				t.Errorf("StackName(%q) = %q, the name of a real environment", suffix, name)
			}
		}
	}
}

func TestCPUArchitecture(t *testing.T) {
	for goarch, want := range map[string]string{"amd64": "X86_64", "arm64": "ARM64"} {
		if got, err := CPUArchitecture(goarch); err != nil || got != want {
			t.Errorf("CPUArchitecture(%q) = %q, %v; want %q", goarch, got, err, want)
		}
	}
	if _, err := CPUArchitecture("riscv64"); err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("CPUArchitecture(riscv64) error = %v, want one naming the architecture", err)
	}
}
