//go:build ignore

// Command healthcheck is the probe of the container images: the final images
// are distroless (no shell, no curl), so Docker and compose healthchecks run
// this instead. It GETs each URL given and exits 0 only when every answer is
// 2xx within the timeout.
//
//	healthcheck http://127.0.0.1:8090/readyz
//
// Built by deploy/docker/Dockerfile with
// `GOWORK=off go build deploy/docker/healthcheck.go` (standard library only).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck URL...")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, url := range os.Args[1:] {
		if err := probe(ctx, url); err != nil {
			fmt.Fprintf(os.Stderr, "healthcheck: %s: %v\n", url, err)
			os.Exit(1)
		}
	}
}

func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
