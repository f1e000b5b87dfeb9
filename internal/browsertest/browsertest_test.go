package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium starts, renders a page served on loopback, and a form posts
// back: what the web console's browser test stands on.
func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, "<html><body><p id=got>%s</p></body></html>", r.FormValue("q"))
			return
		}
		fmt.Fprint(w, `<html><body><form method=post><input name=q id=q><button id=go>go</button></form></body></html>`)
	}))
	defer srv.Close()
	ctx := Start(t, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible("#q"), chromedp.SendKeys("#q", "hello")); err != nil {
		t.Fatal(err)
	}
	if err := Submit(ctx, "#go", "#got"); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text("#got"))
	if err != nil || got != "hello" {
		t.Fatalf("posted %q, %v", got, err)
	}
	png := filepath.Join(t.TempDir(), "page.png")
	if err := Screenshot(ctx, png); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 100 {
		t.Errorf("screenshot: %v", err)
	}
}
