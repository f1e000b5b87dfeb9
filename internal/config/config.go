// Package config holds maxwell's configuration: one TOML file whose keys
// follow bms.py's names where bms.py had the feature, embedded defaults for
// every key, and validation errors that name the key and its line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// Config is the whole configuration. The zero value is not useful; start
// from Default or Load.
type Config struct {
	Milter         Milter         `toml:"milter"`
	Defang         Defang         `toml:"defang"`
	SRS            SRS            `toml:"srs"`
	Scrub          Scrub          `toml:"scrub"`
	BlockedSenders BlockedSenders `toml:"blocked_senders"`
	SPF            SPF            `toml:"spf"`
	Greylist       Greylist       `toml:"greylist"`
	Store          Store          `toml:"store"`
	CBV            CBV            `toml:"cbv"`
	Whitelist      Whitelist      `toml:"whitelist"`
	Wiretap        Wiretap        `toml:"wiretap"`
	Watch          Watch          `toml:"watch"`
	DNSBL          DNSBL          `toml:"dnsbl"`
	DNSBLServer    DNSBLServer    `toml:"dnsbl_server"`
	Metrics        Metrics        `toml:"metrics"`
	DNS            DNS            `toml:"dns"`
	Log            Log            `toml:"log"`
	Reputation     Reputation     `toml:"reputation"`
	DKIM           DKIM           `toml:"dkim"`
	DMARC          DMARC          `toml:"dmarc"`
	Web            Web            `toml:"web"`
}

// Milter is the [milter] section: the socket, timeouts and the connection
// and sender classification bms.py kept there.
type Milter struct {
	Socket           Socket          `toml:"socket"`
	SocketGroup      string          `toml:"socket_group"`
	Timeout          Duration        `toml:"timeout"`
	ShutdownTimeout  Duration        `toml:"shutdown_timeout"`
	MaxSessions      int             `toml:"max_sessions"`
	ExceptionPolicy  ExceptionPolicy `toml:"exception_policy"`
	DelayedReject    bool            `toml:"delayed_reject"`
	InternalConnect  []HostPattern   `toml:"internal_connect"`
	LoopbackInternal bool            `toml:"loopback_internal"`
	TrustedRelay     []HostPattern   `toml:"trusted_relay"`
	InternalMTA      []HostPattern   `toml:"internal_mta"`
	InternalDomains  []DomainPattern `toml:"internal_domains"`
	HelloBlacklist   []string        `toml:"hello_blacklist"`
	LogHeaders       bool            `toml:"log_headers"`
	ConnectionHeader string          `toml:"connection_header"`
	Hostname         string          `toml:"hostname"`
	DataDir          string          `toml:"datadir"`
	TempDir          string          `toml:"tempdir"`
	SpoolThreshold   Size            `toml:"spool_threshold"`
	MaxScanSize      Size            `toml:"max_scan_size"`
	LargeMessage     LargeAction     `toml:"large_message"`
	PrivateRelay     []DomainPattern `toml:"private_relay"`
	CheckUser        []string        `toml:"check_user"`
	// CaseSensitiveLocalpart: local parts of listed addresses compare as
	// written (bms.py's case_sensitive_localpart); domains never do.
	CaseSensitiveLocalpart bool     `toml:"case_sensitive_localpart"`
	MaxDemerits            int      `toml:"max_demerits"`
	BanTime                Duration `toml:"ban_time"`
	// LegacyStatusCodes gives the refusals whose codes follow RFC 7372,
	// RFC 7505 and RFC 3463 (SPF, reverse DNS, null MX, missing HELO)
	// the codes maxwell used before (5.7.1, 5.5.2, 4.4.3, 4.2.0), and
	// turns off the refusal of sender domains that publish a null MX.
	LegacyStatusCodes bool `toml:"legacy_status_codes"`
}

