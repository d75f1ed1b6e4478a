package ha

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Admin HTTP API, served by every node (NewAdminHandler) and called by
// `sluice cluster ...` (AdminClient):
//
//	GET  /cluster/status                      this node's Status
//	POST /cluster/voters  {"id":…,"addr":…}   AddVoter
//	POST /cluster/remove  {"id":…}            RemoveServer
//
// Membership changes must run on the leader. A follower answers them with
// 307 Temporary Redirect to the same path under the leader's admin URL,
// which the leader published in its LeaderRecord when it was elected (so
// every node must set Config.AdminURL); 307 makes clients repeat the POST
// with its body. With no leader, or none with a known URL, the answer is
// 503 with a Retry-After. Errors are JSON: {"error": "...", "leader_id": ...}.
//
// Writes (the POSTs) need "Authorization: Bearer <token>" with the
// cluster's admin token (401 without it or with another; 403 when the node
// has no token, so no write is possible) and "Content-Type:
// application/json" (415), checked in that order before the body is read.
// GET /cluster/status is open.
const (
	PathStatus = "/cluster/status"
	PathVoters = "/cluster/voters"
	PathRemove = "/cluster/remove"
)

// admin is what the handler needs of a node.
type admin interface {
	Status() Status
	AddVoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
}

var _ admin = (*Node)(nil)

// AddVoterRequest is the body of POST /cluster/voters.
type AddVoterRequest struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// RemoveServerRequest is the body of POST /cluster/remove.
type RemoveServerRequest struct {
	ID string `json:"id"`
}

// errorBody is every non-2xx answer's body.
type errorBody struct {
	Error          string `json:"error"`
	LeaderID       string `json:"leader_id,omitempty"`
	LeaderAdminURL string `json:"leader_admin_url,omitempty"`
}

const maxAdminBody = 64 << 10

// NewAdminHandler serves the admin API for n. Mount it on the node's HTTP
// server at "/cluster/". Writes need token as a bearer token; an empty
// token refuses every write.
func NewAdminHandler(n *Node, token string) http.Handler { return newAdminHandler(n, token) }

func newAdminHandler(a admin, token string) http.Handler {
	mux := http.NewServeMux()
	write := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if token == "" {
				writeJSON(w, http.StatusForbidden, errorBody{Error: "cluster changes are off on this node: set http.admin_token_file on every node, then send its token as a bearer token"})
				return
			}
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sluice cluster"`)
				writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or wrong bearer token (http.admin_token_file)"})
				return
			}
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Error: "Content-Type must be application/json"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Status())
	})
	mux.HandleFunc("POST "+PathVoters, write(func(w http.ResponseWriter, r *http.Request) {
		var req AddVoterRequest
		if !readJSON(w, r, &req) {
			return
		}
		answer(w, r, a, a.AddVoter(r.Context(), req.ID, req.Addr))
	}))
	mux.HandleFunc("POST "+PathRemove, write(func(w http.ResponseWriter, r *http.Request) {
		var req RemoveServerRequest
		if !readJSON(w, r, &req) {
			return
		}
		answer(w, r, a, a.RemoveServer(r.Context(), req.ID))
	}))
	return mux
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "decode request: " + err.Error()})
		return false
	}
	return true
}

// answer turns the result of a membership change into a response: 204, a
// redirect to the leader, or an error.
func answer(w http.ResponseWriter, r *http.Request, a admin, err error) {
	var nl *NotLeaderError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &nl):
		if nl.AdminURL == "" {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: err.Error(), LeaderID: nl.LeaderID})
			return
		}
		http.Redirect(w, r, strings.TrimSuffix(nl.AdminURL, "/")+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	case errors.Is(err, ErrUnknownServer):
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
	case errors.Is(err, ErrInvalidServer):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	default:
		s := a.Status()
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error(), LeaderID: s.LeaderID, LeaderAdminURL: s.LeaderAdminURL})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// AdminClient calls a node's admin API. Membership changes sent to a
// follower are redirected to the leader; the client follows (net/http
// repeats a 307 POST with its body).
type AdminClient struct {
	base  string
	hc    *http.Client
	token string
}

// NewAdminClient calls the node at baseURL (e.g. http://10.0.0.2:9100)
// with the admin token (empty: status only). A nil hc means a client with
// a 30 s timeout.
func NewAdminClient(baseURL, token string, hc *http.Client) *AdminClient {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := *hc
	// net/http drops Authorization on a redirect to another host; the
	// leader every node redirects to holds the same token.
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if a := via[0].Header.Get("Authorization"); a != "" {
			req.Header.Set("Authorization", a)
		}
		return nil
	}
	return &AdminClient{base: strings.TrimSuffix(baseURL, "/"), hc: &c, token: token}
}

// Status is the node's view of the cluster.
func (c *AdminClient) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, PathStatus, nil, &s)
	return s, err
}

// AddVoter asks the leader to add a voter.
func (c *AdminClient) AddVoter(ctx context.Context, id, addr string) error {
	return c.do(ctx, http.MethodPost, PathVoters, AddVoterRequest{ID: id, Addr: addr}, nil)
}

// RemoveServer asks the leader to remove a member.
func (c *AdminClient) RemoveServer(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, PathRemove, RemoveServerRequest{ID: id}, nil)
}

func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b) // NewRequest sets GetBody, so redirects resend it
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" && method != http.MethodGet {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	where := fmt.Sprintf("%s %s", method, resp.Request.URL)
	if resp.StatusCode/100 != 2 {
		var e errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s: %s: %s", where, resp.Status, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: decode response: %w", where, err)
	}
	return nil
}
