package watch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/store"
)

func TestBanKey(t *testing.T) {
	for _, c := range []struct {
		kind, key, want string
		bad             bool
	}{
		{kind: store.BanIP, key: "192.0.2.7", want: "192.0.2.7"},
		{kind: store.BanClient, key: "::ffff:192.0.2.7", want: "192.0.2.7"},
		{kind: store.BanClient, key: "2001:DB8::1", want: "2001:db8::1"},
		{kind: store.BanSender, key: "Spam@Example.COM", want: "spam@example.com"},
		{kind: store.BanIP, key: "192.0.2.0/24", bad: true},
		{kind: store.BanClient, key: "mx.example.com", bad: true},
		{kind: store.BanSender, key: "nobody", bad: true},
		{kind: store.BanLifted, key: "192.0.2.7", bad: true},
		{kind: "helo", key: "x@y", bad: true},
	} {
		got, err := BanKey(c.kind, c.key)
		if c.bad != (err != nil) || got != c.want {
			t.Errorf("BanKey(%q, %q) = %q, %v", c.kind, c.key, got, err)
		}
	}
}

func TestBanReason(t *testing.T) {
	for _, c := range []struct {
		reason, want string
		bad          bool
	}{
		{reason: "  dictionary attack ", want: "dictionary attack"},
		{reason: "", want: "by hand"},
		{reason: "<b>spam</b> run", want: "<b>spam</b> run"}, // text: pages escape it
		{reason: strings.Repeat("é", MaxBanReason), want: strings.Repeat("é", MaxBanReason)},
		{reason: strings.Repeat("x", MaxBanReason+1), bad: true},
		{reason: "a\nevent=web user=root", bad: true},
		{reason: "a\rb", bad: true},
		{reason: "a\u2028b", bad: true},
		{reason: "a\xffb", bad: true},
	} {
		got, err := BanReason(c.reason)
		if c.bad != (err != nil) || got != c.want {
			t.Errorf("BanReason(%q) = %q, %v", c.reason, got, err)
		}
	}
}

// AddBan sets each kind's expiry from the configuration; DeleteBan lifts
// a client's ban through Lift, the others as they are.
func TestAddAndDeleteBan(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.clock
	for _, c := range []struct {
		kind, key, stored string
		until             time.Duration // 0: until lifted
	}{
		{store.BanIP, "::ffff:192.0.2.7", "192.0.2.7", f.cfg.Milter.BanTime.D()},
		{store.BanClient, "192.0.2.8", "192.0.2.8", f.cfg.Watch.GoodBehaviour.D()},
		{store.BanSender, "Spam@Example.com", "spam@example.com", 0},
	} {
		b, err := AddBan(ctx, f.st, f.cfg, c.kind, c.key, "by hand", now)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Time{}
		if c.until > 0 {
			want = now.Add(c.until)
		}
		got, err := f.st.Banned(ctx, c.kind, c.stored, now)
		if err != nil || got == nil || got.Reason != "by hand" || !got.Expires.Equal(want) || !b.Expires.Equal(want) || b.Key != c.stored {
			t.Errorf("%s %s: stored %+v (%v), returned %+v; want until %v", c.kind, c.key, got, err, b, want)
		}
		if ok, err := DeleteBan(ctx, f.st, f.cfg, c.kind, c.key, now); !ok || err != nil {
			t.Errorf("%s %s: DeleteBan = %v, %v", c.kind, c.key, ok, err)
		}
		if ok, err := DeleteBan(ctx, f.st, f.cfg, c.kind, c.key, now); ok || err != nil {
			t.Errorf("%s %s: DeleteBan again = %v, %v", c.kind, c.key, ok, err)
		}
		lifted, _ := f.st.Banned(ctx, store.BanLifted, c.stored, now)
		if (lifted != nil) != (c.kind == store.BanClient) {
			t.Errorf("%s %s: the record of a lifting: %+v", c.kind, c.key, lifted)
		}
	}
	if _, err := AddBan(ctx, f.st, f.cfg, store.BanSender, "nobody", "", now); err == nil {
		t.Error("AddBan of a sender without '@': no error")
	}
	if _, err := DeleteBan(ctx, f.st, f.cfg, store.BanIP, "nowhere", now); err == nil {
		t.Error("DeleteBan of no address: no error")
	}
}
