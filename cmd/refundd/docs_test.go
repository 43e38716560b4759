package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docCommand is one curl line of a page, with the comment above it.
type docCommand struct {
	line, comment string
	at            int // line number in the page
}

// docCommands returns the curl lines of the page's ```sh blocks, with
// continuation lines joined.
func docCommands(t *testing.T, page string) []docCommand {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []docCommand
	var inSh bool
	var comment, pending string
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(line, "```"):
			inSh = !inSh && (line == "```sh" || line == "```bash")
			comment, pending = "", ""
			continue
		case !inSh:
			continue
		}
		if pending == "" {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		// A quoted body that spans lines goes on to its closing quote.
		if !strings.HasPrefix(pending+line, "#") && strings.Count(pending+line, "'")%2 == 1 {
			pending += line + "\n"
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "#") {
			comment = line
			continue
		}
		if strings.HasPrefix(line, "curl ") {
			out = append(out, docCommand{line: line, comment: comment, at: start})
		}
	}
	return out
}

var (
	demoURLRE    = regexp.MustCompile(`serving on (http://\S+) `)
	demoExportRE = regexp.MustCompile(`(?m)^\s*export (.+)$`)
	// A status a comment names: 4xx or 5xx, not the start of an amount
	// ("500.00 SAR").
	statusRE = regexp.MustCompile(`\b([45][0-9][0-9])\b(?:[^.0-9]|$)`)
)

// TestDocs_CurlLinesWork runs every curl line of README.md and docs/*.md
// with the real curl and bash, as a reader would paste them: each page
// against a fresh `refundd demo` (and a `refundd sandbox serve` for the
// lines that address one on port 8081), with the shell variables the demo
// prints, and the ids earlier lines answered (ORDER_ID, REFUND_ID, TOKEN,
// ENDPOINT_ID, VENDOR_A, VENDOR_B). A line whose comment names a status
// (`# ... 422 ...`) must answer it; every other line must answer 2xx.
func TestDocs_CurlLinesWork(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"../../README.md"}, pages...)
	total := 0
	for _, page := range pages {
		cmds := docCommands(t, page)
		total += len(cmds)
		if len(cmds) == 0 {
			continue
		}
		t.Run(filepath.Base(page), func(t *testing.T) {
			t.Parallel()
			runDocPage(t, page, cmds)
		})
	}
	t.Logf("%d curl lines in %d pages", total, len(pages))
	if total < 40 {
		t.Fatalf("the docs have only %d curl lines: the parser is missing them", total)
	}
}

func runDocPage(t *testing.T, page string, cmds []docCommand) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	out := &signalWriter{marker: "Press Ctrl-C", ready: make(chan struct{})}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "demo.db")}, out, io.Discard)
	}()
	select {
	case <-out.ready:
	case code := <-done:
		t.Fatalf("demo exited with %d: %s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}
	defer func() {
		cancel()
		<-done
	}()
	printed := out.String()
	m := demoURLRE.FindStringSubmatch(printed)
	ex := demoExportRE.FindStringSubmatch(printed)
	if m == nil || ex == nil {
		t.Fatalf("the demo printed no URL or no export line:\n%s", printed)
	}
	demoURL := m[1]
	vars := map[string]string{}
	for _, kv := range strings.Fields(ex[1]) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var sandboxURL string
	for _, c := range cmds {
		if strings.Contains(c.line, "127.0.0.1:8081") && sandboxURL == "" {
			sandboxURL = startSandboxService(t, ctx, dir)
		}
	}

	for _, c := range cmds {
		line := strings.NewReplacer("http://127.0.0.1:8080", demoURL, "http://localhost:8080", demoURL,
			"localhost:8080", demoURL, "http://127.0.0.1:8081", sandboxURL).Replace(c.line)
		// The status goes to stderr so stdout is the body, even when the
		// line redirects it to a file.
		sh := "curl() { command curl -sS -w '%{stderr}%{http_code}' \"$@\"; }\n" + line
		cmd := exec.CommandContext(ctx, "bash", "-c", sh)
		cmd.Dir = dir
		cmd.Env = os.Environ()
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		where := filepath.Base(page) + ":" + strconv.Itoa(c.at)
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: %s\n-> %v: %s", where, c.line, err, stderr.String())
			continue
		}
		status, _ := strconv.Atoi(strings.TrimSpace(stderr.String()))
		want := "2xx"
		if m := statusRE.FindStringSubmatch(c.comment); m != nil {
			want = m[1]
		}
		if (want == "2xx" && (status < 200 || status > 299)) || (want != "2xx" && strconv.Itoa(status) != want) {
			t.Errorf("%s: %s\n-> %d (want %s, from the comment %q): %s", where, c.line, status, want, c.comment, stdout.String())
			continue
		}
		learn(vars, stdout.Bytes())
	}
}

// learn keeps the ids a reply carries for the lines after it.
func learn(vars map[string]string, body []byte) {
	var reply map[string]any
	if json.Unmarshal(body, &reply) != nil {
		return
	}
	if id, _ := reply["id"].(string); strings.HasPrefix(id, "ord_") && reply["object"] == "order" {
		vars["ORDER_ID"] = id // an order the page just recorded
	} else if strings.HasPrefix(id, "re_") {
		vars["REFUND_ID"] = id
	} else if strings.HasPrefix(id, "we_") {
		vars["ENDPOINT_ID"] = id
	}
	if tok, _ := reply["id_token"].(string); tok != "" {
		vars["TOKEN"] = tok
	}
	if data, ok := reply["data"].(map[string]any); ok {
		if payload, ok := data["refundPayload"].([]any); ok && len(payload) == 2 {
			for i, name := range []string{"VENDOR_A", "VENDOR_B"} {
				if e, ok := payload[i].(map[string]any); ok {
					vars[name], _ = e["refundRequestId"].(string)
				}
			}
		}
	}
}

// startSandboxService runs `refundd sandbox serve` for the lines that talk
// to the acquirer service, and returns its URL.
func startSandboxService(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the service listens on it next; a clash fails the wait below
	go run(ctx, []string{"sandbox", "serve", "--addr", addr, "--db", "sqlite:" + filepath.Join(dir, "sandbox.db")}, io.Discard, io.Discard)
	u := "http://" + addr
	for range 100 {
		if res, err := http.Get(u + "/v1/sandbox/refunds"); err == nil {
			res.Body.Close()
			return u
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("the sandbox service did not start")
	return ""
}
