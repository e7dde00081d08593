package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/oneshot-run/oneshot/internal/store"
)

// TokenPrefix starts every API token, so a leaked one is easy to recognise (secret
// scanners, logs).
const TokenPrefix = "os_"

// NewToken makes a new API token: 32 random bytes, shown as TokenPrefix + base64url.
// Give the secret to the user once and store only the hash (store.CreateToken).
func NewToken() (secret string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret)
}

// HashToken is the hash stored for a token: SHA-256 of the whole secret. A token has
// 256 random bits, so a fast hash is enough; a slow one would only slow every request.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// principal is who made a request.
type principal struct {
	id   string // token id; "bootstrap" for the bootstrap token
	name string
}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey).(*principal)
	return p
}

// maxTokenLen bounds what is hashed and looked up; real tokens are 46 characters.
const maxTokenLen = 256

// authenticate finds the principal of r's bearer token: 401 without a token or with an
// unknown one, 403 for a revoked one.
func (s *server) authenticate(r *http.Request) (*principal, error) {
	secret, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		e := newError(http.StatusUnauthorized, codeUnauthorized,
			"this endpoint needs an API token: send the header \"Authorization: Bearer <token>\" (an operator creates tokens with oneshot token create --name NAME)")
		e.header = http.Header{"WWW-Authenticate": {`Bearer realm="oneshot"`}}
		return nil, e
	}
	unknown := func() error {
		e := newError(http.StatusUnauthorized, codeUnauthorized,
			"the API token is not valid: check that it was copied whole, or ask an operator for a new one (oneshot token create --name NAME)")
		e.header = http.Header{"WWW-Authenticate": {`Bearer realm="oneshot", error="invalid_token"`}}
		return e
	}
	if len(secret) > maxTokenLen {
		return nil, unknown()
	}
	hash := HashToken(secret)
	// Comparing hashes keeps the comparison constant-time in the length as well.
	if s.bootstrapHash != nil && subtle.ConstantTimeCompare(hash, s.bootstrapHash) == 1 {
		return &principal{id: "bootstrap", name: "bootstrap"}, nil
	}
	tok, err := s.store.TokenByHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unknown()
	}
	if err != nil {
		return nil, fmt.Errorf("look up API token: %w", err)
	}
	if tok.RevokedAt != nil {
		return nil, newError(http.StatusForbidden, codeForbidden,
			"the API token %q was revoked on %s: ask an operator for a new one (oneshot token create --name NAME)",
			tok.Name, tok.RevokedAt.UTC().Format(time.DateOnly))
	}
	return &principal{id: tok.ID, name: tok.Name}, nil
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header. The
// scheme is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
