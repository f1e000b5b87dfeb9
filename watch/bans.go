package watch

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/store"
)

// The blacklist as an administrator changes it, by hand: maxwell
// blacklist and the web console call these, so that both check keys,
// set expiries and lift bans alike. They live here for Lift, which a
// client's ban needs.

// BanKinds are the kinds of ban an administrator lists, adds and
// deletes; store.BanLifted is no ban.
var BanKinds = []string{store.BanClient, store.BanIP, store.BanSender}

// BanKey checks key as the key of a ban of kind and returns it as the
// store keeps it: an IP address (ip, client) unmapped from IPv6, a
// sender (it has an '@') lower-cased.
func BanKey(kind, key string) (string, error) {
	switch kind {
	case store.BanSender:
		if !strings.Contains(key, "@") {
			return "", fmt.Errorf("%q is not an address", key)
		}
		return strings.ToLower(key), nil
	case store.BanIP, store.BanClient:
		addr, err := netip.ParseAddr(key)
		if err != nil {
			return "", fmt.Errorf("%q is not an address", key)
		}
		return addr.Unmap().String(), nil
	}
	return "", fmt.Errorf("no kind of ban %q: one of %s", kind, strings.Join(BanKinds, ", "))
}

// MaxBanReason is the most characters a ban's reason may have.
const MaxBanReason = 200

// BanReason checks the reason given for a ban and returns it as kept:
// UTF-8, at most MaxBanReason characters, no control characters or line
// breaks (it goes into the store, the mail log, listings and pages as it
// is), spaces around it gone; an empty one is "by hand".
func BanReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case !utf8.ValidString(reason):
		return "", fmt.Errorf("reason: not UTF-8")
	case utf8.RuneCountInString(reason) > MaxBanReason:
		return "", fmt.Errorf("reason: at most %d characters", MaxBanReason)
	case strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) }):
		return "", fmt.Errorf("reason: no control characters or line breaks")
	case reason == "":
		return "by hand", nil
	}
	return reason, nil
}

// AddBan bans key (as BanKey takes it) of kind at now for reason (as
// BanReason takes it), for
// as long as cfg says: an IP as demerits ban it, for [milter] ban_time; a
// client as the watcher blacklists it, for [watch] good_behaviour; a
// sender until the ban is deleted. It returns the ban stored.
func AddBan(ctx context.Context, st store.Store, cfg *config.Config, kind, key, reason string, now time.Time) (store.Ban, error) {
	key, err := BanKey(kind, key)
	if err != nil {
		return store.Ban{}, err
	}
	if reason, err = BanReason(reason); err != nil {
		return store.Ban{}, err
	}
	b := store.Ban{Kind: kind, Key: key, Reason: reason, Created: now}
	switch kind {
	case store.BanIP:
		b.Expires = now.Add(cfg.Milter.BanTime.D())
	case store.BanClient:
		b.Expires = now.Add(cfg.Watch.GoodBehaviour.D())
	}
	return b, st.Ban(ctx, b)
}

// DeleteBan lifts the ban of kind on key (as BanKey takes it) at now and
// reports whether there was one. A client's goes through Lift, so that
// no watcher blacklists it again for what it did before.
func DeleteBan(ctx context.Context, st store.Store, cfg *config.Config, kind, key string, now time.Time) (bool, error) {
	key, err := BanKey(kind, key)
	if err != nil {
		return false, err
	}
	if kind == store.BanClient {
		return Lift(ctx, st, cfg, key, now)
	}
	return st.Unban(ctx, kind, key)
}