// Defang is the [defang] section: the Subject checks and, as in bms.py,
// the attachment settings.
type Defang struct {
	SpamWords     []string        `toml:"spam_words"`
	PornWords     []string        `toml:"porn_words"`
	RejectAdv     bool            `toml:"reject_adv"`
	BlockCharsets []string        `toml:"block_charsets"`
	FromWords     []string        `toml:"from_words"`
	BlockForward  []string        `toml:"block_forward"`
	BannedExts    []string        `toml:"banned_exts"`
	ScanZip       bool            `toml:"scan_zip"`
	ZipDepth      int             `toml:"zip_depth"`
	ZipMaxExpand  Size            `toml:"zip_max_expand"`
	ZipMaxEntries int             `toml:"zip_max_entries"`
	ScanRFC822    bool            `toml:"scan_rfc822"`
	ScanHTML      bool            `toml:"scan_html"`
	MaxParts      int             `toml:"max_parts"`
	Malformed     MalformedAction `toml:"malformed"`
}

// Scrub is the [scrub] section.
type Scrub struct {
	RejectVirusFrom []DomainPattern `toml:"reject_virus_from"`
	HidePath        []DomainPattern `toml:"hide_path"`
}

// BannedExts is bms.py's list of attachment extensions that can carry a
// virus on Windows.
var BannedExts = strings.Fields(`ade adp asd asx asp bas bat chm cmd com cpl crt dll exe hlp hta inf ins
	isp js jse lnk mdb mde msc msi msp mst ocx pcd pif reg scr sct shs url vb vbe vbs wsc wsf wsh`)

// BlockedSenders is the [blocked_senders] section: senders whose mail is
// refused for everyone but a few exception recipients.
type BlockedSenders struct {
	Senders    []string      `toml:"senders"`
	Exceptions []string      `toml:"exceptions"`
	Action     BlockedAction `toml:"action"`
	DeferText  string        `toml:"defer_text"`
	RejectText string        `toml:"reject_text"`
}

// SPF is the [spf] section, with bms.py's keys.
type SPF struct {
	BestGuess        bool            `toml:"best_guess"`
	Delegate         string          `toml:"delegate"`
	RejectNeutral    []DomainPattern `toml:"reject_neutral"`
	AcceptSoftfail   []DomainPattern `toml:"accept_softfail"`
	AcceptFail       []DomainPattern `toml:"accept_fail"`
	RejectNoPTR      bool            `toml:"reject_noptr"`
	AccessFile       string          `toml:"access_file"`
	TrustedForwarder []string        `toml:"trusted_forwarder"`
	Headers          []string        `toml:"headers"`
	WhyURL           string          `toml:"why_url"`
	SupplySender     bool            `toml:"supply_sender"`
}

// The header fields [spf] headers may name.
const (
	HeaderReceivedSPF = "received-spf"
	HeaderAuthResults = "authentication-results"
)

// Greylist is the [greylist] section: triplet greylisting with the
// Kamaelia server's timers and whitelists.
type Greylist struct {
	Enabled              bool            `toml:"enabled"`
	Preset               string          `toml:"preset"` // "" or PresetKamaelia: the timers not set in the file
	Delay                Duration        `toml:"delay"`
	TooSoon              Duration        `toml:"too_soon"`
	RetryWindow          Duration        `toml:"retry_window"`
	PassTTL              Duration        `toml:"pass_ttl"`
	IPv4Prefix           int             `toml:"ipv4_prefix"`
	IPv6Prefix           int             `toml:"ipv6_prefix"`
	AutoWhitelistClients int             `toml:"auto_whitelist_clients"`
	WhitelistClients     []HostPattern   `toml:"whitelist_clients"`
	WhitelistSenders     []DomainPattern `toml:"whitelist_senders"`
	WhitelistRecipients  []string        `toml:"whitelist_recipients"`
	WhitelistedTriples   []Triple        `toml:"whitelisted_triples"`
	WhitelistedNonstd    []Triple        `toml:"whitelisted_nonstandard_triples"`
	OnlySuspicious       bool            `toml:"only_suspicious"`
	Text                 string          `toml:"text"`
	Header               string          `toml:"header"`
	FailOpen             bool            `toml:"fail_open"`
}

// Store is the [store] section: where greylist, whitelist, call-back and
// blacklist state is kept.
type Store struct {
	Driver         string   `toml:"driver"`
	Path           string   `toml:"path"`
	DSN            string   `toml:"dsn" redact:"password"` // its password hidden, the rest shown
	Timeout        Duration `toml:"timeout"`
	ExpireInterval Duration `toml:"expire_interval"`
	ExpireBatch    int      `toml:"expire_batch"`
	CacheTTL       Duration `toml:"cache_ttl"`
}

