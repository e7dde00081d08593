//go:build terratest

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/gruntwork-io/terratest/modules/aws"
	"github.com/gruntwork-io/terratest/modules/docker"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/gruntwork-io/terratest/modules/terraform"
	teststructure "github.com/gruntwork-io/terratest/modules/test-structure"
)

// TestDevStack applies infra/envs/dev, with its committed terraform.tfvars, as a
// throw-away stack in a sandbox account, uses it, and destroys it. What differs from the
// real dev environment is only what a throw-away copy needs: a unique name and repository
// namespace, local state, no delivery pipeline (the test deploys by hand), tasks on this
// machine's CPU architecture (it builds the images for that one only), a profile whose
// agents are shell commands (no LLM keys), and nothing that outlives the destroy.
//
// Needs: AWS credentials of a sandbox account (administrator), a public Route 53 zone
// there (ONESHOT_TEST_ROUTE53_ZONE_ID, ONESHOT_TEST_DOMAIN), Docker with buildx, and
// about an hour: go test -tags terratest -timeout 120m -run TestDevStack ./...
//
// One run per account at a time: the SSM parameters and secrets of a stack are named after
// its environment (/oneshot/dev/..., oneshot/dev/...), which two dev stacks would share.
func TestDevStack(t *testing.T) {
	sandbox, reason := SandboxFromEnv(os.Getenv)
	if reason != "" {
		t.Skip(reason)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not on PATH: the test builds the service images and pushes them to the stack's repositories")
	}
	arch, err := CPUArchitecture(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}

	name := StackName(random.UniqueId())
	host := sandbox.Host(name)
	tag := "terratest-" + strings.TrimPrefix(name, "oneshot-t-")
	token := "os_terratest_" + randomHex(t, 24)
	t.Logf("stack %s in %s, API at https://%s", name, sandbox.Region, host)

	repoRoot, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	devRoot := teststructure.CopyTerraformFolderToTemp(t, "..", filepath.Join("envs", "dev"))
	writeThrowAwayOverrides(t, devRoot, name)
	overrides := writeThrowAwayVars(t, devRoot, sandbox, host, arch, aws.GetAccountId(t))

	options := terraform.WithDefaultRetryableErrors(t, &terraform.Options{
		TerraformDir: devRoot,
		// terraform.tfvars is not copied; the committed one comes first, the test's
		// changes after it win.
		VarFiles: []string{filepath.Join(repoRoot, "infra", "envs", "dev", "terraform.tfvars"), overrides},
		Vars:     map[string]interface{}{"image_tag": tag},
		EnvVars:  map[string]string{"AWS_REGION": sandbox.Region},
		NoColor:  true,
	})
	defer terraform.Destroy(t, options)

	// 1. The repositories and the secret containers first: the images must be pushed and
	// the secrets set before a task can start.
	first := *options
	first.Targets = []string{"module.stack.module.artifacts", "module.stack.module.config"}
	terraform.InitAndApply(t, &first)

	aws.PutSecretString(t, sandbox.Region, "oneshot/dev/bootstrap-token", token)
	for _, secret := range []string{"openai-api-key", "anthropic-api-key", "smoke-test-token"} {
		aws.PutSecretString(t, sandbox.Region, "oneshot/dev/"+secret, "unused-by-the-terratest-profile")
	}

	images := map[string]string{ // target in the Dockerfile => repository short name
		"oneshot": "oneshot",
		"agents":  "oneshot-agents",
	}
	for target, repository := range images {
		repo := aws.GetECRRepo(t, sandbox.Region, name+"/"+repository)
		dockerLogin(t, sandbox.Region, awssdk.ToString(repo.RepositoryUri))
		docker.Build(t, repoRoot, &docker.BuildOptions{
			Tags:           []string{awssdk.ToString(repo.RepositoryUri) + ":" + tag},
			Target:         target,
			BuildArgs:      []string{"VERSION=" + tag},
			Architectures:  []string{"linux/" + runtime.GOARCH},
			Push:           true,
			EnableBuildKit: true,
		})
	}

	// 2. The database and the migrate task definition, then the schema: the api and the
	// worker refuse to start on a database without it.
	migrate := *options
	migrate.Targets = []string{`module.stack.module.service["migrate"]`}
	terraform.Apply(t, &migrate)
	cluster := terraform.Output(t, options, "cluster_name")
	var network struct {
		Subnets        []string `json:"subnets"`
		SecurityGroups []string `json:"security_groups"`
	}
	terraform.OutputStruct(t, options, "migrate_network_configuration", &network)
	runMigrate(t, sandbox.Region, cluster, name+"-migrate", network.Subnets, network.SecurityGroups)

	// 3. Everything else.
	terraform.Apply(t, options)
	albDNS := terraform.Output(t, options, "alb_dns_name")
	services := terraform.OutputMap(t, options, "service_names")
	api := newAPIClient(albDNS, host, token)

	// 4. The API is ready through the load balancer (HTTPS with the ACM certificate).
	retry.DoWithRetry(t, "GET /readyz through the ALB", 60, 15*time.Second, func() (string, error) {
		return "ready", api.ready()
	})

	// 5. A task goes through the queue to a worker that scales up from zero, and completes.
	id, err := api.createTask("Write hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	var state string
	retry.DoWithRetry(t, "task "+id+" finishes", 80, 15*time.Second, func() (string, error) {
		state, err = api.taskState(id)
		if err != nil {
			return "", err
		}
		if !finalStates[state] {
			return "", fmt.Errorf("task %s is %s", id, state)
		}
		return state, nil
	})
	if state != "completed" {
		t.Fatalf("task %s ended %s, want completed (GET /api/v1/tasks/%s has the error)", id, state, id)
	}

	// 6. A release whose image cannot start rolls back by itself, and production traffic
	// never notices.
	checkBadImageRollsBack(t, sandbox.Region, cluster, services["api"], api)
}

var finalStates = map[string]bool{"completed": true, "rejected": true, "failed": true, "cancelled": true, "interrupted": true}

// writeThrowAwayOverrides adds an override file to the copied root: local state instead of
// the S3 backend, and the names of the stack's resources.
func writeThrowAwayOverrides(t *testing.T, root, name string) {
	t.Helper()
	override := fmt.Sprintf(`terraform {
  backend "local" {}
}

module "stack" {
  name                 = %q
  repository_namespace = %q
}
`, name, name)
	if err := os.WriteFile(filepath.Join(root, "terratest_override.tf"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeThrowAwayVars writes the test's settings as a JSON var file (they hold multi-line
// strings, which -var cannot carry) and returns its path.
func writeThrowAwayVars(t *testing.T, root string, sandbox Sandbox, host, arch, account string) string {
	t.Helper()
	// Both agents are shell commands in the worker image: the worker answers, the auditor
	// says DONE. No LLM is called.
	profiles := strings.Join([]string{
		"profiles:",
		"  default:",
		`    worker: {executor: command, command: [sh, -c, "cat >/dev/null; echo hello from the terratest worker"]}`,
		`    auditor: {executor: command, command: [sh, -c, "cat >/dev/null; echo '{\"verdict\": \"DONE\", \"feedback\": \"done\"}'"]}`,
		"    max_iterations: 1",
		"",
	}, "\n")
	vars := map[string]any{
		"region":              sandbox.Region,
		"allowed_account_ids": []string{account},
		"domain":              map[string]any{"name": host, "route53_zone_id": sandbox.ZoneID},
		"app_config":          map[string]any{"profiles_yaml": profiles, "max_iterations_cap": 2},
		"services": map[string]any{
			"api":     map[string]any{"cpu": 256, "memory": 512, "cpu_architecture": arch, "min_capacity": 1, "max_capacity": 2},
			"worker":  map[string]any{"cpu": 1024, "memory": 2048, "cpu_architecture": arch, "min_capacity": 0, "max_capacity": 2, "ephemeral_storage_gib": 30},
			"migrate": map[string]any{"cpu": 256, "memory": 512, "cpu_architecture": arch},
		},
		"off_hours_schedule":    nil, // the run must not be scaled to zero halfway
		"pipeline":              map[string]any{"enabled": false},
		"budget":                map[string]any{"monthly_limit": 100, "activate_cost_allocation_tag": false},
		"owns_shared_resources": true, // its own repositories, under its namespace
		"force_destroy":         true,
		"alarm_emails":          []string{},
	}
	data, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "terratest.tfvars.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// dockerLogin logs the local Docker in to the registry of repositoryURI with a token from
// ECR.
func dockerLogin(t *testing.T, region, repositoryURI string) {
	t.Helper()
	client := aws.NewECRClient(t, region)
	out, err := client.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) == 0 {
		t.Fatalf("get an ECR authorization token: %v", err)
	}
	decoded, err := base64.StdEncoding.DecodeString(awssdk.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		t.Fatalf("decode the ECR authorization token: %v", err)
	}
	_, password, _ := strings.Cut(string(decoded), ":")
	registry, _, _ := strings.Cut(repositoryURI, "/")
	cmd := exec.Command("docker", "login", "--username", "AWS", "--password-stdin", registry)
	cmd.Stdin = strings.NewReader(password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker login %s: %v\n%s", registry, err, out)
	}
}

// apiClient talks to the stack's API through its load balancer. It connects to the ALB's
// own DNS name and presents the API's host name for TLS, so the test does not wait for the
// new DNS record to propagate.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(albDNS, host, token string) *apiClient {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(albDNS, port))
		},
		TLSClientConfig: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12},
	}
	return &apiClient{base: "https://" + host, token: token, http: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
}

func (c *apiClient) do(method, path string, body any, want int, into any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		return err
	}
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if into != nil {
		if err := json.Unmarshal(data, into); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func (c *apiClient) ready() error {
	return c.do(http.MethodGet, "/readyz", nil, http.StatusOK, nil)
}

func (c *apiClient) createTask(prompt string) (string, error) {
	var task struct {
		ID string `json:"id"`
	}
	err := c.do(http.MethodPost, "/api/v1/tasks", map[string]any{"prompt": prompt, "profile": "default", "max_iterations": 1}, http.StatusCreated, &task)
	if err == nil && task.ID == "" {
		err = fmt.Errorf("POST /api/v1/tasks answered without a task id")
	}
	return task.ID, err
}

func (c *apiClient) taskState(id string) (string, error) {
	var task struct {
		State string `json:"state"`
	}
	err := c.do(http.MethodGet, "/api/v1/tasks/"+id, nil, http.StatusOK, &task)
	return task.State, err
}

// runMigrate runs the migrate task definition's latest revision once, as the pipeline
// does before a release, and fails the test unless it exits 0.
func runMigrate(t *testing.T, region, cluster, family string, subnets, securityGroups []string) {
	t.Helper()
	ctx := context.Background()
	client := aws.NewEcsClient(t, region)
	out, err := client.RunTask(ctx, &ecs.RunTaskInput{
		Cluster:        awssdk.String(cluster),
		TaskDefinition: awssdk.String(family),
		CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{
			{CapacityProvider: awssdk.String("FARGATE"), Weight: 1},
		},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: subnets, SecurityGroups: securityGroups, AssignPublicIp: ecstypes.AssignPublicIpDisabled,
		}},
		StartedBy: awssdk.String("terratest-migrate"),
	})
	if err != nil || len(out.Tasks) == 0 {
		t.Fatalf("run %s: %v %v", family, err, out)
	}
	task := awssdk.ToString(out.Tasks[0].TaskArn)
	describe := &ecs.DescribeTasksInput{Cluster: awssdk.String(cluster), Tasks: []string{task}}
	if err := ecs.NewTasksStoppedWaiter(client).Wait(ctx, describe, 20*time.Minute); err != nil {
		t.Fatalf("wait for %s to stop: %v", task, err)
	}
	stopped, err := client.DescribeTasks(ctx, describe)
	if err != nil || len(stopped.Tasks) == 0 || len(stopped.Tasks[0].Containers) == 0 {
		t.Fatalf("describe %s: %v", task, err)
	}
	c := stopped.Tasks[0].Containers[0]
	if c.ExitCode == nil || *c.ExitCode != 0 {
		code := "none"
		if c.ExitCode != nil {
			code = fmt.Sprint(*c.ExitCode)
		}
		t.Fatalf("%s stopped with exit code %s (%s; %s): its log is in /ecs/%s", family, code,
			awssdk.ToString(c.Reason), awssdk.ToString(stopped.Tasks[0].StoppedReason), strings.TrimSuffix(family, "-migrate")+"/migrate")
	}
}

