package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Sign returns the webhook-signature value for msgID, timestamp and body:
// one "v1,<base64 HMAC-SHA256 of msgID.unix-seconds.body>" per secret,
// separated by spaces, in the order of secrets. It is exported so that
// everything dispatchd sends (operational webhooks too) and tests sign the
// same way.
//
// A secret "whsec_<base64>" signs with its decoded bytes, as Standard
// Webhooks specifies; any other secret, including a "whsec_" one whose rest
// is not base64, signs with its raw bytes. Empty secrets are skipped: a
// signature anyone can compute proves nothing.
func Sign(secrets []string, msgID string, ts time.Time, body []byte) string {
	var b strings.Builder
	for _, s := range secrets {
		if s == "" {
			continue
		}
		mac := hmac.New(sha256.New, signingKey(s))
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}

// signingKey returns the HMAC key of a secret. Standard base64 is what the
// specification and its libraries use, and what config validation accepts.
func signingKey(secret string) []byte {
	if enc, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if key, err := base64.StdEncoding.DecodeString(enc); err == nil && len(key) > 0 {
			return key
		}
	}
	return []byte(secret)
}
