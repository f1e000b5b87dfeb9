// Package browsertest drives Debian's chromium, headless, from Go tests
// (github.com/chromedp/chromedp): the web console is tested in a real
// browser. Chromium runs with a profile of its own in the test's
// directory and asks nothing of the network but the pages it is sent
// to; it is stopped when the test ends.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is Debian's chromium; MAXWELL_CHROMIUM names another.
func Path() string {
	if p := os.Getenv("MAXWELL_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// Start launches chromium and returns a context to run chromedp actions
// in, each bounded by timeout. The test fails, not skips, when chromium
// is missing: .ci/run installs it.
func Start(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	if _, err := exec.LookPath(Path()); err != nil {
		t.Fatalf("Debian's chromium is needed (apt-get install chromium; .ci/run installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path()),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where chromium's sandbox will not start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Nothing but the pages under test: this machine's network is
		// closed, and chromium's own connections would be refused.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // ends the chromium process and waits for it
	})
	// The first action starts the browser, on a context without a
	// timeout: a timeout there would stop the browser with it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	run, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return run
}

// Submit clicks sel (a form's button) and waits for the page it loads
// to show wait: a wait in the same run as the click would watch the
// page that goes away.
func Submit(ctx context.Context, sel, wait string) error {
	if err := chromedp.Do(ctx, chromedp.Click(sel)); err != nil {
		return err
	}
	return chromedp.Do(ctx, chromedp.WaitVisible(wait))
}

// Screenshot saves the whole page as a PNG.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below, JPEG
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