// Whitelist is the [whitelist] section: bms.py's auto-whitelist of
// the people internal users write to ([dspam] whitelist_senders there),
// and the local sender blacklist.
type Whitelist struct {
	Senders       []string `toml:"senders"`
	TTL           Duration `toml:"ttl"`
	BlacklistFile string   `toml:"blacklist_file"`
}

// Wiretap is the [wiretap] section, with bms.py's keys: copies of mail
// to or from some users, discarded outgoing mail, smart aliases and the
// archive.
type Wiretap struct {
	Users      []string   `toml:"users"`
	Dest       string     `toml:"dest"`
	Blind      bool       `toml:"blind"`
	Discard    []string   `toml:"discard"`
	Archive    string     `toml:"archive"`
	SmartAlias [][]string `toml:"smart_alias"`
}

// CBV is the [cbv] section: call-back verifications and explanatory DSNs.
type CBV struct {
	TemplatesDir   string   `toml:"templates_dir"`
	Port           int      `toml:"port"`
	ConnectTimeout Duration `toml:"connect_timeout"`
	CommandTimeout Duration `toml:"command_timeout"`
	MaxHosts       int      `toml:"max_hosts"`
	AllowPrivateMX bool     `toml:"allow_private_mx"`
	PositiveTTL    Duration `toml:"positive_ttl"`
	NegativeTTL    Duration `toml:"negative_ttl"`
	DomainRate     int      `toml:"domain_rate"`
	GlobalRate     int      `toml:"global_rate"`
}

// Watch is the [watch] section: `maxwell watch` (or `serve --watch`)
// tails the MTA's log for clients that were greylisted and then behaved
// impolitely, and blacklists them in the store, as mailsys did.
type Watch struct {
	MTALog        string      `toml:"mta_log"`
	StateFile     string      `toml:"state_file"`
	Interval      Duration    `toml:"interval"`
	GoodBehaviour Duration    `toml:"good_behaviour"`
	NeverRetried  bool        `toml:"never_retried"`
	Answer        WatchAnswer `toml:"answer"`
	Text          string      `toml:"text"`
}

// WatchAnswer is what a blacklisted client gets at connect.
type WatchAnswer string

// The answers to a blacklisted client.
const (
	WatchTempfail WatchAnswer = "tempfail" // 421 4.7.0: try later
	WatchReject   WatchAnswer = "reject"   // 550 5.7.1
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *WatchAnswer) UnmarshalText(b []byte) error {
	return oneOf(a, b, WatchTempfail, WatchReject)
}

// WatchStatePath is the file where the watcher keeps its place in the
// MTA log: [watch] state_file, relative to [milter] datadir.
func (c *Config) WatchStatePath() string { return c.dataPath(c.Watch.StateFile) }

// Metrics is the [metrics] section: the Prometheus endpoint of `serve`.
type Metrics struct {
	Listen string `toml:"listen"`
}

// The store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// StorePath is the SQLite file: [store] path, relative to [milter] datadir.
func (c *Config) StorePath() string { return c.dataPath(c.Store.Path) }

// UserFile is the file of a [milter] check_user entry "file:NAME": NAME
// relative to [milter] datadir (where bms.py looked), or absolute. Its
// base name is the domain whose users it lists.
func (c *Config) UserFile(name string) string { return c.dataPath(name) }

// SpoolDir is where bodies over spool_threshold wait while they are
// scanned: spool/ in [milter] datadir.
func (c *Config) SpoolDir() string { return c.dataPath("spool") }

// SaveDir is where the originals of defanged and malformed messages are
// kept: [milter] tempdir, relative to [milter] datadir (save/ there by
// default).
func (c *Config) SaveDir() string { return c.dataPath(c.Milter.TempDir) }

// dataPath resolves a file name relative to [milter] datadir, as the
// kernel will (a datadir of lnk/../data is not data).
func (c *Config) dataPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return safefile.Join(c.Milter.DataDir, name)
}

// DNS is the [dns] section.
type DNS struct {
	Servers    []string `toml:"servers"`
	Timeout    Duration `toml:"timeout"`
	Attempts   int      `toml:"attempts"`
	CacheSize  int      `toml:"cache_size"`
	MaxTTL     Duration `toml:"max_ttl"`
	MaxLookups int      `toml:"max_lookups"`
}

