package render

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"
)

//go:embed report.html
var htmlTemplate string

// HTML writes one self-contained page: the report data as a JSON blob and the
// script that renders it into inline SVG (a truth-against-engine chart per
// job with one point per window, a latency histogram and a latency time
// series) and tables. It loads nothing from the network.
func HTML(w io.Writer, doc Document) error {
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	// json escapes <, > and & by default, so the blob cannot close its
	// script element.
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode html report data: %w", err)
	}
	page := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString("boontadata comparator · run "+doc.RunID),
		"{{DATA}}", strings.TrimSpace(data.String()),
	).Replace(htmlTemplate)
	if _, err := io.WriteString(w, page); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}
