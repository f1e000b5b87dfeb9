package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// A combiner on a fake store: run applies every call of a batch to no
// entry, after the test lets it begin.
type fakeBatches struct {
	cb      combiner
	started chan []Triplet // each batch's triplets, as it begins
	release chan bool      // lets a batch go on; false: the store panics
}

func newFakeBatches() *fakeBatches {
	f := &fakeBatches{started: make(chan []Triplet, 16), release: make(chan bool)}
	f.cb = combiner{max: 1, run: func(ctx context.Context, batch []*tripletCall) {
		var ts []Triplet
		for _, c := range batch {
			ts = append(ts, c.t)
		}
		f.started <- ts
		if !<-f.release {
			panic("the store broke")
		}
		for _, c := range batch {
			c.apply(nil)
		}
	}}
	return f
}

// outcome is what one call returned, or panicked with.
type outcome struct {
	e        Entry
	err      error
	panicked any
}

// call runs an UpdateTriplet through the fake store in a goroutine.
func (f *fakeBatches) call(rcpt string, update func(*Entry) Entry) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			o.panicked = recover()
			out <- o
		}()
		o.e, o.err = f.cb.do(&tripletCall{ctx: context.Background(), t: Triplet{Rcpt: rcpt}, update: update})
	}()
	return out
}

// queued waits until n calls wait for the running batch.
func (f *fakeBatches) queued(t *testing.T, n int) {
	t.Helper()
	if !testclock.Poll(10*time.Second, time.Millisecond, func() bool {
		f.cb.mu.Lock()
		defer f.cb.mu.Unlock()
		return len(f.cb.queue) == n
	}) {
		t.Fatalf("%d calls never queued", n)
	}
}

func attempts(n int) func(*Entry) Entry { return func(*Entry) Entry { return Entry{Attempts: n} } }

// Calls made while a batch runs wait, and go together into the next
// batch, in the order they came; each gets its own entry. A call whose
// update panics panics in its own goroutine, not in the one running the
// batch, and the others in its batch are stored.
func TestCombinerBatchesWaitingCalls(t *testing.T) {
	f := newFakeBatches()
	first := f.call("first", attempts(1))
	if got := <-f.started; fmt.Sprint(got) != "[{  first}]" {
		t.Fatalf("first batch %v", got)
	}
	var rest []<-chan outcome
	for i, r := range []string{"a", "b", "c"} {
		update := attempts(i + 2)
		if r == "b" {
			update = func(*Entry) Entry { panic("bad update") }
		}
		rest = append(rest, f.call(r, update))
		f.queued(t, i+1)
	}
	f.release <- true
	if got := <-f.started; fmt.Sprint(got) != "[{  a} {  b} {  c}]" {
		t.Errorf("second batch %v, want the three calls that waited, in order", got)
	}
	f.release <- true
	if o := <-first; o.err != nil || o.e.Attempts != 1 || o.e.Rcpt != "first" {
		t.Errorf("first call: %+v", o)
	}
	for i, want := range []outcome{{e: Entry{Triplet: Triplet{Rcpt: "a"}, Attempts: 2}}, {panicked: "bad update"}, {e: Entry{Triplet: Triplet{Rcpt: "c"}, Attempts: 4}}} {
		if o := <-rest[i]; o != want {
			t.Errorf("call %d: %+v, want %+v", i, o, want)
		}
	}
}

// Should the store panic in a batch, every call in it fails with an
// error, none waits for ever, and the next call is served.
func TestCombinerSurvivesAStorePanic(t *testing.T) {
	f := newFakeBatches()
	first := f.call("first", attempts(1))
	<-f.started
	second := f.call("second", attempts(2))
	f.queued(t, 1)
	f.release <- true
	<-f.started
	f.release <- false
	if o := <-first; o.err != nil {
		t.Errorf("first call: %+v", o)
	}
	if o := <-second; o.err == nil || o.panicked != nil {
		t.Errorf("call in the batch that panicked: %+v, want an error", o)
	}
	third := f.call("third", attempts(3))
	<-f.started
	f.release <- true
	if o := <-third; o.err != nil || o.e.Attempts != 3 {
		t.Errorf("call after the panic: %+v", o)
	}
}

// With several batches allowed at once, concurrent calls are all served,
// each with its own entry, whoever runs their batch.
func TestCombinerManyCallers(t *testing.T) {
	var mu sync.Mutex
	batches := 0
	cb := combiner{max: 2, run: func(ctx context.Context, batch []*tripletCall) {
		mu.Lock()
		batches++
		mu.Unlock()
		for _, c := range batch {
			c.apply(nil)
		}
	}}
	const n = 2000
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e, err := cb.do(&tripletCall{ctx: context.Background(), t: Triplet{Rcpt: fmt.Sprint(i)}, update: attempts(i)})
			if err != nil || e.Attempts != i || e.Rcpt != fmt.Sprint(i) {
				t.Errorf("call %d: %+v, %v", i, e, err)
			}
		})
	}
	wg.Wait()
	if cb.running != 0 || len(cb.queue) != 0 {
		t.Errorf("after all calls: %d batches running, %d calls queued", cb.running, len(cb.queue))
	}
	t.Logf("%d calls in %d batches", n, batches)
}