// Log is the [log] section.
type Log struct {
	MailLog        string   `toml:"mail_log"`
	SyslogFacility string   `toml:"syslog_facility"`
	FlushInterval  Duration `toml:"flush_interval"`
	Level          string   `toml:"level"`
}

// Default returns the embedded defaults: what `maxwell serve` runs with
// when no file is given.
func Default() *Config {
	return &Config{
		Milter: Milter{
			Socket:           MustSocket("inet:8895@127.0.0.1"),
			Timeout:          Duration(600 * time.Second),
			ShutdownTimeout:  Duration(30 * time.Second),
			ExceptionPolicy:  ExceptionTempfail,
			DelayedReject:    true,
			LoopbackInternal: true,
			ConnectionHeader: "X-Maxwell-Connection",
			DataDir:          "data",
			TempDir:          "save",
			SpoolThreshold:   1 << 20,
			MaxScanSize:      50 << 20,
			LargeMessage:     LargeAccept,
			BanTime:          Duration(7 * 24 * time.Hour),
		},
		Defang: Defang{
			RejectAdv:     true,
			BannedExts:    slices.Clone(BannedExts), // the decoder writes into the slice it is given
			ScanZip:       true,
			ZipDepth:      4,
			ZipMaxExpand:  20 << 20,
			ZipMaxEntries: 10000,
			ScanRFC822:    true,
			MaxParts:      1000,
			Malformed:     MalformedReject,
		},
		SRS: SRS{MaxAge: 8, HashLength: 8, Separator: "="},
		BlockedSenders: BlockedSenders{
			Action:     BlockedDefer,
			DeferText:  "Mailbox full, retry later",
			RejectText: "Mailbox unavailable",
		},
		SPF: SPF{
			BestGuess: true,
			Headers:   []string{HeaderReceivedSPF, HeaderAuthResults},
			WhyURL:    "https://www.open-spf.org/Why?s=mfrom&id={sender}&ip={ip}&r={receiver}",
		},
		Greylist: Greylist{
			Enabled:              true,
			Delay:                Duration(5 * time.Minute),
			RetryWindow:          Duration(48 * time.Hour),
			PassTTL:              Duration(35 * 24 * time.Hour),
			IPv4Prefix:           24,
			IPv6Prefix:           64,
			AutoWhitelistClients: 5,
			WhitelistRecipients:  []string{"postmaster@", "abuse@"},
			Text:                 "Greylisted, please retry in {seconds} seconds",
			Header:               "X-Greylist",
		},
		Store: Store{
			Driver:         DriverSQLite,
			Path:           "maxwell.db",
			Timeout:        Duration(5 * time.Second),
			ExpireInterval: Duration(10 * time.Minute),
			ExpireBatch:    1000,
			CacheTTL:       Duration(10 * time.Second),
		},
		Whitelist: Whitelist{TTL: Duration(60 * 24 * time.Hour)},
		Wiretap:   Wiretap{Blind: true},
		Watch: Watch{
			StateFile:     "watch.state",
			GoodBehaviour: Duration(7 * 24 * time.Hour),
			NeverRetried:  true,
			Answer:        WatchTempfail,
			Text:          "Too many impolite connections from your address, try again later",
		},
		DNSBL: DNSBL{
			RejectScore:   1,
			GreylistScore: 0.5,
			OnError:       DNSBLIgnore,
			Text:          "Listed by {lists}",
		},
		DNSBLServer: DNSBLServer{TTL: Duration(5 * time.Minute), Refresh: Duration(time.Minute)},
		CBV: CBV{
			Port:           25,
			ConnectTimeout: Duration(20 * time.Second),
			CommandTimeout: Duration(60 * time.Second),
			MaxHosts:       5,
			PositiveTTL:    Duration(7 * 24 * time.Hour),
			NegativeTTL:    Duration(30 * 24 * time.Hour),
			DomainRate:     20,
			GlobalRate:     600,
		},
		DNS: DNS{
			Timeout:    Duration(5 * time.Second),
			Attempts:   2,
			CacheSize:  10000,
			MaxTTL:     Duration(time.Hour),
			MaxLookups: 50,
		},
		Log: Log{
			MailLog:        "stderr",
			SyslogFacility: "mail",
			FlushInterval:  Duration(100 * time.Millisecond),
			Level:          "info",
		},
		Reputation: defaultReputation(),
		DKIM:       defaultDKIM(),
		DMARC:      defaultDMARC(),
		Web:        defaultWeb(),
	}
}

