package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// credentials are the AWS credentials Lambda hands the function in its environment.
type credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// signV4 adds AWS Signature Version 4 headers to req. It signs host, x-amz-date,
// content-type and every x-amz-* header present, over the given body.
func signV4(req *http.Request, body []byte, creds credentials, region, service string, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	day := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}

	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if lower == "content-type" || strings.HasPrefix(lower, "x-amz-") {
			headers[lower] = strings.Join(strings.Fields(strings.Join(values, ",")), " ")
		}
	}
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)
	var canonicalHeaders strings.Builder
	for _, name := range names {
		canonicalHeaders.WriteString(name + ":" + headers[name] + "\n")
	}
	signedHeaders := strings.Join(names, ";")

	payloadHash := sha256.Sum256(body)
	canonicalRequest := strings.Join([]string{
		req.Method,
		canonicalPath(req.URL.EscapedPath()),
		canonicalQuery(req.URL.Query()),
		canonicalHeaders.String(),
		signedHeaders,
		hex.EncodeToString(payloadHash[:]),
	}, "\n")

	scope := day + "/" + region + "/" + service + "/aws4_request"
	requestHash := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(requestHash[:])

	key := hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	signature := hex.EncodeToString(hmacSHA256(key, stringToSign))

	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+signature)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// canonicalQuery sorts by key then value and encodes per RFC 3986 (spaces as %20, not +).
func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		values := append([]string(nil), q[k]...)
		sort.Strings(values)
		for _, v := range values {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// awsClient calls AWS JSON-protocol APIs (ECS, Secrets Manager) with SigV4.
type awsClient struct {
	http   *http.Client
	creds  credentials
	region string
	// endpoint returns the base URL of a service; the default is the regional public
	// endpoint. Tests point it at httptest servers.
	endpoint func(service string) string
	now      func() time.Time
}

func regionalEndpoint(region string) func(string) string {
	return func(service string) string { return "https://" + service + "." + region + ".amazonaws.com" }
}

// awsError is an error answer of an AWS JSON API.
type awsError struct {
	Status  int
	Type    string
	Message string
}

func (e *awsError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Type, e.Status, e.Message)
}

// call POSTs in to service's target operation and decodes the answer into out.
func (c *awsClient) call(ctx context.Context, service, target string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(service)+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	signV4(req, body, c.creds, c.region, service, c.now())
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		_ = json.Unmarshal(data, &e)
		msg := e.Message
		if msg == "" {
			msg = e.Message2
		}
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		typ := e.Type
		if i := strings.LastIndexByte(typ, '#'); i >= 0 {
			typ = typ[i+1:]
		}
		return fmt.Errorf("%s: %w", target, &awsError{Status: resp.StatusCode, Type: typ, Message: msg})
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", target, err)
	}
	return nil
}

// secretString reads a Secrets Manager secret's string value.
func (c *awsClient) secretString(ctx context.Context, secretID string) (string, error) {
	var out struct {
		SecretString *string `json:"SecretString"`
	}
	if err := c.call(ctx, "secretsmanager", "secretsmanager.GetSecretValue", map[string]string{"SecretId": secretID}, &out); err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s has no string value: store the token as a plain string", secretID)
	}
	return *out.SecretString, nil
}

const ecsTarget = "AmazonEC2ContainerServiceV20141113."

// containerLabels returns the docker labels of one container of the task definition a
// service revision runs.
func (c *awsClient) containerLabels(ctx context.Context, serviceRevisionARN, container string) (taskDefinition string, labels map[string]string, err error) {
	var revs struct {
		ServiceRevisions []struct {
			TaskDefinition string `json:"taskDefinition"`
		} `json:"serviceRevisions"`
		Failures []struct {
			Arn    string `json:"arn"`
			Reason string `json:"reason"`
		} `json:"failures"`
	}
	if err := c.call(ctx, "ecs", ecsTarget+"DescribeServiceRevisions", map[string][]string{"serviceRevisionArns": {serviceRevisionARN}}, &revs); err != nil {
		return "", nil, err
	}
	if len(revs.ServiceRevisions) == 0 {
		reason := "not found"
		if len(revs.Failures) > 0 {
			reason = revs.Failures[0].Reason
		}
		return "", nil, fmt.Errorf("service revision %s: %s", serviceRevisionARN, reason)
	}
	taskDefinition = revs.ServiceRevisions[0].TaskDefinition

	var td struct {
		TaskDefinition struct {
			ContainerDefinitions []struct {
				Name         string            `json:"name"`
				DockerLabels map[string]string `json:"dockerLabels"`
			} `json:"containerDefinitions"`
		} `json:"taskDefinition"`
	}
	if err := c.call(ctx, "ecs", ecsTarget+"DescribeTaskDefinition", map[string]string{"taskDefinition": taskDefinition}, &td); err != nil {
		return taskDefinition, nil, err
	}
	for _, cd := range td.TaskDefinition.ContainerDefinitions {
		if cd.Name == container {
			return taskDefinition, cd.DockerLabels, nil
		}
	}
	return taskDefinition, nil, errors.New("task definition " + taskDefinition + " has no container named " + container + " (set SMOKE_CONTAINER_NAME)")
}
