// Package store keeps maxwell's state that outlives a connection:
// greylist triplets, the auto-whitelist, the call-back verification cache
// and the blacklist. One interface, Store, has two backends on the same
// schema: SQLite (embedded, the default) and PostgreSQL (several MX hosts
// sharing state).
package store

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"
)

// Store is the state maxwell keeps. Every method is safe for concurrent
// use, by several goroutines and, through the database, by several
// processes (the daemon, `maxwell greylist`, other MX hosts).
type Store interface {
	// UpdateTriplet reads a triplet's entry (nil if there is none), calls
	// update with it and stores what update returns, atomically: two
	// sessions or MX hosts deciding on the same triplet at once see each
	// other's writes in turn, and no update is lost. update may be called
	// again if another process created or changed the entry meanwhile;
	// only its last result is stored. Concurrent calls are committed
	// together (see combiner), so update may run on another goroutine
	// and should only compute; a panic in it is raised in the caller.
	UpdateTriplet(ctx context.Context, t Triplet, update func(old *Entry) Entry) (Entry, error)
	// PutTriplets stores entries as given, replacing existing ones, in
	// one transaction.
	PutTriplets(ctx context.Context, entries []Entry) error
	// RenewTriplets writes renewals of passed triplets that were made in
	// memory (see Cached), in one transaction: each adds its passes to
	// its entry and moves the entry's Last and Expires forward, if the
	// entry is still there and still passed since the same time. An
	// entry deleted, or expired and started over, meanwhile is left as
	// it is: a renewal never brings a triplet back.
	RenewTriplets(ctx context.Context, renewals []Renewal) error
	// Triplets lists the entries that match f, oldest first.
	Triplets(ctx context.Context, f Filter) ([]Entry, error)
	// DeleteTriplets removes the entries that match f and says how many.
	DeleteTriplets(ctx context.Context, f Filter) (int, error)
	// GreylistStats counts the entries as of now.
	GreylistStats(ctx context.Context, now time.Time) (Stats, error)

	// CountPass counts one success for a key of the auto-whitelist and
	// lists it once threshold successes are counted. A listed key stays
	// listed until ttl after its last success or use.
	CountPass(ctx context.Context, kind, key string, now time.Time, ttl time.Duration, threshold int) (listed bool, err error)
	// Listed reports whether a key is on the auto-whitelist now; if it
	// is, its expiry moves to now+ttl (at most once a minute, to spare
	// writes).
	Listed(ctx context.Context, kind, key string, now time.Time, ttl time.Duration) (bool, error)
	// Whitelist lists the auto-whitelist entries of a kind ("" for all).
	Whitelist(ctx context.Context, kind string) ([]WhitelistEntry, error)
	// Unlist removes a key from the auto-whitelist.
	Unlist(ctx context.Context, kind, key string) (bool, error)

	// PutCBV caches the outcome of a call-back verification.
	PutCBV(ctx context.Context, r CBVResult) error
	// CBV returns the cached outcome for a sender, nil if none is valid
	// at now.
	CBV(ctx context.Context, sender string, now time.Time) (*CBVResult, error)

	// Ban puts a key (an IP, a sender) on the blacklist.
	Ban(ctx context.Context, b Ban) error
	// Banned returns the ban on a key in force at now, nil if none.
	Banned(ctx context.Context, kind, key string, now time.Time) (*Ban, error)
	// BansOn returns the bans on a key of one or two kinds in force at
	// now, in one query: an IP's demerit ban and watch's blacklisting,
	// both asked at every connection.
	BansOn(ctx context.Context, key string, now time.Time, kinds ...string) ([]Ban, error)
	// Bans lists the bans of a kind ("" for all) in force at now.
	Bans(ctx context.Context, kind string, now time.Time) ([]Ban, error)
	// BanPage lists a page of the bans f selects, in force at f.Now, in
	// the order of their keys: a range of the blacklist's primary key,
	// never a scan of the table (the web console's list).
	BanPage(ctx context.Context, f BanFilter) ([]Ban, error)
	// Unban lifts a ban.
	Unban(ctx context.Context, kind, key string) (bool, error)

	// Learn adds what a message (or a ban) taught about identities to
	// their reputation, in one transaction: each identity's counts are
	// decayed from their last update to now (halfLife), then the
	// observation added. Concurrent learners lose nothing.
	Learn(ctx context.Context, obs []Observation, now time.Time, halfLife time.Duration) error
	// Reputation returns the stored reputation of those of ids that have
	// one, counts as of their last update (see Reputation.At).
	Reputation(ctx context.Context, ids ...string) ([]Reputation, error)
	// Reputations lists at most limit reputations (0: all), the most
	// recently updated first.
	Reputations(ctx context.Context, limit int) ([]Reputation, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	// Expire removes at most batch rows that expired before now from each
	// kind of state and says how many it removed in all.
	Expire(ctx context.Context, now time.Time, batch int) (int, error)
	// Close releases the database.
	Close() error
}

// Triplet is what greylisting remembers a delivery attempt by.
type Triplet struct {
	Client string // the client identity: an SPF-pass domain or an IP prefix ("192.0.2.0/24")
	Sender string // normalised envelope sender; "<>" for the null sender
	Rcpt   string // lower-cased recipient
}

// Entry is the state of one triplet.
type Entry struct {
	Triplet
	First    time.Time     // first attempt of the current round
	Last     time.Time     // latest attempt
	Passed   time.Time     // when it passed; zero while pending
	Expires  time.Time     // when the entry is forgotten
	Attempts int           // attempts deferred in the current round
	Passes   int           // messages let through since it passed
	Delay    time.Duration // from the first attempt to the pass
}

// Renewal is what messages on a passed triplet changed in its entry,
// beyond what the store holds: Passes more messages, the latest at
// Last, keeping the entry until Expires.
type Renewal struct {
	Triplet
	Passed  time.Time // when the triplet passed: the renewal is of that pass only
	Passes  int
	Last    time.Time
	Expires time.Time
}

// Pending reports whether the triplet has not passed yet.
func (e *Entry) Pending() bool { return e.Passed.IsZero() }

// The states of a triplet at a given time.
const (
	StatePending = "pending" // waiting for its retry, within its retry window
	StatePassed  = "passed"  // passed, within its pass lifetime
	// StateExpired is an entry past its expiry, pending or passed: it
	// counts for nothing any more (a new attempt starts over) and awaits
	// the next cleanup (Expire).
	StateExpired = "expired"
)

// State is the state of the entry at now.
func (e *Entry) State(now time.Time) string {
	switch {
	case !e.Expires.After(now):
		return StateExpired
	case e.Pending():
		return StatePending
	}
	return StatePassed
}

// Filter selects triplets. Empty fields match everything; Client, Sender
// and Rcpt match exactly, or as globs where they contain '*'.
type Filter struct {
	Client, Sender, Rcpt string
	State                string    // "", StatePending, StatePassed or StateExpired
	Now                  time.Time // when State is judged; required with State
	Limit                int       // 0: no limit
	// ByKey lists Triplets in the order of the index that serves the
	// search instead of oldest first: by client, sender and recipient
	// when the client is searched or nothing is, else by sender (then
	// client, recipient), else by recipient (then client, sender). A
	// page of a large greylist searched by exact values or prefixes
	// ("abc*") is then a range of an index, not a sort of every match
	// (the web console). After, with ByKey, starts the list after that
	// triplet: the last of the previous page. DeleteTriplets ignores
	// both.
	ByKey bool
	After *Triplet
}

// Prefix reports whether a filter value is a prefix glob ("abc*": one
// '*', at the end), and returns the prefix. Prefix globs and exact
// values are what an index can serve.
func Prefix(v string) (string, bool) {
	p, ok := strings.CutSuffix(v, "*")
	return p, ok && !strings.Contains(p, "*")
}

// Stats counts greylist and auto-whitelist entries in the states of
// Entry.State, so that they agree with Triplets filtered by state.
type Stats struct {
	Pending     int           // triplets waiting for their retry
	Passed      int           // triplets that passed and have not expired
	Expired     int           // triplets past their expiry, awaiting cleanup
	Whitelisted int           // clients on the auto-whitelist
	AvgDelay    time.Duration // mean delay of the passed triplets
}

// Auto-whitelist kinds.
const (
	KindClient = "client" // greylisting: a client identity with enough passed triplets
	KindSender = "sender" // an external correspondent of an internal user
)

// WhitelistEntry is one auto-whitelist entry.
type WhitelistEntry struct {
	Kind, Key string
	Count     int       // successes counted
	Listed    time.Time // when it was listed; zero if not (yet)
	Last      time.Time // latest success or use
	Expires   time.Time
}

// CBVResult is the cached outcome of a call-back verification.
type CBVResult struct {
	Sender  string
	Code    int    // the remote server's answer to RCPT TO
	Text    string // its text
	Checked time.Time
	Expires time.Time
}

// Blacklist kinds.
const (
	BanIP     = "ip"     // an IP banned for demerits ([milter] max_demerits)
	BanSender = "sender" // a sender refused (maxwell blacklist add --sender)
	BanClient = "client" // an IP blacklisted by maxwell watch for impolite behaviour
	// BanLifted is no ban: it records that an administrator lifted a
	// client's BanClient (maxwell blacklist delete), so that maxwell
	// watch does not blacklist it again for what it did before (a log
	// read again). Created is when it was lifted; it is kept for
	// [watch] good_behaviour, past which no old offence counts anyway.
	BanLifted = "lifted client"
)

// Ban is one blacklist entry.
type Ban struct {
	Kind, Key string
	Reason    string
	Created   time.Time
	Expires   time.Time // zero: until lifted
}

// BanFilter selects a page of the bans of one kind, keyset-paged by key.
// Keys follow the database's order of text: byte order on SQLite and
// under PostgreSQL's C collation. A prefix finds the keys that start
// with it under any collation, but is a range of keys with an end only
// in byte order: under another, the keys from it on are read until a
// page is found.
type BanFilter struct {
	Kind string // required
	// Key is the one key wanted, or with Prefix what the keys wanted
	// start with; "" is every key.
	Key    string
	Prefix bool
	After  string    // only keys after it: the last key of the page before; "" from the first
	Now    time.Time // only bans in force at Now
	Limit  int       // at most this many, 1 or more
}

// Reputation is what is known of one identity ("spf:example.com",
// "helo:mx.example.com", "net:192.0.2.0/24"): the good and bad it did,
// each event weighed and decayed to Updated.
type Reputation struct {
	ID      string
	Good    float64
	Bad     float64
	Events  int       // observations learned, not decayed
	First   time.Time // the first observation
	Updated time.Time // the latest
}

// Observation is what one message, or one ban, taught of an identity.
type Observation struct {
	ID        string
	Good, Bad float64
}

// forgetAfter is how many half-lives after its last update a reputation
// is expired: its counts are then below a millionth of what they were.
const forgetAfter = 20

// At is r with its counts decayed from Updated to now: halved every
// halfLife. A now before Updated (clocks of two MX hosts) decays nothing.
func (r Reputation) At(now time.Time, halfLife time.Duration) Reputation {
	if age := now.Sub(r.Updated); age > 0 && halfLife > 0 {
		f := math.Exp2(-float64(age) / float64(halfLife))
		r.Good, r.Bad = r.Good*f, r.Bad*f
	}
	return r
}

// ErrNoStore is returned by OpenExistingSQLite and OpenExistingPostgres
// where there is no store: no database file, or a database without
// maxwell's tables.
var ErrNoStore = errors.New("no maxwell store")

// ErrNewerSchema is returned by Open for a database that a newer maxwell
// has migrated.
var ErrNewerSchema = errors.New("the database schema is newer than this maxwell knows")
