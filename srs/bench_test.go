package srs

import "testing"

// The cost of one rewrite and one check, for the socket map's answers
// and the milter's RCPT check.
func BenchmarkSRS(b *testing.B) {
	r, _ := New(Options{Secrets: []string{"bench secret", "old"}})
	ses, _ := NewSES([]string{"bench secret"}, 8, nil)
	fwd, _ := r.Forward("alice@orig.example", "fwd.example")
	signed, _ := ses.Sign("dave@ours.example")
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			r.Forward("alice@orig.example", "fwd.example")
		}
	})
	b.Run("reverse", func(b *testing.B) {
		for b.Loop() {
			r.Reverse(fwd)
		}
	})
	b.Run("ses sign", func(b *testing.B) {
		for b.Loop() {
			ses.Sign("dave@ours.example")
		}
	})
	b.Run("ses verify", func(b *testing.B) {
		for b.Loop() {
			ses.Verify(signed)
		}
	})
}