// Load reads a TOML file over the defaults and validates it. The file
// must be a regular file (a symbolic link to one is fine) of at most
// safefile.MaxSize bytes. Every problem is reported with the key and line
// it concerns, as Errors.
func Load(path string) (*Config, error) {
	src, err := safefile.Read(path)
	if err != nil {
		var fe *safefile.Error
		if errors.As(err, &fe) && fe.Path == path {
			return nil, Errors{{File: path, Msg: fe.Problem}}
		}
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, src)
}

// Parse is Load for text already read; name is used in error messages.
// Every problem is reported, in one go: a file that is not TOML stops at
// its first syntax error, but unknown keys and values of the wrong type
// are all found, and the values that could be read are then validated.
func Parse(name string, src []byte) (*Config, error) {
	cfg := Default()
	var top map[string]toml.Primitive
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&top)
	if err != nil {
		return nil, Errors{decodeError(name, err)}
	}
	r := &report{file: name, src: src}
	decodeKeys(&md, top, cfg, r)
	cfg.Greylist.applyPreset(md.IsDefined)
	if cfg.SRS.Config != "" {
		if err := cfg.SRS.readPysrs(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				r.add("srs.config", line)
			}
		}
	}
	for _, p := range cfg.validate() {
		r.add(p.key, p.msg)
	}
	if err := r.errors(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeKeys sets cfg from the file's sections one key at a time, in the
// file's order: the TOML decoder stops at the first value of the wrong
// type, which would hide every problem after it. A key no setting has
// is reported as unknown; a value that cannot be read leaves the
// setting at its default.
func decodeKeys(md *toml.MetaData, top map[string]toml.Primitive, cfg *Config, r *report) {
	root := reflect.ValueOf(cfg).Elem()
	sections := map[string]map[string]toml.Primitive{} // nil for one that is not a table
	for _, k := range md.Keys() {
		section := field(root, k[0])
		if !section.IsValid() { // [unknown] and its keys
			r.unknown(k, md.Type(k...) == "Hash")
			continue
		}
		keys, read := sections[k[0]]
		if !read { // at its first key: [milter] may be implied by [milter.x] or milter.x = 1
			keys = readSection(md, top[k[0]], section, r)
			sections[k[0]] = keys
		}
		if len(k) == 1 || keys == nil {
			continue
		}
		setting := field(section, k[1])
		switch {
		case !setting.IsValid():
			r.unknown(k, md.Type(k...) == "Hash")
		case len(k) == 2:
			// Into a new value, set only if it reads whole: a list half
			// read is not left in the configuration.
			v := reflect.New(setting.Type())
			if err := md.PrimitiveDecode(keys[k[1]], v.Interface()); err != nil {
				r.addError(decodeError(r.file, err))
				continue
			}
			setting.Set(v.Elem())
		case len(k) == 3 && !hasKey(setting.Type(), k[2]):
			// A key of a table in a list of tables ([[dkim.keys]]):
			// read with the setting, but checked here, or a misspelt
			// one would go unnoticed.
			r.unknown(k, md.Type(k...) == "Hash")
		} // deeper keys are part of a setting's value, read with it
	}
}

// hasKey reports whether key names a field of the struct t, or of the
// structs a list t holds; keys of other types (maps) are not checked.
func hasKey(t reflect.Type, key string) bool {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return true
	}
	f := tomlFields(t)
	_, ok := f.exact[key]
	if !ok {
		_, ok = f.folded[strings.ToLower(key)]
	}
	return ok
}

// readSection returns the keys of a section, or nil if it is not a
// table, which it reports.
func readSection(md *toml.MetaData, value toml.Primitive, section reflect.Value, r *report) map[string]toml.Primitive {
	var keys map[string]toml.Primitive
	err := md.PrimitiveDecode(value, &keys)
	if err == nil && keys == nil {
		// Not a table (the decoder leaves the map nil for a number or a
		// list): its words for that come from decoding the value into
		// the section itself.
		err = md.PrimitiveDecode(value, section.Addr().Interface())
	}
	if err != nil {
		r.addError(decodeError(r.file, err))
		return nil
	}
	return keys
}

