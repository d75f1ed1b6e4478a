package main

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var screenshotDocs = flag.Bool("screenshot-docs", false, "TestStatusPageChromium: save the screenshot as docs/status-page.png")

// chromium runs Debian's headless Chromium with a fresh profile and the
// given flags, then the URL.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: apt-get install chromium (.ci/run installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--hide-scrollbars"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageChromium: headless Chromium loads the status page of a
// running pipeline under writes; the DOM it built has the four charts,
// each drawn through several samples, and the tables seen with their
// counts; a screenshot is taken (-screenshot-docs keeps it in docs/).
func TestStatusPageChromium(t *testing.T) {
	r := newObservedRig(t, "")
	r.start()
	db := r.src.DB(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := db.Exec("INSERT INTO shop.orders VALUES (?, ?)", i, i%97); err != nil {
				t.Errorf("insert: %v", err)
				return
			}
			if i%3 == 0 {
				if _, err := db.Exec("INSERT INTO shop.items VALUES (?, 'pen')", i); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(6 * time.Second) // 30 samples at 200ms

	url := "http://" + r.http + "/"
	dom := string(chromium(t, "--dump-dom", url))
	for _, id := range []string{"lag", "events", "checkpoint-age", "sink-errors"} {
		m := regexp.MustCompile(`id="chart-` + id + `"[^>]*data-points="(\d+)"|data-points="(\d+)"[^>]*id="chart-` + id + `"`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("chart %s not in the DOM:\n%s", id, dom)
		}
		n, _ := strconv.Atoi(m[1] + m[2])
		path := regexp.MustCompile(`(?s)id="chart-` + id + `".*?<path class="line" d="([^"]+)"`).FindStringSubmatch(dom)
		if n < 10 || path == nil || strings.Count(path[1], "L") != n-1 {
			t.Fatalf("chart %s: %d points, path %v: want a line through 10 or more", id, n, path)
		}
	}
	// Events flowed: the events/s line is not flat along the bottom.
	ev := regexp.MustCompile(`(?s)id="chart-events".*?<path class="line" d="([^"]+)"`).FindStringSubmatch(dom)[1]
	if !regexp.MustCompile(`[ML][\d.]+,([0-9]|[0-9][0-9]|1[01][0-9])\.\d`).MatchString(ev) {
		t.Fatalf("the events/s line never rises: %s", ev)
	}
	for _, want := range []string{"shop.orders", "shop.items", "FileSink", "standalone: no cluster"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page has no %q", want)
		}
	}

	// No scripts and nothing loaded from elsewhere: it works offline.
	if page := r.get("/"); strings.Contains(page, "<script") || regexp.MustCompile(`(?i)\b(src|href)=|@import|url\(`).MatchString(page) {
		t.Errorf("the page loads scripts or other assets:\n%s", page)
	}

	shot := filepath.Join(t.TempDir(), "status-page.png")
	chromium(t, "--screenshot="+shot, "--window-size=1280,1010", url)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 1280 {
		t.Fatalf("screenshot: %v %v", err, img)
	}
	if *screenshotDocs {
		if err := os.WriteFile("../../docs/status-page.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
