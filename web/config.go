package web

import (
	"net/http"
	"strings"
)

// configView is the configuration page's data.
type configView struct {
	File string // the file it was read from, "" for the embedded defaults
	TOML string // the configuration, its secrets replaced by config.Redacted
}

// configPage shows the configuration in use, as TOML that maxwell reads
// back, every secret hidden (config.WriteRedacted): for every user,
// read-only ones too. It changes nothing; the file does.
func (c *console) configPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.base(s, "Configuration")
	var b strings.Builder
	if err := c.deps.Config().WriteRedacted(&b); err != nil {
		c.deps.Diag.Error("web: writing the configuration", "error", err)
		v.Error = "The configuration could not be shown: see the diagnostic log."
		c.render(w, http.StatusInternalServerError, "config", v)
		return
	}
	v.Data = configView{File: c.deps.ConfigFile, TOML: b.String()}
	c.render(w, http.StatusOK, "config", v)
}
