package srs

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pysrs drives Debian's python3-srs (pysrs, what bms.py used) through
// testdata/pysrs.py: one request a line, one answer a line.
type pysrs struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

// python is Debian's interpreter, which sees Debian's python3-srs
// (another python3 first on PATH may not).
const python = "/usr/bin/python3"

func startPysrs(t *testing.T, secrets []string, maxAge, hashLength int, separator string) *pysrs {
	t.Helper()
	if err := exec.Command(python, "-c", "import SRS, SES").Run(); err != nil {
		t.Fatalf("Debian's python3-srs is needed (apt-get install python3-srs; .ci/run installs it): %v", err)
	}
	cmd := exec.Command(python, "testdata/pysrs.py", strings.Join(secrets, ","), strconv.Itoa(maxAge), strconv.Itoa(hashLength), separator)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("pysrs: %v\n%s", err, stderr.String())
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	return &pysrs{t: t, in: in, out: sc}
}

// ask sends one request and returns pysrs's result, or an error with
// its words.
func (p *pysrs) ask(op string, args ...string) (string, error) {
	p.t.Helper()
	fmt.Fprintln(p.in, op+" "+strings.Join(args, " "))
	if !p.out.Scan() {
		p.t.Fatalf("pysrs stopped answering (%s %v): %v", op, args, p.out.Err())
	}
	line := p.out.Text()
	if res, ok := strings.CutPrefix(line, "OK "); ok {
		return res, nil
	}
	return "", fmt.Errorf("pysrs: %s", strings.TrimPrefix(line, "ERR "))
}

