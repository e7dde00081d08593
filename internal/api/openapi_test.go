package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// openAPIDocument is the part of an OpenAPI 3.1 document the test checks.
type openAPIDocument struct {
	OpenAPI    string                                 `json:"openapi"`
	Info       struct{ Title, Version string }        `json:"info"`
	Security   []map[string][]string                  `json:"security"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Security    *[]map[string][]string     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		resp := h.request("GET", "/api/v1/openapi.json", nil)
		doc := decode[openAPIDocument](t, resp, 200)
		if !strings.HasPrefix(doc.OpenAPI, "3.1") || doc.Info.Title == "" || doc.Info.Version == "" {
			t.Errorf("openapi %q, info %+v", doc.OpenAPI, doc.Info)
		}
		if bearer := doc.Components.SecuritySchemes["bearerAuth"]; bearer.Type != "http" || bearer.Scheme != "bearer" {
			t.Errorf("bearerAuth scheme = %+v", bearer)
		}
		if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
			t.Errorf("the document does not require bearerAuth by default: %v", doc.Security)
		}

		s := &server{}
		served := map[string]bool{}
		for _, rt := range s.routes() {
			key := strings.ToLower(rt.method) + " " + rt.path
			served[key] = true
			op, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]
			if !ok {
				t.Errorf("%s %s is served but not documented", rt.method, rt.path)
				continue
			}
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: no operationId or summary", key)
			}
			if _, ok := op.Responses["200"]; !ok && rt.method == http.MethodGet {
				t.Errorf("%s: no 200 response", key)
			}
			if _, ok := op.Responses["405"]; !ok {
				t.Errorf("%s: the 405 response is not documented", key)
			}
			public := op.Security != nil && len(*op.Security) == 0
			if public != rt.public {
				t.Errorf("%s: documented public=%v, served public=%v", key, public, rt.public)
			}
			if !rt.public {
				for _, code := range []string{"401", "403"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("%s: the %s response is not documented", key, code)
					}
				}
			}
		}
		for path, ops := range doc.Paths {
			for method := range ops {
				if !served[method+" "+path] {
					t.Errorf("%s %s is documented but not served", method, path)
				}
			}
		}

		// Every error code the server can send is in the Error schema.
		var errSchema struct {
			Properties struct {
				Error struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"error"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(doc.Components.Schemas["Error"], &errSchema); err != nil {
			t.Fatal(err)
		}
		codes := []string{codeInvalidRequest, codeUnauthorized, codeForbidden, codeNotFound, codeConflict,
			codePayloadTooLarge, codeUnsupportedMediaType, codeMethodNotAllowed, codeInternal}
		got := errSchema.Properties.Error.Properties.Code.Enum
		sort.Strings(codes)
		sort.Strings(got)
		if !slices.Equal(got, codes) {
			t.Errorf("documented error codes %v, want %v", got, codes)
		}
	})
}

// TestOpenAPIRefsResolve checks that every $ref points at something in the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}

func resolves(doc any, ref string) bool {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := doc
	for _, part := range strings.Split(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestOpenAPITaskSchemaMatchesResponses checks that the documented Task lists exactly
// the keys a task response has.
func TestOpenAPITaskSchemaMatchesResponses(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x", "repo": {"url": "https://github.com/example/a"}}`)
		startRun(t, h, task.ID)
		resp := h.request("GET", "/api/v1/tasks/"+task.ID, nil)
		body := decode[map[string]json.RawMessage](t, resp, 200)
		check := func(schema string, obj map[string]json.RawMessage) {
			s := doc.Components.Schemas[schema]
			for k := range obj {
				if _, ok := s.Properties[k]; !ok {
					t.Errorf("%s has key %q that the schema does not document", schema, k)
				}
			}
			for _, k := range s.Required {
				if _, ok := obj[k]; !ok {
					t.Errorf("%s lacks required key %q", schema, k)
				}
			}
		}
		check("Task", body)
		var spec map[string]json.RawMessage
		json.Unmarshal(body["spec"], &spec)
		check("TaskSpec", spec)
		var its []map[string]json.RawMessage
		json.Unmarshal(body["iterations"], &its)
		if len(its) != 1 {
			t.Fatalf("iterations = %s", body["iterations"])
		}
		check("Iteration", its[0])
		var agent map[string]json.RawMessage
		json.Unmarshal(body["agent"], &agent)
		check("AgentProcess", agent)

		st := decode[map[string]json.RawMessage](t, h.request("GET", "/api/v1/status", nil), 200)
		check("Status", st)
	})
}
