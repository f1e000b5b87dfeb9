package milter

import (
	"errors"
	"fmt"
	"net"
)

// maxPacket bounds one milter packet: a body chunk is at most 1 MiB
// (SMFIP_MDS_1M), everything else much smaller. go-milter itself would
// allocate up to 512 MiB for whatever length a peer announces.
const maxPacket = 2 << 20

// errGarbage ends a milter connection whose peer does not speak the
// protocol.
var errGarbage = errors.New("milter: malformed packet")

// guardConn checks the framing of what the MTA sends before go-milter
// sees it: a packet of length zero or above maxPacket, or a CONNECT, MAIL
// or RCPT packet without the NUL-terminated string it must start with,
// would otherwise make go-milter allocate without bound or panic (and a
// panic in its connection goroutine ends the daemon). A bad packet closes
// the connection instead; nothing of it reaches go-milter.
type guardConn struct {
	net.Conn

	hdr       [4]byte
	hdrN      int    // bytes of the length prefix seen
	remaining uint32 // bytes of the current packet still to come
	code      byte   // command of the current packet; 0 until seen
	needNUL   bool   // the packet must contain a NUL ...
	afterNUL  int    // ... followed by this many more bytes at least
	seenNUL   bool
	tail      int // bytes seen after the first NUL
}

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if gerr := c.scan(p[:n]); gerr != nil {
			return 0, gerr // go-milter logs it and closes the connection
		}
	}
	return n, err
}

// scan advances the framing state over b, which is about to be handed on.
func (c *guardConn) scan(b []byte) error {
	for len(b) > 0 {
		if c.hdrN < 4 { // length prefix
			k := copy(c.hdr[c.hdrN:], b)
			c.hdrN += k
			b = b[k:]
			if c.hdrN == 4 {
				l := uint32(c.hdr[0])<<24 | uint32(c.hdr[1])<<16 | uint32(c.hdr[2])<<8 | uint32(c.hdr[3])
				if l == 0 || l > maxPacket {
					return fmt.Errorf("%w: length %d", errGarbage, l)
				}
				c.remaining, c.code = l, 0
			}
			continue
		}
		if c.code == 0 { // command byte
			c.code = b[0]
			b = b[1:]
			c.remaining--
			c.seenNUL, c.tail = false, 0
			switch c.code {
			case 'C': // hostname NUL, family, ...
				c.needNUL, c.afterNUL = true, 1
			case 'M', 'R': // address NUL [args]
				c.needNUL, c.afterNUL = true, 0
			default:
				c.needNUL = false
			}
		} else {
			k := min(uint32(len(b)), c.remaining)
			if c.needNUL {
				for _, ch := range b[:k] {
					if c.seenNUL {
						c.tail++
					} else if ch == 0 {
						c.seenNUL = true
					}
				}
			}
			b = b[k:]
			c.remaining -= k
		}
		if c.remaining == 0 {
			if c.needNUL && (!c.seenNUL || c.tail < c.afterNUL) {
				return fmt.Errorf("%w: command %q without its NUL-terminated argument", errGarbage, c.code)
			}
			c.hdrN = 0
		}
	}
	return nil
}
