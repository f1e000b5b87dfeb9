package reputation

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// maxNonces bounds the nonces a server remembers: only peers can make
// it remember one (the request must be signed), each at most peer_rate
// a second, so this is reached only by a misbehaving peer, which is
// then answered 429 until nonces age out of the window.
const maxNonces = 200000

// Server answers peers' questions about the site's own reputations
// (never about what its own peers said: answers do not echo round a
// group of sites). Only signed requests are answered; the rest get 401.
type Server struct {
	cfg config.Reputation
	st  store.Store
	now func() time.Time

	mu      sync.Mutex
	nonces  map[string]time.Time // seen within Window, by nonce
	buckets map[string]*bucket   // rate limits, by peer name
}

// bucket is a token bucket: rate tokens a second, at most rate held.
type bucket struct {
	tokens float64
	last   time.Time
}

// NewServer is the server of a site's reputations in st.
func NewServer(cfg config.Reputation, st store.Store, now func() time.Time) *Server {
	return &Server{cfg: cfg, st: st, now: now, nonces: map[string]time.Time{}, buckets: map[string]*bucket{}}
}

// Handler serves Path, with request sizes bounded.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, http.MaxBytesHandler(s, 0))
	return mux
}

// NewHTTPServer is an http.Server for the handler, its header size and
// read times bounded.
func (s *Server) NewHTTPServer() *http.Server {
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	if len(r.URL.RawQuery) > 3*MaxID+8 {
		http.Error(w, "request too large", http.StatusRequestURITooLong)
		return
	}
	id := r.URL.Query().Get("id")
	nonce := r.Header.Get(HeaderNonce)
	now := s.now()
	peer, ok := s.signer(r, id, nonce, now)
	if !ok {
		http.Error(w, "unsigned, badly signed or stale request", http.StatusUnauthorized)
		return
	}
	if code := s.admit(peer.Name, nonce, now); code != http.StatusOK {
		http.Error(w, http.StatusText(code), code)
		return
	}
	if id == "" || len(id) > MaxID {
		http.Error(w, "no identity, or one too long", http.StatusBadRequest)
		return
	}
	a := answerBody{ID: id}
	rs, err := s.st.Reputation(r.Context(), id)
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	if len(rs) == 1 {
		a.Score, a.Observations = Own(rs[0], now, s.cfg.HalfLife.D(), s.cfg.Prior)
	}
	body, _ := json.Marshal(a)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderSignature, SignAnswer(peer.Secret, nonce, body))
	w.Write(body)
}

// signer returns the peer whose secret signed the request, if the
// request is signed and within Window of now. Each configured secret is
// tried: there are few, and the request need not say who sends it.
func (s *Server) signer(r *http.Request, id, nonce string, now time.Time) (config.Peer, bool) {
	secs, err := strconv.ParseInt(r.Header.Get(HeaderTime), 10, 64)
	if err != nil {
		return config.Peer{}, false
	}
	t := time.Unix(secs, 0)
	if d := now.Sub(t); d > Window || d < -Window {
		return config.Peer{}, false
	}
	if b, err := hex.DecodeString(nonce); err != nil || len(b) < 16 || len(b) > 64 {
		return config.Peer{}, false
	}
	sig := r.Header.Get(HeaderSignature)
	for _, p := range s.cfg.Peers {
		if sameMAC(sig, SignRequest(p.Secret, r.Method, id, t, nonce)) {
			return p, true
		}
	}
	return config.Peer{}, false
}

// admit takes a token from the peer's bucket and records the nonce, or
// says no: 401 for a nonce seen within Window (a replay), 429 for a
// peer that asks more than peer_rate a second, or when too many nonces
// are remembered.
func (s *Server) admit(peer, nonce string, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seen, ok := s.nonces[nonce]; ok && now.Sub(seen) <= 2*Window {
		return http.StatusUnauthorized
	}
	if len(s.nonces) >= maxNonces {
		for n, seen := range s.nonces {
			if now.Sub(seen) > 2*Window {
				delete(s.nonces, n)
			}
		}
		if len(s.nonces) >= maxNonces {
			return http.StatusTooManyRequests
		}
	}
	rate := float64(s.cfg.PeerRate)
	b := s.buckets[peer]
	if b == nil {
		b = &bucket{tokens: rate, last: now}
		s.buckets[peer] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(rate, b.tokens+d.Seconds()*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return http.StatusTooManyRequests
	}
	b.tokens--
	s.nonces[nonce] = now
	return http.StatusOK
}
