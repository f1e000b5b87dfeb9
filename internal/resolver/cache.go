package resolver

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

type cacheKey struct {
	name  string
	qtype uint16
}

// cache is a size-bounded LRU of answers, each kept until its TTL runs out.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *entry
	items map[cacheKey]*list.Element
	now   func() time.Time
}

type entry struct {
	key     cacheKey
	ans     *Answer
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), items: map[cacheKey]*list.Element{}, now: time.Now}
}

func (c *cache) get(k cacheKey) (*Answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.ans, true
}

func (c *cache) put(k cacheKey, a *Answer, ttl time.Duration) {
	if c.max <= 0 || ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.Remove(el)
	}
	c.items[k] = c.order.PushFront(&entry{k, a, c.now().Add(ttl)})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*entry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Budget bounds the DNS lookups one message may cause. Cached answers are
// free; each question sent to a server costs one.
type Budget struct {
	limit int32
	used  atomic.Int32
}

// NewBudget returns a budget of n lookups.
func NewBudget(n int) *Budget { return &Budget{limit: int32(n)} }

func (b *Budget) take() bool {
	if b.used.Add(1) > b.limit {
		b.used.Add(-1)
		return false
	}
	return true
}

type budgetKey struct{}

// WithBudget returns a context whose lookups are charged to b.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

func budgetFrom(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}
