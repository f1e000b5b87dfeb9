package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// maxBatch bounds the triplet updates committed in one transaction: a
// larger batch holds its locks longer for little more gain.
const maxBatch = 64

// tripletCall is one UpdateTriplet call waiting for, or in, a batch.
type tripletCall struct {
	ctx    context.Context
	t      Triplet
	update func(old *Entry) Entry

	out      Entry
	err      error
	panicked any // what update panicked with, re-raised in the caller

	// wake is signalled once: when out and err are set, or when the
	// call is to lead the batch in lead.
	wake chan struct{}
	lead []*tripletCall
}

// combiner commits concurrent UpdateTriplet calls in groups, one
// transaction for many (group commit): the commit, and on PostgreSQL
// the round trips, are paid once a batch instead of once a call. There
// is no writer goroutine: a caller that finds fewer than max batches
// running runs one itself, of every call queued so far; one that finds
// them all busy queues its call and waits, and a finishing batch hands
// the next batch to the first call in the queue.
type combiner struct {
	max int                                             // batches run at once
	run func(ctx context.Context, batch []*tripletCall) // sets each call's out and err

	mu      sync.Mutex
	queue   []*tripletCall
	running int
}

// do runs one call in a batch and returns its outcome.
func (cb *combiner) do(c *tripletCall) (Entry, error) {
	c.wake = make(chan struct{}, 1)
	cb.mu.Lock()
	cb.queue = append(cb.queue, c)
	var batch []*tripletCall
	if cb.running < cb.max {
		cb.running++
		batch = cb.takeLocked()
	}
	cb.mu.Unlock()
	for {
		if batch == nil {
			<-c.wake
			if batch, c.lead = c.lead, nil; batch == nil {
				break // done in another call's batch
			}
		}
		mine := slices.Contains(batch, c)
		batch = cb.runBatch(c, batch)
		if mine {
			break
		}
		// c is still queued, or in a batch another call runs: go on
		// with the next batch, or wait.
	}
	if c.panicked != nil {
		panic(c.panicked)
	}
	return c.out, c.err
}

// takeLocked takes the next batch off the queue; cb.mu is held.
func (cb *combiner) takeLocked() []*tripletCall {
	n := min(len(cb.queue), maxBatch)
	batch := slices.Clone(cb.queue[:n])
	clear(cb.queue[:n]) // no reference kept to a finished call
	cb.queue = cb.queue[n:]
	if len(cb.queue) == 0 {
		cb.queue = nil // let the drained array go
	}
	return batch
}

// runBatch runs batch for the call self that leads it and wakes its
// other calls. The batch that follows, if any, is handed to its first
// call when self's own call was in this one; otherwise self, not done
// yet, runs it and runBatch returns it.
func (cb *combiner) runBatch(self *tripletCall, batch []*tripletCall) []*tripletCall {
	cb.runSafely(batch)
	mine := false
	for _, c := range batch {
		if c == self {
			mine = true
		} else {
			c.wake <- struct{}{}
		}
	}
	cb.mu.Lock()
	var next []*tripletCall
	if len(cb.queue) > 0 {
		next = cb.takeLocked()
	} else {
		cb.running--
	}
	cb.mu.Unlock()
	if next == nil || !mine {
		return next
	}
	next[0].lead = next
	next[0].wake <- struct{}{}
	return nil
}

// runSafely runs a batch; should the store itself panic, every call in
// the batch fails instead of waiting for ever.
func (cb *combiner) runSafely(batch []*tripletCall) {
	defer func() {
		if v := recover(); v != nil {
			for _, c := range batch {
				c.err = fmt.Errorf("store: batch of triplet updates failed: %v", v)
			}
		}
	}()
	cb.run(context.WithoutCancel(batch[0].ctx), batch)
}