// addresses are the senders the round trips run over: plain, odd and
// quoted local parts, with '=', '+' and '-', upper case, and other
// sites' SRS0 and SRS1 addresses.
func addresses(n int) []string {
	rnd := rand.New(rand.NewPCG(21, 2026))
	const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	const odd = "!#$%&'*+-/=?^_`{|}~."
	word := func(alphabet string, min, max int) string {
		b := make([]byte, min+rnd.IntN(max-min+1))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	domain := func() string {
		d := word("abcdefghijklmnopqrstuvwxyz0123456789", 1, 12) + "." + []string{"example", "com", "org", "co.uk", "EXAMPLE.NET", "xn--bcher-kva.example"}[rnd.IntN(6)]
		if rnd.IntN(5) == 0 {
			d = strings.ToUpper(d)
		}
		return d
	}
	fixed := []string{
		"user@example.com", "User.Name@Example.COM", "a=b@example.org", "a+tag@example.org",
		"x-y@example.org", "==@example.org", "a==b=@example.org", `"john smith"@example.com`,
		`"a=b@c"@example.com`, `"x"@example.com`, "SRS0@example.com", "srs0-not@example.com",
		"SRS2=abc@example.com", "ses=x@example.com", "postmaster@example.net",
	}
	out := append([]string(nil), fixed...)
	for len(out) < n {
		var local string
		switch rnd.IntN(6) {
		case 0, 1:
			local = word(plain, 1, 20)
		case 2:
			local = word(plain+odd, 1, 30)
		case 3:
			local = word(plain, 1, 8) + []string{"=", "+", "-", "=="}[rnd.IntN(4)] + word(plain, 1, 8)
		case 4:
			local = `"` + word(plain+odd+" @,;:", 1, 20) + `"`
		case 5:
			local = strings.ToUpper(word(plain+"=+", 1, 16))
		}
		out = append(out, local+"@"+domain())
	}
	return out
}

// TestPysrsRoundTrips is the interoperability test: with the same
// secret, what maxwell forwards pysrs reverses to the original, what
// pysrs forwards maxwell reverses, both write the same address on the
// same day, and neither accepts the other's address with a changed
// hash. Both run on the real clock.
func TestPysrsRoundTrips(t *testing.T) {
	for _, sep := range []string{"=", "+", "-"} {
		t.Run("separator "+sep, func(t *testing.T) {
			secrets := []string{"first secret", "older secret"}
			const maxAge, hashLen = 8, 8
			py := startPysrs(t, secrets, maxAge, hashLen, sep)
			r, err := New(Options{Secrets: secrets, MaxAge: maxAge, HashLength: hashLen, Separator: sep})
			if err != nil {
				t.Fatal(err)
			}
			day := time.Now().Unix() / 86400
			checked := 0
			for _, addr := range addresses(300) {
				ours, err := r.Forward(addr, "fwd.example")
				if err != nil {
					t.Errorf("Forward(%q): %v", addr, err)
					continue
				}
				theirs, err := py.ask("forward", addr, "fwd.example")
				if err != nil {
					t.Errorf("pysrs forward %q: %v", addr, err)
					continue
				}
				if time.Now().Unix()/86400 == day && ours != theirs {
					t.Errorf("forward %q: maxwell %q, pysrs %q", addr, ours, theirs)
				}
				// pysrs reverses ours; we reverse pysrs's, also after
				// a remote MTA smashed its case.
				if back, err := py.ask("reverse", ours); err != nil || back != want(addr) {
					t.Errorf("pysrs reverse %q = %q, %v; want %q", ours, back, err, want(addr))
				}
				for _, a := range []string{theirs, strings.ToUpper(theirs), strings.ToLower(theirs)} {
					back, err := r.Reverse(a)
					if err != nil || !sameAddr(back, want(addr)) {
						t.Errorf("Reverse(%q) = %q, %v; want %q", a, back, err, want(addr))
					}
				}
				// A hash changed in one character is refused by both.
				bad := tamper(ours)
				if _, err := py.ask("reverse", bad); err == nil {
					t.Errorf("pysrs reversed the tampered %q", bad)
				}
				if k, _ := KindOf(mustFail(r.Reverse(bad))); k != BadHash {
					t.Errorf("Reverse(tampered %q): kind %v, want BadHash", bad, k)
				}
				checked++
			}
			if checked < 300 {
				t.Errorf("%d addresses went round, want 300", checked)
			}
		})
	}
}

// want is what an address reverses to: itself, but for an address that
// looks like SRS0 in another case ("srs0-not@..."), which both read as
// SRS0 to forward as SRS1, and which comes back with the tag as the SRS
// paper writes it.
func want(addr string) string {
	if hasTag(addr, tag0) {
		return tag0 + addr[len(tag0):]
	}
	return addr
}

// sameAddr compares reversed addresses: a smashed case survives in
// the local part the hash was checked against in any case.
func sameAddr(a, b string) bool { return strings.EqualFold(a, b) }

// tamper changes the first character of an SRS address's hash, which
// follows the tag and its separator.
func tamper(addr string) string {
	i := strings.Index(strings.ToUpper(addr), "SRS") + len("SRS0=")
	return addr[:i] + string(other(addr[i])) + addr[i+1:]
}

// other is a letter that is not c in any case.
func other(c byte) byte {
	if c == 'A' || c == 'a' {
		return 'B'
	}
	return 'A'
}

func mustFail(_ string, err error) error { return err }

// TestPysrsSRS1 forwards another site's SRS0 address once more: maxwell
// and pysrs make the same SRS1 address, and each reverses the other's
// to the first hop's SRS0 address, which the first hop (with its own
// secret) reverses to the original.
func TestPysrsSRS1(t *testing.T) {
	first := startPysrs(t, []string{"the first hop"}, 8, 8, "=")
	py := startPysrs(t, []string{"our secret"}, 8, 8, "=")
	r, err := New(Options{Secrets: []string{"our secret"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addresses(100) {
		if IsSRS(addr) {
			continue // the first hop would make SRS1 of it
		}
		srs0, err := first.ask("forward", addr, "first.example")
		if err != nil {
			t.Fatalf("first hop: %v", err)
		}
		ours, err := r.Forward(srs0, "second.example")
		if err != nil {
			t.Fatalf("Forward(%q): %v", srs0, err)
		}
		theirs, err := py.ask("forward", srs0, "second.example")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ours, "SRS1=") && !strings.HasPrefix(ours, `"SRS1=`) {
			t.Errorf("Forward(%q) = %q: want SRS1", srs0, ours)
		}
		if ours != theirs {
			t.Errorf("SRS1 of %q: maxwell %q, pysrs %q", srs0, ours, theirs)
		}
		if back, err := py.ask("reverse", ours); err != nil || back != srs0 {
			t.Errorf("pysrs reverse %q = %q, %v; want %q", ours, back, err, srs0)
		}
		back, err := r.Reverse(theirs)
		if err != nil || back != srs0 {
			t.Errorf("Reverse(%q) = %q, %v; want %q", theirs, back, err, srs0)
		}
		if orig, err := first.ask("reverse", back); err != nil || orig != want(addr) {
			t.Errorf("first hop reverse %q = %q, %v; want %q", back, orig, err, addr)
		}
		// A third hop of SRS1 stays SRS1, the hash ours.
		again, err := r.Forward(ours, "third.example")
		if err != nil || !strings.Contains(again, "SRS1") {
			t.Errorf("Forward(SRS1 %q) = %q, %v", ours, again, err)
		}
		if back, err := py.ask("reverse", again); err != nil || back != srs0 {
			t.Errorf("pysrs reverse of the third hop %q = %q, %v; want %q", again, back, err, srs0)
		}
	}
}

// TestPysrsSignAndAge covers signing mode, secret rotation and the age
// limit: addresses made maxage days ago are accepted by both, one day
// older by neither.
func TestPysrsSignAndAge(t *testing.T) {
	const maxAge = 5
	py := startPysrs(t, []string{"new", "old"}, maxAge, 6, "=")
	pyOld := startPysrs(t, []string{"old"}, maxAge, 6, "=")
	r, err := New(Options{Secrets: []string{"new", "old"}, MaxAge: maxAge, HashLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addresses(60) {
		signed, err := r.Sign(addr)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := py.ask("sign", addr)
		if err != nil {
			t.Fatal(err)
		}
		if signed != theirs {
			t.Errorf("Sign(%q) = %q, pysrs %q", addr, signed, theirs)
		}
		if back, err := py.ask("reverse", signed); err != nil || back != want(addr) {
			t.Errorf("pysrs reverse of signed %q = %q, %v", signed, back, err)
		}
		// Made with the old secret only: still accepted.
		old, err := pyOld.ask("forward", addr, "fwd.example")
		if err != nil {
			t.Fatal(err)
		}
		if back, err := r.Reverse(old); err != nil || back != want(addr) {
			t.Errorf("Reverse(old secret %q) = %q, %v", old, back, err)
		}
	}
	for _, tc := range []struct {
		days int
		ok   bool
	}{{0, true}, {maxAge, true}, {maxAge + 1, false}, {-1, false}} {
		then := time.Now().Add(-time.Duration(tc.days) * 24 * time.Hour)
		aged, _ := New(Options{Secrets: []string{"new"}, MaxAge: maxAge, HashLength: 6, Now: func() time.Time { return then }})
		addr, err := aged.Forward("someone@example.com", "fwd.example")
		if err != nil {
			t.Fatal(err)
		}
		_, pyErr := py.ask("reverse", addr)
		_, err = r.Reverse(addr)
		if (pyErr == nil) != tc.ok || (err == nil) != tc.ok {
			t.Errorf("made %d days ago: pysrs %v, maxwell %v; want accepted=%v", tc.days, pyErr, err, tc.ok)
		}
		if !tc.ok {
			if k, _ := KindOf(err); k != Expired {
				t.Errorf("made %d days ago: %v, want Expired", tc.days, err)
			}
		}
	}
}

// TestPysrsSES: what maxwell signs with SES pysrs verifies, and the
// other way round; a changed signature fails on both.
func TestPysrsSES(t *testing.T) {
	py := startPysrs(t, []string{"ses secret"}, 8, 8, "=")
	s, err := NewSES([]string{"ses secret"}, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, addr := range addresses(200) {
		if strings.Count(addr, "=") > 0 || addr[0] == '"' {
			continue // pysrs's SES reads SES=SIG=local: a local part with '=' does not verify there
		}
		ours, err := s.Sign(addr)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := py.ask("sesverify", ours); err != nil || back != addr {
			t.Errorf("pysrs sesverify %q = %q, %v", ours, back, err)
		}
		theirs, err := py.ask("sessign", addr)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := s.Verify(theirs); err != nil || back != addr {
			t.Errorf("Verify(%q) = %q, %v", theirs, back, err)
		}
		sig := strings.Split(ours, "=")[1]
		flipped := "SES=" + sig[:len(sig)-1] + string(other(sig[len(sig)-1])) + ours[len("SES=")+len(sig):]
		if _, err := s.Verify(flipped); err == nil {
			t.Errorf("Verify accepted the altered %q", flipped)
		}
		n++
	}
	if n < 100 {
		t.Errorf("only %d SES addresses checked", n)
	}
}
