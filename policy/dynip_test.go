package policy

import (
	"net/netip"
	"testing"
)

func TestIsDynamic(t *testing.T) {
	tests := []struct {
		ptr, ip string
		want    bool
	}{
		// Access providers' customer addresses.
		{"adsl-69-208-201-177.dsl.emhril.ameritech.net", "69.208.201.177", true},
		{"c-71-63-151-151.hsd1.mn.comcast.net", "71.63.151.151", true},
		{"p50863492.dip0.t-ipconnect.de", "80.134.52.146", true},
		{"pD9E1A3B2.dip0.t-ipconnect.de", "217.225.163.178", true},
		{"146-52-134-80.pool.example.de", "80.134.52.146", true},
		{"pool-71-104-45-12.lsanca.fios.verizon.net", "71.104.45.12", true},
		{"cpe-98-27-14-2.neo.res.rr.com", "98.27.14.2", true},
		{"host86-150-33-7.range86-150.btcentralplus.com", "86.150.33.7", true},
		{"93-34-119-202.ip49.fastwebnet.it", "93.34.119.202", true},
		{"dslb-088-065-201-055.088.065.pools.vodafone-ip.de", "88.65.201.55", true},
		{"200-88-62-79.cable.tricom.net", "200.88.62.79", true},
		{"ppp-94-66-220-14.home.otenet.gr", "94.66.220.14", true},
		{"x1f2e3d4c.dyn.telefonica.de", "31.46.61.76", true},
		{"79-100-51-198.dhcp.example.org", "198.51.100.79", true},
		{"dhcp-077-250-045-210.chello.nl", "77.250.45.210", true},
		{"bzq-79-176-10-33.red.bezeqint.net", "79.176.10.33", true},
		{"5ac2b1d3.bb.sky.com", "90.194.177.211", true},
		{"ip68-101-123-45.sd.sd.cox.net", "68.101.123.45", true},
		{"187-12-34-56.dsl.telesp.net.br", "187.12.34.56", true},
		{"cable-24-135-7-2.dynamic.sbb.rs", "24.135.7.2", true},
		{"mobile-166-170-1-2.mycingular.net", "166.170.1.2", true},
		{"h-213-180-77-14.a163.priv.bahnhof.se", "213.180.77.14", true},
		{"static.123.45.67.89.clients.your-server.de", "89.67.45.123", true},
		{"user-12-34.dialup.example.com", "192.0.12.34", true},
		{"ns1234.dialup.example.net", "203.0.113.9", true},
		{"80.134.52.146.example.net", "80.134.52.146", true},
		{"2a02-8071-2b80-6c00-1d2c-3e4f-5a6b-7c8d.ip6.example.net", "2a02:8071:2b80:6c00:1d2c:3e4f:5a6b:7c8d", true},
		{"dyn-2a02-810d-4b3f-1234.pool.example.de", "2a02:810d:4b3f:1234::1", true},
		{"1d2c3e4f5a6b7c8d.v6.example.net", "2001:db8::1d2c:3e4f:5a6b:7c8d", true},

		// Mail servers, including some with numbers in their names.
		{"post3.fabulousdealz.com", "69.60.99.112", false},
		{"mail.example.com", "192.0.2.25", false},
		{"mx1.example.org", "198.51.100.1", false},
		{"mail-wr1-f54.google.com", "209.85.221.54", false},
		{"mail-io1-f41.google.com", "209.85.166.41", false},
		{"mail-db8eur05on2101.outbound.protection.outlook.com", "40.107.20.101", false},
		{"a27-45.smtp-out.amazonses.com", "54.240.27.45", false},
		{"mail.dsl-provider.example", "203.0.113.20", false},
		{"smtp.home.example.net", "203.0.113.21", false},
		{"mx01.cable-isp.example", "203.0.113.22", false},
		{"server1.hosting.example.com", "203.0.113.10", false},
		{"mail2.example.co.uk", "192.0.2.2", false},
		{"relay.pool.ntp.org", "192.0.2.3", false},
		{"mx-out-7.example.com", "198.51.100.7", false},
		{"ns1.example.net", "192.0.2.53", false},
		{"smtp-relay.example.org", "192.0.2.54", false},
		{"mail.user-support.example.com", "192.0.2.55", false},
		{"smtp4.example.com", "192.0.2.4", false},
		{"lists.debian.org", "82.195.75.100", false},
		{"mail.example.net", "2001:db8::25", false},
		{"mx6.example.org", "2001:db8:1::1", false},
		{"bounce.mailer.example", "198.51.100.200", false},
		{"o1.email.example.com", "167.89.0.1", false},
	}
	for _, tt := range tests {
		if got := isDynamic(tt.ptr, netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("isDynamic(%q, %s) = %v, want %v", tt.ptr, tt.ip, got, tt.want)
		}
	}
}
