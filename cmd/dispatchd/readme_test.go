package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeCommand is one command of a README shell block and the statuses
// the README shows for it ("# HTTP/1.1 200 OK" under it).
type readmeCommand struct {
	text       string
	wantStatus []string
}

// readmeCurlBlocks returns the ```sh blocks of README.md that curl the HTTP
// gateway, as commands (continuation lines joined).
func readmeCurlBlocks(t *testing.T) [][]readmeCommand {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]readmeCommand
	var block []readmeCommand
	in, pending := false, ""
	for line := range strings.SplitSeq(string(b), "\n") {
		switch {
		case !in && line == "```sh":
			in, block = true, nil
			continue
		case in && line == "```":
			in = false
			for _, c := range block {
				if strings.Contains(c.text, "curl ") && strings.Contains(c.text, "127.0.0.1:8080") {
					blocks = append(blocks, block)
					break
				}
			}
			continue
		case !in:
			continue
		}
		if status, ok := strings.CutPrefix(line, "# HTTP/1.1 "); ok && len(block) > 0 {
			last := &block[len(block)-1]
			last.wantStatus = append(last.wantStatus, "HTTP/1.1 "+status)
			continue
		}
		if trimmed := strings.TrimSpace(line); trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont
			continue
		}
		block = append(block, readmeCommand{text: pending + line})
		pending = ""
	}
	return blocks
}

// placeholder is an id the README elides ("job_…", "disp_k1_…"): the test
// puts in the last one an earlier command printed.
var placeholder = regexp.MustCompile(`\b([a-z][a-z0-9]*_(?:k1_)?)…`)

// TestREADMECommands runs the README's curl blocks (and the keys create
// among them) against dispatchd started as `make run` starts it: the
// example configuration, SQLite under ./data of the working directory,
// loopback deliveries allowed. Every status the README shows must be the
// one the server answers.
func TestREADMECommands(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for _, tool := range []string{"curl", "openssl", "od", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's commands need %s: %v", tool, err)
		}
	}
	blocks := readmeCurlBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("found %d curl blocks in README.md, want the quickstart's and the API's", len(blocks))
	}
	config, err := filepath.Abs("../../examples/dispatchd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()

	// make run: the example file, the default database, loopback allowed.
	cmd := exec.Command(os.Args[0], "serve", "--config", config)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "DISPATCHD_TEST_AS_MAIN=1",
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8,::1/128",
		"DISPATCHD_HTTP_ADDR=127.0.0.1:0", "DISPATCHD_GRPC_ADDR=127.0.0.1:0", "DISPATCHD_LOG_FORMAT=json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "dispatchd listening" {
				listening <- fmt.Sprint(line["http_addr"])
			}
		}
	}()
	var addr string
	select {
	case addr = <-listening:
	case <-time.After(30 * time.Second):
		t.Fatal("dispatchd did not start within 30 s")
	}

	out := filepath.Join(work, "all-output.txt")
	prelude := fmt.Sprintf(`set -euo pipefail
dispatchd() { DISPATCHD_TEST_AS_MAIN=1 %q "$@"; }
last() { grep -o "$1[0-9A-Za-z]*" %q | tail -n 1; }
`, os.Args[0], out)
	n := 0
	for _, block := range blocks {
		var script strings.Builder
		script.WriteString(prelude)
		var ran []readmeCommand
		for _, c := range block {
			text := strings.ReplaceAll(c.text, "127.0.0.1:8080", addr)
			text = strings.ReplaceAll(text, "go run ./cmd/dispatchd ", "dispatchd ")
			text = placeholder.ReplaceAllString(text, `$$(last $1)`)
			if strings.HasPrefix(text, "make ") {
				continue // make run is the server above
			}
			if regexp.MustCompile(`^(export )?[A-Za-z_][A-Za-z0-9_]*=`).MatchString(text) && !strings.Contains(text, "curl ") {
				script.WriteString(text + "\n") // assignments stay in this shell
				continue
			}
			n++
			file := filepath.Join(work, fmt.Sprintf("cmd%d.txt", n))
			fmt.Fprintf(&script, "{ %s\n} >%q 2>%q.err || { cat %q %q.err; exit 1; }\ncat %q >>%q\n", text, file, file, file, file, file, out)
			ran = append(ran, readmeCommand{text: file, wantStatus: c.wantStatus})
			t.Logf("README: %s", text)
		}
		run := exec.Command("bash", "-c", script.String())
		run.Dir = work
		run.Env = append(os.Environ(), "PATH="+os.Getenv("PATH"))
		if b, err := run.CombinedOutput(); err != nil {
			t.Fatalf("README block failed: %v\n%s\nscript:\n%s", err, b, script.String())
		}
		for _, c := range ran {
			got, _ := os.ReadFile(c.text)
			t.Logf("→ %s", summary(string(got)))
			for _, want := range c.wantStatus {
				if !strings.Contains(string(got), want) {
					t.Errorf("README says %q; the server answered:\n%s", want, got)
				}
			}
		}
	}
	if n < 6 {
		t.Errorf("ran %d README commands, want at least 6", n)
	}
}

// summary is an answer's status line and last line, for the log.
func summary(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	status := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "HTTP/") {
			status = strings.TrimSpace(l) + " "
		}
	}
	return status + strings.TrimSpace(lines[len(lines)-1])
}
