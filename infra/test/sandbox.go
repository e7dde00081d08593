// Package test runs the dev environment's Terraform against a real AWS sandbox account and
// checks that Oneshot works there: the API answers through the load balancer, a task runs to
// completion on a worker, and a release with a broken image rolls back on its own.
//
// The end-to-end test is behind the build tag terratest (it creates and destroys billed
// resources for about an hour); see README.md. Without credentials it skips and says why.
package test

import (
	"fmt"
	"strings"
)

// CredentialVariables are the environment variables that tell the test AWS credentials are
// configured for it. Any one is enough; the AWS SDK and Terraform resolve the rest.
var CredentialVariables = []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN"}

// DefaultRegion is used when neither AWS_REGION nor AWS_DEFAULT_REGION is set.
const DefaultRegion = "eu-west-1"

// Sandbox is where the end-to-end test may create the stack.
type Sandbox struct {
	// Credentials names the variable the credentials were found through.
	Credentials string
	// Region is the AWS region of the stack.
	Region string
	// ZoneID is a public Route 53 hosted zone the test may add records to: the stack
	// validates its certificate and publishes the API's name there.
	ZoneID string
	// Domain is the zone's domain; the API gets the name <stack name>.<Domain>.
	Domain string
}

// SandboxFromEnv reads the sandbox from the environment. When the test cannot run, the
// second result says why and what to set; it is empty otherwise.
func SandboxFromEnv(getenv func(string) string) (Sandbox, string) {
	var s Sandbox
	for _, name := range CredentialVariables {
		if strings.TrimSpace(getenv(name)) != "" {
			s.Credentials = name
			break
		}
	}
	if s.Credentials == "" {
		return s, fmt.Sprintf("no AWS credentials: set one of %s for a sandbox account to run the end-to-end test of the dev stack (it creates and destroys real, billed resources)",
			strings.Join(CredentialVariables, ", "))
	}

	s.Region = firstNonEmpty(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), DefaultRegion)
	s.ZoneID = strings.TrimSpace(getenv("ONESHOT_TEST_ROUTE53_ZONE_ID"))
	s.Domain = strings.TrimSuffix(strings.TrimSpace(getenv("ONESHOT_TEST_DOMAIN")), ".")
	var missing []string
	if s.ZoneID == "" {
		missing = append(missing, "ONESHOT_TEST_ROUTE53_ZONE_ID")
	}
	if s.Domain == "" {
		missing = append(missing, "ONESHOT_TEST_DOMAIN")
	}
	if len(missing) > 0 {
		return s, fmt.Sprintf("the stack needs a public Route 53 zone of the sandbox account for its certificate and DNS name: set %s (the zone's ID and its domain, e.g. Z0123456789ABCDEFGHIJ and sandbox.example.com)",
			strings.Join(missing, " and "))
	}
	return s, ""
}

// Host is the API's host name for a stack called name.
func (s Sandbox) Host(name string) string {
	return name + "." + s.Domain
}

// StackName is the name of a throw-away stack: unique per run (suffix), within the
// 24 characters the modules allow, and never "oneshot-<env>", the name of a real
// environment.
func StackName(suffix string) string {
	name := "oneshot-t-" + strings.ToLower(suffix)
	if len(name) > 24 {
		name = name[:24]
	}
	return strings.TrimRight(name, "-")
}

// CPUArchitecture is the ECS name of a Go architecture: the test builds the images for the
// machine it runs on only, and runs the tasks on that architecture.
func CPUArchitecture(goarch string) (string, error) {
	switch goarch {
	case "amd64":
		return "X86_64", nil
	case "arm64":
		return "ARM64", nil
	}
	return "", fmt.Errorf("Fargate runs X86_64 and ARM64 tasks only; this machine is %s: run the test on amd64 or arm64", goarch)
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
