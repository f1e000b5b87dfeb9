package reputation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// peerBackoff is how long a peer that failed is left alone: a peer that
// is down costs one timeout, not one a message.
const peerBackoff = 30 * time.Second

// Client asks the peers. It is safe for concurrent use; the engine keeps
// one for its lifetime, so that its cache outlives a message.
type Client struct {
	cfg  config.Reputation
	now  func() time.Time
	http *http.Client

	mu    sync.Mutex
	cache map[cacheKey]cached // answers, at most peer_cache_size
	down  map[string]time.Time
}

type cacheKey struct{ peer, id string }

type cached struct {
	a       Answer
	expires time.Time
}

// NewClient is a client of cfg's peers, on the clock now (the engine's:
// answers age and requests are dated on it).
func NewClient(cfg config.Reputation, now func() time.Time) *Client {
	return &Client{cfg: cfg, now: now, cache: map[cacheKey]cached{}, down: map[string]time.Time{},
		http: &http.Client{
			// A peer's redirect is not followed: the answer must come
			// signed from the URL configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// Ask asks every peer about each of ids, all at once, and returns their
// answers by id, in the order of ids. It waits at most peer_timeout;
// answers are remembered for peer_cache_ttl. At most budget questions
// go out (cached answers are free); peers left unasked, and peers that
// failed in the last peerBackoff, are left out. A failure is an answer
// with Err set, which counts for nothing.
func (c *Client) Ask(ctx context.Context, ids []string, budget int) [][]Answer {
	out := make([][]Answer, len(ids))
	now := c.now()
	type job struct {
		i    int
		peer config.Peer
	}
	var jobs []job
	c.mu.Lock()
	for i, id := range ids {
		for _, p := range c.cfg.Peers {
			if e, ok := c.cache[cacheKey{p.Name, id}]; ok && now.Before(e.expires) {
				out[i] = append(out[i], e.a)
				continue
			}
			if until, ok := c.down[p.Name]; ok && now.Before(until) || len(jobs) >= budget {
				continue
			}
			jobs = append(jobs, job{i, p})
		}
	}
	c.mu.Unlock()
	if len(jobs) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PeerTimeout.D())
	defer cancel()
	answers := make([]Answer, len(jobs))
	var wg sync.WaitGroup
	for j, jb := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[j] = c.ask(ctx, jb.peer, ids[jb.i], now)
		}()
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, jb := range jobs {
		a := answers[j]
		out[jb.i] = append(out[jb.i], a)
		if a.Err != nil {
			c.down[jb.peer.Name] = now.Add(peerBackoff)
			continue
		}
		if ttl := c.cfg.PeerCacheTTL.D(); ttl > 0 && c.cfg.PeerCacheSize > 0 {
			if len(c.cache) >= c.cfg.PeerCacheSize {
				clear(c.cache) // bounded: a flood of identities costs hits, never memory
			}
			c.cache[cacheKey{jb.peer.Name, ids[jb.i]}] = cached{a, now.Add(ttl)}
		}
	}
	return out
}

// ask asks one peer about one identity.
func (c *Client) ask(ctx context.Context, p config.Peer, id string, now time.Time) Answer {
	a := Answer{Peer: p.Name, Weight: p.EffectiveWeight()}
	a.Score, a.Observations, a.Err = c.query(ctx, p, id, now)
	if a.Err != nil {
		a.Score, a.Observations = 0, 0
		a.Err = fmt.Errorf("peer %s: %w", p.Name, a.Err)
	}
	return a
}

// ErrBadAnswer is an answer that is not what the protocol says: no
// valid signature, not JSON, another identity's, a score out of [-1, 1].
var ErrBadAnswer = errors.New("bad answer")

func (c *Client) query(ctx context.Context, p config.Peer, id string, now time.Time) (score, obs float64, err error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	n := hex.EncodeToString(nonce)
	u := strings.TrimSuffix(p.URL, "/") + Path + "?id=" + url.QueryEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set(HeaderTime, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderNonce, n)
	req.Header.Set(HeaderSignature, SignRequest(p.Secret, http.MethodGet, id, now, n))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		return 0, 0, err
	case resp.StatusCode != http.StatusOK:
		return 0, 0, fmt.Errorf("HTTP %s", resp.Status)
	case len(body) > maxBody:
		return 0, 0, fmt.Errorf("%w: over %d bytes", ErrBadAnswer, maxBody)
	case !sameMAC(resp.Header.Get(HeaderSignature), SignAnswer(p.Secret, n, body)):
		return 0, 0, fmt.Errorf("%w: not signed with our secret", ErrBadAnswer)
	}
	var ab answerBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ab); err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	switch {
	case ab.ID != id:
		return 0, 0, fmt.Errorf("%w: about %q, not %q", ErrBadAnswer, ab.ID, id)
	case math.IsNaN(ab.Score) || ab.Score < -1 || ab.Score > 1:
		return 0, 0, fmt.Errorf("%w: score %v out of [-1, 1]", ErrBadAnswer, ab.Score)
	case math.IsNaN(ab.Observations) || math.IsInf(ab.Observations, 0) || ab.Observations < 0:
		return 0, 0, fmt.Errorf("%w: observations %v", ErrBadAnswer, ab.Observations)
	}
	return ab.Score, ab.Observations, nil
}
