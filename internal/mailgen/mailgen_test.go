package mailgen_test

import (
	"bytes"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mailgen"
	"github.com/maxwell-milter/maxwell/mime"
)

// Text's body is exactly the size asked for, below the 12 header fields
// of a mail client's message relayed by the sender's server.
func TestTextSize(t *testing.T) {
	for _, size := range []int{0, 1, 2, 100, 8192, 100_000} {
		h, body := mime.SplitMessage(mailgen.Text("alice@sender.example", "bob@example.org", size))
		if len(body) != size || len(h) != 12 || h[0].Name != "Received" || h[11].Name != "Content-Transfer-Encoding" {
			t.Errorf("size %d: a body of %d bytes, %d fields (%v)", size, len(body), len(h), h)
		}
		if size >= 2 && !bytes.HasSuffix(body, []byte("\r\n")) {
			t.Errorf("size %d: the body ends %q", size, body[size-2:])
		}
	}
}
