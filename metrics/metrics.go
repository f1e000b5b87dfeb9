// Package metrics is maxwell's Prometheus endpoint: counters taken from
// the mail-log events (so that the log and the figures never disagree),
// DNS query times from the resolver, store operation times from a
// wrapper around the store, greylist gauges read from the store at each
// scrape, and /healthz (the store answers, DNS answers).
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/store"
)

// maxReasons bounds the reason label: reasons are made of what clients
// send, and a label value per attacker-chosen name would grow without end.
const maxReasons = 200

// Pinger answers whether a dependency is up.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Metrics holds maxwell's metrics. It is safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	store     store.Store
	dns       Pinger
	sessions  prometheus.Gauge
	refused   prometheus.Counter
	messages  prometheus.Counter
	decisions *prometheus.CounterVec
	greylist  *prometheus.CounterVec
	autoWhite prometheus.Counter
	cbv       *prometheus.CounterVec
	defanged  prometheus.Counter
	blacklist prometheus.Counter
	repAction *prometheus.CounterVec
	dnsTime   *prometheus.HistogramVec
	dnsErrors *prometheus.CounterVec
	storeTime *prometheus.HistogramVec
	storeErrs *prometheus.CounterVec
	dnsblAsk  *prometheus.CounterVec
	dnsblHits *prometheus.CounterVec
	dnsblSrv  *prometheus.CounterVec
	dkim      *prometheus.CounterVec
	dkimSign  prometheus.Counter
	dmarc     *prometheus.CounterVec

	mu      sync.Mutex
	reasons map[string]bool // the reason label values in use
}

// SetDNS replaces the DNS pinger (the resolver after a reload).
func (m *Metrics) SetDNS(dns Pinger) {
	m.mu.Lock()
	m.dns = dns
	m.mu.Unlock()
}

