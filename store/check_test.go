package store

import (
	"strings"
	"testing"
)

// A connection string that does not parse is refused without
// connecting, and the error does not show the password.
func TestCheckDSN(t *testing.T) {
	for _, good := range []string{"postgres://maxwell:s3cret@db.example/maxwell", "host=/run/postgresql dbname=maxwell"} {
		if err := CheckDSN(good); err != nil {
			t.Errorf("CheckDSN(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"postgres://maxwell:s3cret@db.example:notaport/maxwell", "postgres://maxwell:s3cret@[db.example/maxwell", "host=x password=s3cret port=oops"} {
		err := CheckDSN(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "cannot be parsed") {
			t.Errorf("CheckDSN(%q) = %v", bad, err)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckDSN(%q) shows the password: %v", bad, err)
		}
	}
}
