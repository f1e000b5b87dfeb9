package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/pgtest"
)

// banStores are a SQLite store, a PostgreSQL one under the C collation
// (pgtest's) and one under ICU's en-US, which orders text otherwise.
func banStores(t *testing.T) []struct {
	name     string
	st       *sqlStore
	bytewise bool
} {
	ctx := context.Background()
	lite, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "maxwell.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	srv := pgtest.Start(t)
	pg, err := OpenPostgres(ctx, srv.NewDB(t), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	admin, err := sql.Open("pgx", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`); err != nil {
		t.Fatal(err)
	}
	icu, err := OpenPostgres(ctx, srv.DSN("icu"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { icu.Close() })
	return []struct {
		name     string
		st       *sqlStore
		bytewise bool
	}{
		{"sqlite", lite.(*sqlStore), true},
		{"postgres", pg.(*sqlStore), true},
		{"postgres-icu", icu.(*sqlStore), false},
	}
}

// Every page of bans is read from a range of the blacklist's primary
// key, in its order: neither a scan of the table nor a sort, with 60 000
// bans. Under ICU a prefix search still finds the keys that start with
// it, where the range of byte order would miss them ("1:" and "z{" come
// before "19" and "zz" in ICU's order), from the prefix on.
func TestBanPageIndexedInAnyCollation(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_795_000_000_123)
	keys := []string{"192.0.2.19", "192.0.2.190", "192.0.2.1:", "192.0.2.2", "spam@z.example", "spam@zz.example", "spam@z{.example", "spam@{.example"}
	prefixes := map[string][]string{
		"192.0.2.19": {"192.0.2.19", "192.0.2.190"},
		"192.0.2.1":  {"192.0.2.19", "192.0.2.190", "192.0.2.1:"},
		"spam@z":     {"spam@z.example", "spam@zz.example", "spam@z{.example"},
		"spam@zz":    {"spam@zz.example"},
	}
	fill := strings.NewReplacer("\n", " ").Replace(`INSERT INTO blacklist (kind, name, reason, created, expires)
		SELECT k.kind, 'key' || n.i, 'r', 1, 0 FROM
		(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT i FROM n) n,
		(SELECT 'client' AS kind UNION ALL SELECT 'ip' UNION ALL SELECT 'sender') k`)
	for _, c := range banStores(t) {
		s := c.st
		if s.bytewise != c.bytewise {
			t.Errorf("%s: bytewise %v, want %v", c.name, s.bytewise, c.bytewise)
		}
		for _, k := range keys {
			if err := s.Ban(ctx, Ban{Kind: BanIP, Key: k, Reason: "r", Created: now}); err != nil {
				t.Fatal(err)
			}
		}
		for p, want := range prefixes {
			var got []string
			for after := ""; ; { // pages of one: each key once
				bs, err := s.BanPage(ctx, BanFilter{Kind: BanIP, Key: p, Prefix: true, After: after, Now: now, Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				if len(bs) == 0 {
					break
				}
				got, after = append(got, bs[0].Key), bs[0].Key
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: keys starting with %q: %q, want %q", c.name, p, got, want)
			}
		}

		if _, err := s.db.ExecContext(ctx, fill); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := s.db.ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		explain, want, never := "EXPLAIN ", "Index Scan using blacklist_pkey", []string{"Sort", "Seq Scan", "Bitmap"}
		if c.name == "sqlite" {
			explain, want, never = "EXPLAIN QUERY PLAN ", "SEARCH blacklist USING INDEX sqlite_autoindex_blacklist_1 (kind=?", []string{"TEMP B-TREE"}
		}
		for _, f := range []BanFilter{
			{Kind: BanClient, Now: now, Limit: 101},
			{Kind: BanClient, After: "key1", Now: now, Limit: 101},
			{Kind: BanIP, Key: "key1", Now: now, Limit: 101},
			{Kind: BanSender, Key: "key1", Prefix: true, After: "key10", Now: now, Limit: 101},
		} {
			q, args, err := f.query(s.bytewise)
			if err != nil {
				t.Fatal(err)
			}
			plan := explainPlan(t, s.rdb, explain+q, args...)
			want, never := want, never
			if f.Prefix && !s.bytewise {
				// From the prefix on, in the key's order or sorted after.
				want, never = "Index Cond: ((kind = 'sender'::text) AND (name >= 'key1'::text)", []string{"Seq Scan"}
			}
			if !strings.Contains(plan, want) {
				t.Errorf("%s: %+v: the plan has no %q:\n%s", c.name, f, want, plan)
			}
			for _, n := range never {
				if strings.Contains(plan, n) {
					t.Errorf("%s: %+v: the plan has %q:\n%s", c.name, f, n, plan)
				}
			}
		}
	}
}

// explainPlan returns the plan the database gives for EXPLAIN q: each
// row's last column, a line each.
func explainPlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&plan, vals[len(vals)-1])
	}
	return plan.String()
}
