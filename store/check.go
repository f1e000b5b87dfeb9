package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CheckDSN tells, without connecting, whether a PostgreSQL connection
// string parses. The error never shows the string: it may hold a
// password.
func CheckDSN(dsn string) error {
	_, err := pgx.ParseConfig(dsn)
	if err == nil {
		return nil
	}
	// pgx says "cannot parse `DSN, password masked`: REASON"; a URL's
	// parse error quotes the whole URL.
	reason := err.Error()
	if i := strings.LastIndex(reason, "`: "); i >= 0 {
		reason = reason[i+3:]
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		reason = ue.Err.Error()
	}
	reason = strings.ReplaceAll(reason, dsn, "…")
	return fmt.Errorf("cannot be parsed (%s): write a URL, postgres://user:password@host/database, or key=value pairs, host=/run/postgresql dbname=maxwell", reason)
}