// field is the field of struct v that TOML key names, as the TOML
// decoder finds it: by its tag, else by its tag in another case; the
// zero Value if none.
func field(v reflect.Value, key string) reflect.Value {
	f := tomlFields(v.Type())
	i, ok := f.exact[key]
	if !ok {
		i, ok = f.folded[strings.ToLower(key)]
	}
	if !ok {
		return reflect.Value{}
	}
	return v.Field(i)
}

// fieldIndex is where a struct's fields are, by their TOML tags.
type fieldIndex struct{ exact, folded map[string]int }

var fieldIndexes sync.Map // reflect.Type -> *fieldIndex

func tomlFields(t reflect.Type) *fieldIndex {
	if f, ok := fieldIndexes.Load(t); ok {
		return f.(*fieldIndex)
	}
	f := &fieldIndex{exact: map[string]int{}, folded: map[string]int{}}
	for i := t.NumField() - 1; i >= 0; i-- { // the first field wins a folded name
		tag := t.Field(i).Tag.Get("toml")
		f.exact[tag] = i
		f.folded[strings.ToLower(tag)] = i
	}
	fieldIndexes.Store(t, f)
	return f
}

type problem struct{ key, msg string }

// validate checks what the types alone cannot.
func (c *Config) validate() []problem {
	var ps []problem
	positive := func(key string, d Duration) {
		if d <= 0 {
			ps = append(ps, problem{key, "must be a positive duration"})
		}
	}
	positive("milter.timeout", c.Milter.Timeout)
	positive("milter.shutdown_timeout", c.Milter.ShutdownTimeout)
	positive("dns.timeout", c.DNS.Timeout)
	positive("greylist.delay", c.Greylist.Delay)
	positive("greylist.retry_window", c.Greylist.RetryWindow)
	positive("greylist.pass_ttl", c.Greylist.PassTTL)
	positive("store.timeout", c.Store.Timeout)
	positive("store.expire_interval", c.Store.ExpireInterval)
	ps = append(ps, c.Greylist.validate()...)
	ps = append(ps, c.SRS.validate()...)
	if sock, err := ParseSocket(c.SRS.Socketmap); err == nil && sock.Network == c.Milter.Socket.Network && sock.Address == c.Milter.Socket.Address {
		ps = append(ps, problem{"srs.socketmap", "is milter.socket's address: the socket map needs one of its own"})
	}
	ps = append(ps, c.Store.validate()...)
	ps = append(ps, c.DNSBL.validate()...)
	ps = append(ps, c.DNSBLServer.validate()...)
	ps = append(ps, c.Reputation.validate()...)
	ps = append(ps, c.DKIM.validate()...)
	ps = append(ps, c.DMARC.validate()...)
	ps = append(ps, c.Web.validate()...)
	positive("milter.ban_time", c.Milter.BanTime)
	positive("whitelist.ttl", c.Whitelist.TTL)
	positive("watch.good_behaviour", c.Watch.GoodBehaviour)
	if c.Watch.Interval < 0 {
		ps = append(ps, problem{"watch.interval", "must not be negative (0 tails the log continuously)"})
	}
	if c.Watch.StateFile == "" {
		ps = append(ps, problem{"watch.state_file", "must not be empty"})
	}
	if l := c.Metrics.Listen; l != "" {
		if _, err := netip.ParseAddrPort(l); err != nil {
			ps = append(ps, problem{"metrics.listen", fmt.Sprintf("%s is not an address:port, e.g. \"127.0.0.1:9437\"", oneline.Quote(l))})
		}
	}
	for _, a := range c.Wiretap.SmartAlias {
		if len(a) < 3 {
			ps = append(ps, problem{"wiretap.smart_alias", fmt.Sprintf("%s: want [sender or @domain, recipient, destination, ...]", oneline.Quote(strings.Join(a, " ")))})
		}
	}
	if d := c.Wiretap.Dest; d != "" && (!strings.Contains(d, "@") || strings.ContainsAny(d, " <>\r\n")) {
		ps = append(ps, problem{"wiretap.dest", fmt.Sprintf("%s is not an address", oneline.Quote(d))})
	}
	if err := c.Milter.Socket.CheckHost(); err != nil {
		ps = append(ps, problem{"milter.socket", err.Error()})
	}
	if c.Milter.MaxSessions < 0 {
		ps = append(ps, problem{"milter.max_sessions", "must not be negative (0 sizes it to the open-file limit)"})
	}
	if c.Milter.MaxDemerits < 0 {
		ps = append(ps, problem{"milter.max_demerits", "must not be negative (0 turns banning off)"})
	}
	positive("cbv.connect_timeout", c.CBV.ConnectTimeout)
	positive("cbv.command_timeout", c.CBV.CommandTimeout)
	positive("cbv.positive_ttl", c.CBV.PositiveTTL)
	positive("cbv.negative_ttl", c.CBV.NegativeTTL)
	for _, n := range []struct {
		key string
		v   int
	}{{"cbv.port", c.CBV.Port}, {"cbv.max_hosts", c.CBV.MaxHosts}, {"cbv.domain_rate", c.CBV.DomainRate}, {"cbv.global_rate", c.CBV.GlobalRate}} {
		if n.v < 1 || n.key == "cbv.port" && n.v > 65535 {
			ps = append(ps, problem{n.key, "must be a positive number"})
		}
	}
	if c.Milter.MaxScanSize < c.Milter.SpoolThreshold {
		ps = append(ps, problem{"milter.max_scan_size", "must not be below milter.spool_threshold"})
	}
	if c.Defang.ZipDepth < 1 || c.Defang.ZipDepth > 32 {
		ps = append(ps, problem{"defang.zip_depth", "must be between 1 and 32"})
	}
	if c.Defang.ZipMaxEntries < 1 {
		ps = append(ps, problem{"defang.zip_max_entries", "must be at least 1"})
	}
	if c.Defang.MaxParts < 1 {
		ps = append(ps, problem{"defang.max_parts", "must be at least 1"})
	}
	for _, ext := range c.Defang.BannedExts {
		if ext == "" || strings.ContainsAny(ext, ". \t/") {
			ps = append(ps, problem{"defang.banned_exts", fmt.Sprintf("%s: write extensions without the dot, e.g. \"exe\"", oneline.Quote(ext))})
		}
	}
	if c.Milter.DataDir == "" {
		ps = append(ps, problem{"milter.datadir", "must not be empty"})
	}
	if c.Milter.TempDir == "" {
		ps = append(ps, problem{"milter.tempdir", "must not be empty (\"save\": save/ in datadir)"})
	}
	positive("dns.max_ttl", c.DNS.MaxTTL)
	if c.DNS.Attempts < 1 {
		ps = append(ps, problem{"dns.attempts", "must be at least 1"})
	}
	if c.DNS.CacheSize < 0 {
		ps = append(ps, problem{"dns.cache_size", "must not be negative"})
	}
	if c.DNS.MaxLookups < 1 {
		ps = append(ps, problem{"dns.max_lookups", "must be at least 1"})
	}
	for _, s := range c.DNS.Servers {
		if _, err := ServerAddr(s); err != nil {
			ps = append(ps, problem{"dns.servers", err.Error()})
		}
	}
	for _, h := range []struct{ key, name string }{
		{"milter.connection_header", c.Milter.ConnectionHeader},
		{"greylist.header", c.Greylist.Header},
	} {
		if h.name != "" && !validHeaderName(h.name) {
			ps = append(ps, problem{h.key, fmt.Sprintf("%s is not a valid header field name", oneline.Quote(h.name))})
		}
	}
	for _, words := range []struct {
		key  string
		list []string
	}{{"defang.porn_words", c.Defang.PornWords}, {"defang.from_words", c.Defang.FromWords}} {
		for _, w := range words.list {
			if _, err := WordPattern(w); err != nil {
				ps = append(ps, problem{words.key, err.Error()})
			}
		}
	}
	for _, cs := range c.Defang.BlockCharsets {
		if cs == "" || strings.ContainsAny(cs, " \t?=\"';") {
			ps = append(ps, problem{"defang.block_charsets", fmt.Sprintf("%s is not a charset name, e.g. \"big5\"", oneline.Quote(cs))})
		}
	}
	for _, a := range c.Milter.CheckUser {
		if name, ok := strings.CutPrefix(a, "file:"); ok {
			if d := filepath.Base(name); name == "" || !strings.Contains(d, ".") {
				ps = append(ps, problem{"milter.check_user", fmt.Sprintf("%s: a file: entry names a file called for its domain, e.g. \"file:example.com\"", oneline.Quote(a))})
			}
			continue
		}
		if !strings.Contains(a, "@") || strings.HasPrefix(a, "@") || strings.HasSuffix(a, "@") {
			ps = append(ps, problem{"milter.check_user", fmt.Sprintf("%s is not a whole address, nor file:DOMAIN", oneline.Quote(a))})
		}
	}
	for _, h := range c.SPF.Headers {
		if h != HeaderReceivedSPF && h != HeaderAuthResults {
			ps = append(ps, problem{"spf.headers", fmt.Sprintf("%s is not %q or %q", oneline.Quote(h), HeaderReceivedSPF, HeaderAuthResults)})
		}
	}
	for _, names := range []struct {
		key  string
		list []string
	}{
		{"milter.hostname", []string{c.Milter.Hostname}},
		{"spf.delegate", []string{c.SPF.Delegate}},
		{"spf.trusted_forwarder", c.SPF.TrustedForwarder},
		{"srs.fwdomain", []string{c.SRS.FwDomain}},
		{"srs.ses", c.SRS.SES},
		{"srs.sign", c.SRS.Sign},
		{"srs.srs", c.SRS.SRS},
		{"srs.nosrs", c.SRS.NoSRS},
	} {
		for _, d := range names.list {
			if d != "" && !dnsname.Valid(d) {
				ps = append(ps, problem{names.key, fmt.Sprintf("%s is not a domain name", oneline.Quote(d))})
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps = append(ps, problem{"log.level", fmt.Sprintf("%s is not one of debug, info, warn, error", oneline.Quote(c.Log.Level))})
	}
	if c.Log.FlushInterval < 0 {
		ps = append(ps, problem{"log.flush_interval", "must not be negative (0 writes each line at once)"})
	}
	if _, err := SyslogFacility(c.Log.SyslogFacility); err != nil {
		ps = append(ps, problem{"log.syslog_facility", err.Error()})
	}
	ps = append(ps, c.BlockedSenders.validate(len(c.Milter.InternalDomains) > 0 || c.Milter.Hostname != "")...)
	for _, t := range []struct{ key, text string }{
		{"blocked_senders.defer_text", c.BlockedSenders.DeferText},
		{"blocked_senders.reject_text", c.BlockedSenders.RejectText},
		{"spf.why_url", c.SPF.WhyURL},
		{"greylist.text", c.Greylist.Text},
		{"watch.text", c.Watch.Text},
	} {
		if strings.ContainsAny(t.text, "\r\n") {
			ps = append(ps, problem{t.key, "must be one line"})
		}
	}
	return ps
}

// validate checks the address lists. A sender without '@' matches
// nothing; an exception without one ("bob", as Exim's exceptions.list
// has them) is that local part at one of our domains, so there must be
// one (ours: milter.internal_domains or milter.hostname).
func (b *BlockedSenders) validate(haveOurDomains bool) []problem {
	var ps []problem
	for _, s := range b.Senders {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(s, "@") {
			ps = append(ps, problem{"blocked_senders.senders", fmt.Sprintf(
				"%q is not an address: write %q, \"@example.com\" (a whole domain) or %q (that local part at any domain)", s, s+"@example.com", s+"@")})
		}
	}
	for _, e := range b.Exceptions {
		if e = strings.TrimSpace(e); e != "" && !strings.Contains(e, "@") && !haveOurDomains {
			ps = append(ps, problem{"blocked_senders.exceptions", fmt.Sprintf(
				"%q means %s at one of our domains, and neither milter.internal_domains nor milter.hostname names one: set internal_domains, or write %q", e, e, e+"@example.org")})
		}
	}
	return ps
}

// validHeaderName reports whether s is an RFC 5322 field name.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 127 || s[i] == ':' {
			return false
		}
	}
	return s != ""
}
