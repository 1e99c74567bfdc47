// Package client talks to the aggregator-master's HTTP API and writes its
// answers for people: what the submit, list, status and cancel subcommands use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// maxAnswerBytes bounds an answer of the master.
const maxAnswerBytes = 32 << 20

// StatusError is an answer of the master that is not 2xx.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("master answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Client calls one master.
type Client struct {
	base  *url.URL
	http  *http.Client
	token string
}

// New returns a client of the master at baseURL, e.g. http://127.0.0.1:8090.
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("master url %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("master url %q: want http://host:port", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, http: hc}, nil
}

// WithToken returns the client sending token as its bearer token on every
// request (the master's --api-token); an empty token sends none.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
// It returns the raw body and the status code.
func (c *Client) do(ctx context.Context, method, path string, body any, out any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	if body != nil || method != http.MethodGet {
		// Also without a body: the master refuses writes of another type.
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("call the master at %s (is 'aggregator-master serve' running? see --master-url): %w", c.base, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below; nothing else to do
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("read the master's answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e api.Error
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return raw, resp.StatusCode, &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, resp.StatusCode, fmt.Errorf("decode the master's answer: %w", err)
		}
	}
	return raw, resp.StatusCode, nil
}

// Submit sends a job; created is false when the same job already existed.
func (c *Client) Submit(ctx context.Context, s job.Spec) (stored job.Spec, created bool, err error) {
	_, code, err := c.do(ctx, http.MethodPost, api.JobsPath, s, &stored)
	return stored, code == http.StatusCreated, err
}

// List returns every job with its progress.
func (c *Client) List(ctx context.Context) ([]api.Job, error) {
	var out api.Jobs
	_, _, err := c.do(ctx, http.MethodGet, api.JobsPath, nil, &out)
	return out.Jobs, err
}

// Status returns one job in detail, and the raw JSON answer.
func (c *Client) Status(ctx context.Context, id string) (api.JobDetail, []byte, error) {
	var out api.JobDetail
	raw, _, err := c.do(ctx, http.MethodGet, api.JobPath(url.PathEscape(id)), nil, &out)
	return out, raw, err
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (job.Spec, error) {
	var out job.Spec
	_, _, err := c.do(ctx, http.MethodPost, api.CancelPath(url.PathEscape(id)), nil, &out)
	return out, err
}

// Presets returns the preset table.
func (c *Client) Presets(ctx context.Context) ([]api.Semantics, error) {
	var out api.Presets
	_, _, err := c.do(ctx, http.MethodGet, api.PresetsPath, nil, &out)
	return out.Presets, err
}

// IsNotFound reports whether err is a 404 of the master.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}
