package reputation

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// The peer protocol: a peer asks
//
//	GET /v1/reputation?id=spf:example.com
//	X-Reputation-Time: 1795000000         (Unix seconds)
//	X-Reputation-Nonce: 32 hex digits      (random, never used twice)
//	X-Reputation-Signature: hex HMAC-SHA256(secret, request string)
//
// and is answered, signed with the same secret over the nonce and the
// body, so that an answer cannot be replayed for another question:
//
//	200, X-Reputation-Signature: hex HMAC-SHA256(secret, answer string)
//	{"id":"spf:example.com","score":-0.42,"observations":12.5}
const (
	Path            = "/v1/reputation"
	HeaderTime      = "X-Reputation-Time"
	HeaderNonce     = "X-Reputation-Nonce"
	HeaderSignature = "X-Reputation-Signature"
)

// Window is how far a request's time may be from the server's clock: a
// request older than that cannot be replayed, and its nonce need only
// be remembered that long.
const Window = 5 * time.Minute

// maxBody bounds an answer a client reads: a few numbers and an ID.
const maxBody = 4 << 10

// Answer is what a peer said of an identity, or why it said nothing.
type Answer struct {
	Peer         string
	Weight       float64
	Score        float64 // in [-1, 1]
	Observations float64 // the evidence behind it: its decayed counts
	Err          error   // no usable answer: the peer counts for nothing
}

// answerBody is the JSON of an answer.
type answerBody struct {
	ID           string  `json:"id"`
	Score        float64 `json:"score"`
	Observations float64 `json:"observations"`
}

// SignRequest is the signature of a question (the method, the identity,
// the time in Unix seconds and the nonce, a line each).
func SignRequest(secret, method, id string, t time.Time, nonce string) string {
	return mac(secret, "maxwell-reputation-v1 request\n"+method+"\n"+id+"\n"+strconv.FormatInt(t.Unix(), 10)+"\n"+nonce)
}

// SignAnswer is the signature of an answer (its body) to the question
// of nonce.
func SignAnswer(secret, nonce string, body []byte) string {
	return mac(secret, "maxwell-reputation-v1 answer\n"+nonce+"\n"+string(body))
}

func mac(secret, s string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// sameMAC compares two signatures in constant time.
func sameMAC(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
