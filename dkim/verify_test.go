package dkim

import (
	"context"
	"runtime"
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
	<-asked // the key is being fetched, and never will be
	aborted := make(chan struct{})
	go func() {
		v.Abort() // returns only once the verifier has stopped
		close(aborted)
	}()
	select {
	case <-aborted:
	case <-time.After(10 * time.Second):
		t.Fatal("Abort still waits for the key lookup")
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