// checkBadImageRollsBack registers a revision of the api whose image does not exist,
// deploys it, and expects ECS to roll the blue/green deployment back while the API keeps
// answering through the production listener.
func checkBadImageRollsBack(t *testing.T, region, cluster, service string, api *apiClient) {
	t.Helper()
	ctx := context.Background()
	client := aws.NewEcsClient(t, region)

	current := aws.GetEcsService(t, region, cluster, service)
	good := awssdk.ToString(current.TaskDefinition)
	td := aws.GetEcsTaskDefinition(t, region, good)

	containers := make([]ecstypes.ContainerDefinition, len(td.ContainerDefinitions))
	copy(containers, td.ContainerDefinitions)
	for i := range containers {
		image := awssdk.ToString(containers[i].Image)
		repository, _, _ := strings.Cut(image, "@")
		if i := strings.LastIndex(repository, ":"); i > strings.LastIndex(repository, "/") {
			repository = repository[:i]
		}
		containers[i].Image = awssdk.String(repository + ":no-such-image")
	}
	registered, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  td.Family,
		ContainerDefinitions:    containers,
		Cpu:                     td.Cpu,
		Memory:                  td.Memory,
		NetworkMode:             td.NetworkMode,
		RequiresCompatibilities: td.RequiresCompatibilities,
		ExecutionRoleArn:        td.ExecutionRoleArn,
		TaskRoleArn:             td.TaskRoleArn,
		RuntimePlatform:         td.RuntimePlatform,
		EphemeralStorage:        td.EphemeralStorage,
		Volumes:                 td.Volumes,
	})
	if err != nil {
		t.Fatalf("register a revision with a bad image: %v", err)
	}
	bad := awssdk.ToString(registered.TaskDefinition.TaskDefinitionArn)

	started := time.Now().Add(-time.Minute)
	if _, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: awssdk.String(cluster), Service: awssdk.String(service), TaskDefinition: awssdk.String(bad),
	}); err != nil {
		t.Fatalf("deploy %s: %v", bad, err)
	}

	readyFailures := 0
	status := retry.DoWithRetry(t, "the bad deployment of "+service+" rolls back", 80, 15*time.Second, func() (string, error) {
		if err := api.ready(); err != nil {
			readyFailures++
			t.Logf("production listener during the bad deployment: %v", err)
		}
		list, err := client.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
			Cluster: awssdk.String(cluster), Service: awssdk.String(service),
			CreatedAt: &ecstypes.CreatedAt{After: awssdk.Time(started)},
		})
		if err != nil {
			return "", err
		}
		for _, d := range list.ServiceDeployments {
			switch d.Status {
			case ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed:
				return string(d.Status), nil
			}
		}
		return "", fmt.Errorf("the deployment of %s has not finished", bad)
	})
	if status != string(ecstypes.ServiceDeploymentStatusRollbackSuccessful) {
		t.Fatalf("the deployment of a bad image ended %s, want %s", status, ecstypes.ServiceDeploymentStatusRollbackSuccessful)
	}
	if now := awssdk.ToString(aws.GetEcsService(t, region, cluster, service).TaskDefinition); now != good {
		t.Errorf("after the rollback %s runs %s, want %s", service, now, good)
	}
	if readyFailures > 0 {
		t.Errorf("/readyz failed %d times through the production listener during the bad deployment; the old tasks should have kept serving", readyFailures)
	}
	if err := api.ready(); err != nil {
		t.Errorf("after the rollback: %v", err)
	}
}
