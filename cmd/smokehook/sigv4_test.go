package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The worked example of AWS's Signature Version 4 documentation (IAM ListUsers).
func TestSignV4MatchesTheDocumentedExample(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds := credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	signV4(req, nil, creds, "us-east-1", "iam", time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))

	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date, " +
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization =\n%s\nwant\n%s", got, want)
	}
	if got := req.Header.Get("X-Amz-Date"); got != "20150830T123600Z" {
		t.Errorf("X-Amz-Date = %s", got)
	}
}

func TestSignV4SignsTheSessionTokenAndTarget(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "https://ecs.eu-west-1.amazonaws.com/", nil)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition")
	signV4(req, []byte(`{}`), credentials{"AKID", "secret", "session"}, "eu-west-1", "ecs", time.Unix(0, 0))
	auth := req.Header.Get("Authorization")
	if !strings.Contains(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,") {
		t.Errorf("Authorization = %s", auth)
	}
	if req.Header.Get("X-Amz-Security-Token") != "session" {
		t.Error("no session token header")
	}
	if !strings.Contains(auth, "Credential=AKID/19700101/eu-west-1/ecs/aws4_request") {
		t.Errorf("scope: %s", auth)
	}
}

func TestCanonicalQueryEncodesLikeAWS(t *testing.T) {
	q := url.Values{"b": {"2", "1"}, "a": {"x y"}, "c": {"~-_.*"}}
	if got, want := canonicalQuery(q), "a=x%20y&b=1&b=2&c=~-_.%2A"; got != want {
		t.Errorf("canonicalQuery = %s, want %s", got, want)
	}
}

func TestAWSErrorsAreReadable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`))
	}))
	defer srv.Close()
	c := &awsClient{http: srv.Client(), region: "eu-west-1", endpoint: func(string) string { return srv.URL }, now: time.Now}
	_, err := c.secretString(context.Background(), "missing")
	var ae *awsError
	if !errors.As(err, &ae) || ae.Type != "ResourceNotFoundException" || !strings.Contains(err.Error(), "can't find the specified secret") {
		t.Errorf("err = %v", err)
	}
}
