package dkim

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A message that goes away while its key is being fetched stops the
// lookup and leaves no goroutine behind; a message without signatures
// starts none.
func TestVerifierAbortLeavesNothing(t *testing.T) {
	pem, _, err := GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	var hb HeaderBuilder
	hb.Add("From", "a@example.org", false)
	sg, err := NewSigning(hb.Bytes(), []Key{{Domain: "example.org", Selector: "s", Signer: key}}, SignOptions{Headers: []string{"From"}, HeaderCanon: "relaxed", BodyCanon: "relaxed"})
	if err != nil {
		t.Fatal(err)
	}
	sg.Write([]byte("hi\r\n"))
	sigs, err := sg.Close()
	if err != nil {
		t.Fatal(err)
	}
	var signed HeaderBuilder
	signed.Add("DKIM-Signature", sigs[0], false)
	signed.Add("From", "a@example.org", false)

	before := runtime.NumGoroutine()
	asked := make(chan struct{})
	blocking := func(ctx context.Context, name string) ([]string, error) {
		close(asked)
		<-ctx.Done() // the DNS server never answers
		return nil, &TemporaryError{ctx.Err()}
	}
	v := NewVerifier(context.Background(), signed.Bytes(), 5, blocking)
	<-asked
	done := make(chan struct{})
	go func() {
		v.Write([]byte(strings.Repeat("body\r\n", 1000))) // blocks until the verifier reads or is aborted
		close(done)
	}()
	v.Abort()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Write still blocks after Abort")
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Abort, %d before", n, before)
	}

	none := NewVerifier(context.Background(), hb.Bytes(), 5, blocking)
	none.Write([]byte("hi\r\n"))
	if rs := none.Close(); len(rs) != 0 || runtime.NumGoroutine() > before {
		t.Errorf("unsigned message: results %v, %d goroutines (%d before)", rs, runtime.NumGoroutine(), before)
	}
}