// New returns the metrics of a daemon whose state is in st and whose DNS
// servers dns pings.
func New(st store.Store, dns Pinger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), store: st, dns: dns, reasons: map[string]bool{}}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "maxwell_sessions_open", Help: "Milter sessions (SMTP connections) open."})
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "maxwell_sessions_refused_total", Help: "Milter connections closed unserved: max_sessions were open."})
	m.messages = prometheus.NewCounter(prometheus.CounterOpts{Name: "maxwell_messages_total", Help: "Messages (MAIL FROM transactions) begun."})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_decisions_total",
		Help: "Decisions logged, by action (reject, tempfail, or the tag in lower case) and reason kind."}, []string{"action", "reason"})
	m.greylist = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_greylist_steps_total",
		Help: "Greylist lookups, by step (new, early, pass, passed, restart, ...)."}, []string{"step"})
	m.autoWhite = prometheus.NewCounter(prometheus.CounterOpts{Name: "maxwell_greylist_auto_whitelisted_total", Help: "Clients put on the greylist auto-whitelist."})
	m.cbv = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_cbv_total", Help: "Call-back verifications, by outcome."}, []string{"status"})
	m.defanged = prometheus.NewCounter(prometheus.CounterOpts{Name: "maxwell_defanged_parts_total", Help: "Attachments replaced by a warning."})
	m.blacklist = prometheus.NewCounter(prometheus.CounterOpts{Name: "maxwell_watch_blacklisted_total", Help: "Clients blacklisted by the MTA log watcher."})
	m.repAction = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_reputation_actions_total",
		Help: "Messages whose reputation was weighed, by action (none, skip_greylist, greylist, callback, refuse)."}, []string{"action"})
	m.dnsTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "maxwell_dns_query_seconds",
		Help: "DNS lookups sent to the servers (cache misses), by type.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"type"})
	m.dnsErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_dns_errors_total", Help: "DNS lookups that failed (timeout, SERVFAIL), by type."}, []string{"type"})
	m.storeTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "maxwell_store_op_seconds",
		Help: "Store operations made for sessions, by operation.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}, []string{"op"})
	m.storeErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_store_errors_total", Help: "Store operations that failed, by operation."}, []string{"op"})
	m.dnsblAsk = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_dnsbl_lookups_total",
		Help: "DNS blocklist questions asked, by whether the answer came from the cache (\"true\", \"false\")."}, []string{"cached"})
	m.dnsblHits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_dnsbl_listed_total",
		Help: "Addresses and names a DNS blocklist listed, by list zone."}, []string{"zone"})
	m.dnsblSrv = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_dnsbl_server_queries_total",
		Help: "Queries answered by maxwell's own DNS blocklist server, by result (listed, unlisted, apex, refused)."}, []string{"result"})
	m.dkim = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_dkim_signatures_total",
		Help: "DKIM signatures checked, by result (pass, fail, policy, neutral, temperror, permerror)."}, []string{"result"})
	m.dkimSign = prometheus.NewCounter(prometheus.CounterOpts{Name: "maxwell_dkim_signed_total", Help: "DKIM signatures made."})
	m.dmarc = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "maxwell_dmarc_total",
		Help: "Messages evaluated for DMARC, by result (pass, fail, none, temperror, permerror) and disposition (none, quarantine, reject)."}, []string{"result", "disposition"})
	m.reg.MustRegister(m.sessions, m.refused, m.messages, m.decisions, m.greylist, m.autoWhite, m.cbv, m.defanged,
		m.blacklist, m.repAction, m.dnsTime, m.dnsErrors, m.storeTime, m.storeErrs, m.dnsblAsk, m.dnsblHits, m.dnsblSrv,
		m.dkim, m.dkimSign, m.dmarc, greylistGauges{st},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Event counts one mail-log event; give it to maillog.Logger.Observe.
func (m *Metrics) Event(event string, kv []any) {
	switch event {
	case "connect":
		m.sessions.Inc()
	case "close":
		m.sessions.Dec()
	case "mail from":
		m.messages.Inc()
	case "decision":
		m.decisions.WithLabelValues(action(kv), m.reason(field(kv, "reason"))).Inc()
	case "greylist":
		m.greylist.WithLabelValues(field(kv, "step")).Inc()
		if field(kv, "auto_whitelisted") == "true" {
			m.autoWhite.Inc()
		}
	case "cbv":
		m.cbv.WithLabelValues(field(kv, "status")).Inc()
	case "defang":
		m.defanged.Inc()
	case "blacklist":
		m.blacklist.Inc()
	case "dnsbl":
		lists, _ := strconv.Atoi(field(kv, "lists"))
		cached, _ := strconv.Atoi(field(kv, "cached"))
		m.dnsblAsk.WithLabelValues("true").Add(float64(cached))
		m.dnsblAsk.WithLabelValues("false").Add(float64(lists - cached))
		if l := field(kv, "listed"); l != "" {
			for _, hit := range strings.Split(l, ",") {
				zone, _, _ := strings.Cut(hit, ":")
				m.dnsblHits.WithLabelValues(zone).Inc()
			}
		}
	case "reputation":
		m.repAction.WithLabelValues(field(kv, "action")).Inc()
	case "dkim":
		m.dkim.WithLabelValues(field(kv, "result")).Inc()
	case "dkim sign":
		m.dkimSign.Inc()
	case "dmarc":
		disposition := field(kv, "disposition")
		if disposition == "" {
			disposition = "none"
		}
		m.dmarc.WithLabelValues(field(kv, "result"), disposition).Inc()
	}
}

// DNSBLServed counts one query answered by maxwell's DNS blocklist
// server; give it to dnsbl.Server.Count.
func (m *Metrics) DNSBLServed(result string) { m.dnsblSrv.WithLabelValues(result).Inc() }

// SessionRefused counts a milter connection refused past max_sessions;
// give it to milter.Server.ObserveRefused.
func (m *Metrics) SessionRefused() { m.refused.Inc() }

// action is what a decision did: reject (5xx), tempfail (4xx), or for
// the others (accept, discard, ...) its tag in lower case.
func action(kv []any) string {
	code, _ := strconv.Atoi(field(kv, "code"))
	switch {
	case code >= 500:
		return "reject"
	case code >= 400:
		return "tempfail"
	}
	return strings.ToLower(field(kv, "tag"))
}

// reason is a decision's reason without its particulars, from a bounded
// set: past maxReasons kinds, new ones count as "other".
func (m *Metrics) reason(r string) string {
	k := maillog.ReasonKind(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reasons[k] {
		if len(m.reasons) >= maxReasons {
			return "other"
		}
		m.reasons[k] = true
	}
	return k
}

// field returns the value of key in a Log key/value list, as text.
func field(kv []any, key string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == key {
			return fmt.Sprint(kv[i+1])
		}
	}
	return ""
}

// DNS records one DNS query; give it to resolver.Resolver.Observe.
func (m *Metrics) DNS(qtype string, took time.Duration, err error) {
	m.dnsTime.WithLabelValues(qtype).Observe(took.Seconds())
	if err != nil {
		m.dnsErrors.WithLabelValues(qtype).Inc()
	}
}

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", m.health)
	return mux
}

// health answers 200 when the store and DNS both answer within 2s, 503
// otherwise, with a line for each.
func (m *Metrics) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, lines := http.StatusOK, ""
	m.mu.Lock()
	dns := m.dns
	m.mu.Unlock()
	for _, dep := range []struct {
		name string
		p    Pinger
	}{{"store", m.store}, {"dns", dns}} {
		if err := dep.p.Ping(ctx); err != nil {
			status = http.StatusServiceUnavailable
			lines += dep.name + ": " + err.Error() + "\n"
			continue
		}
		lines += dep.name + ": ok\n"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, lines)
}

// greylistGauges reads the greylist counts from the store at each scrape.
type greylistGauges struct{ st store.Store }

var (
	pendingDesc = prometheus.NewDesc("maxwell_greylist_pending", "Greylist triplets waiting for their retry.", nil, nil)
	passedDesc  = prometheus.NewDesc("maxwell_greylist_passed", "Greylist triplets passed and not expired.", nil, nil)
	whiteDesc   = prometheus.NewDesc("maxwell_greylist_auto_whitelisted", "Clients on the greylist auto-whitelist.", nil, nil)
)

func (g greylistGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- passedDesc
	ch <- whiteDesc
}

func (g greylistGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := g.st.GreylistStats(ctx, time.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(pendingDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(passedDesc, prometheus.GaugeValue, float64(s.Passed))
	ch <- prometheus.MustNewConstMetric(whiteDesc, prometheus.GaugeValue, float64(s.Whitelisted))
}
