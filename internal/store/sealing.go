package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/secretbox"
)

// Option configures a Store.
type Option func(*Store)

// WithKeyring seals every endpoint and source spec written (they hold the
// secrets) under k's first key, and opens specs sealed under any of its
// keys. Specs stored in clear, before encryption was configured, still
// read; the next write or a Reencrypt seals them.
func WithKeyring(k *secretbox.Keyring) Option {
	return func(s *Store) { s.keys = k }
}

// sealedField is the one member of a sealed spec's JSON. The column stays
// JSON (PostgreSQL's is JSONB), so a sealed spec is a JSON object too;
// "$sealed" is no field of any spec.
const sealedField = "$sealed"

type sealedSpec struct {
	Sealed string `json:"$sealed"`
}

// marshalSpec is the JSON of spec as stored: sealed when the store has a
// keyring. kind and name bind the sealed value to its row.
func (s *Store) marshalSpec(kind, name string, spec any) ([]byte, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	return s.sealSpec(kind, name, b)
}

func (s *Store) sealSpec(kind, name string, plain []byte) ([]byte, error) {
	if s.keys == nil {
		return plain, nil
	}
	return json.Marshal(sealedSpec{Sealed: s.keys.Seal(plain, specAAD(kind, name))})
}

// unmarshalSpec reads a stored spec into dst, opening it when sealed.
func (s *Store) unmarshalSpec(kind, name string, stored []byte, dst any) error {
	plain, _, err := s.openSpec(kind, name, stored)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, dst)
}

// openSpec returns the plain JSON of a stored spec and the id of the key
// that sealed it ("" for a spec stored in clear).
func (s *Store) openSpec(kind, name string, stored []byte) (plain []byte, keyID string, err error) {
	if !bytes.Contains(stored, []byte(`"`+sealedField+`"`)) {
		return stored, "", nil
	}
	var sealed sealedSpec
	if err := json.Unmarshal(stored, &sealed); err != nil || sealed.Sealed == "" {
		// Some value of a spec in clear happens to hold the word.
		return stored, "", nil
	}
	if s.keys == nil {
		return nil, "", errors.New("the spec is encrypted and no DISPATCHD_ENCRYPTION_KEY is configured")
	}
	plain, err = s.keys.Open(sealed.Sealed, specAAD(kind, name))
	if err != nil {
		return nil, "", err
	}
	return plain, secretbox.KeyID(sealed.Sealed), nil
}

func specAAD(kind, name string) []byte { return []byte(kind + ":" + name) }

// ReencryptReport counts what Reencrypt did.
type ReencryptReport struct {
	// Sealed is how many specs it re-sealed under the first key (sealed
	// under another key, or stored in clear).
	Sealed int
	// Current is how many were already sealed under the first key.
	Current int
	// Payloads is how many event bodies, job payloads, excerpts and
	// example payloads it re-sealed under the first key (or sealed, when
	// stored in clear and payload encryption is on); PayloadsCurrent how
	// many already were.
	Payloads, PayloadsCurrent int
}

// reencryptBatch is how many payloads one transaction of Reencrypt
// re-seals: short transactions, so the service keeps running meanwhile.
const reencryptBatch = 200

// specTries bounds how often Reencrypt reads a spec again because it
// changed between the read and the write.
const specTries = 100

// Reencrypt seals every source and endpoint spec that is not sealed under
// the keyring's first key yet, one row at a time, and every sealed
// payload (event bodies, job payloads, response and request excerpts,
// the catalog's examples) in batches, so that the service keeps running
// meanwhile; updated_at is kept. With payload encryption on, payloads
// stored in clear are sealed too. Each write replaces the value read only
// if the row still holds it, so an edit made meanwhile is never lost (a
// spec is then read again; a payload rewritten meanwhile was sealed by
// its writer). Once it has run, keys other than the first can be dropped
// from the ring.
func (s *Store) Reencrypt(ctx context.Context) (ReencryptReport, error) {
	var rep ReencryptReport
	if s.keys == nil {
		return rep, errors.New("no keyring: set DISPATCHD_ENCRYPTION_KEY")
	}
	w := s.d.Writer()
	sources, err := w.ListSources(ctx)
	if err != nil {
		return rep, s.wrap("list sources", err)
	}
	for _, listed := range sources {
		get := func() ([]byte, error) {
			r, err := w.GetSource(ctx, listed.Name)
			return r.Spec, err
		}
		if err := s.reencryptSpec(ctx, "source", listed.Name, get, w.ReplaceSourceSpec, &rep); err != nil {
			return rep, s.wrap(fmt.Sprintf("re-encrypt source %s", listed.Name), err)
		}
	}
	endpoints, err := w.ListEndpoints(ctx)
	if err != nil {
		return rep, s.wrap("list endpoints", err)
	}
	for _, listed := range endpoints {
		get := func() ([]byte, error) {
			r, err := w.GetEndpoint(ctx, listed.Name)
			return r.Spec, err
		}
		if err := s.reencryptSpec(ctx, "endpoint", listed.Name, get, w.ReplaceEndpointSpec, &rep); err != nil {
			return rep, s.wrap(fmt.Sprintf("re-encrypt endpoint %s", listed.Name), err)
		}
	}
	for _, c := range sealedColumns {
		if err := s.reencryptColumn(ctx, c, &rep); err != nil {
			return rep, s.wrap("re-encrypt "+string(c.col)+"s", err)
		}
	}
	return rep, nil
}

// reencryptSpec re-seals one spec under the first key, reading it again
// when an edit replaced it between the read and the write.
func (s *Store) reencryptSpec(ctx context.Context, kind, name string, get func() ([]byte, error),
	replace func(ctx context.Context, name string, old, spec []byte) (bool, error), rep *ReencryptReport) error {
	for range specTries {
		stored, err := get()
		if errors.Is(err, ErrNoRows) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		plain, id, err := s.openSpec(kind, name, stored)
		if err != nil {
			return err
		}
		if id == s.keys.CurrentKeyID() {
			rep.Current++
			return nil
		}
		b, err := s.sealSpec(kind, name, plain)
		if err != nil {
			return err
		}
		ok, err := replace(ctx, name, stored, b)
		if err != nil {
			return err
		}
		if ok {
			rep.Sealed++
			return nil
		}
	}
	return fmt.Errorf("the spec changed %d times while it was being re-encrypted", specTries)
}

// sealedColumn is how one SealedColumn is sealed: the mark before the
// sealed value and what it is bound to.
type sealedColumn struct {
	col    SealedColumn
	prefix []byte
	aad    func(key string) string
	// onePage: the column is read whole in one call (a few rows per
	// event type, keyed by name and shard, so no single key pages it).
	onePage bool
}

var sealedColumns = []sealedColumn{
	{col: SealedEventBody, prefix: payloadPrefix, aad: eventAAD},
	{col: SealedJobPayload, prefix: payloadPrefix, aad: func(string) string { return jobPayloadAAD }},
	{col: SealedAttemptExcerpt, prefix: []byte(excerptPrefix), aad: attemptAAD},
	{col: SealedRequestExcerpt, prefix: payloadPrefix, aad: requestAAD},
	{col: SealedEventTypeExample, prefix: payloadPrefix, aad: eventTypeAAD},
	{col: SealedEventTypeCountExample, prefix: payloadPrefix, aad: eventTypeAAD, onePage: true},
}

// reencryptColumn pages through one column, re-sealing each page's values
// in one transaction.
func (s *Store) reencryptColumn(ctx context.Context, c sealedColumn, rep *ReencryptReport) error {
	cur := s.keys.CurrentKeyID()
	after := ""
	for {
		cells, err := s.d.Writer().ListSealedCells(ctx, c.col, after, reencryptBatch)
		if err != nil {
			return err
		}
		if len(cells) == 0 {
			return nil
		}
		after = cells[len(cells)-1].Key
		type change struct {
			cell  SealedCell
			value []byte
		}
		var changes []change
		for _, cell := range cells {
			rest, sealed := bytes.CutPrefix(cell.Value, c.prefix)
			switch {
			case sealed && secretbox.KeyID(string(rest)) == cur:
				rep.PayloadsCurrent++
				continue
			case !sealed && !s.sealPayloads:
				continue // payloads in clear stay so
			}
			aad := []byte(c.aad(cell.Key))
			plain := cell.Value
			if sealed {
				if plain, err = s.keys.Open(string(rest), aad); err != nil {
					return fmt.Errorf("%s %s: %w", c.col, cell.Key, err)
				}
			}
			sealedNow := append(bytes.Clone(c.prefix), s.keys.Seal(plain, aad)...)
			changes = append(changes, change{cell, sealedNow})
		}
		if len(changes) > 0 {
			replaced := 0
			err = s.inTx(ctx, func(tx Tx) error {
				replaced = 0
				for _, ch := range changes {
					ok, err := tx.ReplaceSealedCell(ctx, c.col, ch.cell, ch.value)
					if err != nil {
						return err
					}
					if ok {
						replaced++
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			rep.Payloads += replaced
		}
		if c.onePage || len(cells) < reencryptBatch {
			return nil
		}
	}
}

// WithPayloadEncryption seals event bodies, job payloads, the response
// excerpts of attempts, the body excerpts of refused requests and the
// catalog's example payloads as well,
// under the keyring of WithKeyring (without one it does nothing). Bodies
// stored in clear before it was turned on still read.
func WithPayloadEncryption() Option {
	return func(s *Store) { s.sealPayloads = true }
}

// payloadPrefix marks a sealed body or payload. It starts with NUL, which
// no JSON body does; an opaque body stored in clear that began with these
// exact bytes would be taken for a sealed one.
var payloadPrefix = []byte("\x00dispatchd-sealed:")

// sealPayload is b as stored. Empty stays empty: a job whose payload is
// its event's body stores none. aad names what b is; a job payload's is
// not bound to the job's id, since a coalesced job takes the payload of
// a newer one.
func (s *Store) sealPayload(aad string, b []byte) []byte {
	if !s.sealPayloads || s.keys == nil || len(b) == 0 {
		return b
	}
	return append(bytes.Clone(payloadPrefix), s.keys.Seal(b, []byte(aad))...)
}

// openPayload is sealPayload's inverse; a body stored in clear is
// returned as it is.
func (s *Store) openPayload(aad string, b []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(b, payloadPrefix)
	if !ok {
		return b, nil
	}
	if s.keys == nil {
		return nil, errors.New("the payload is encrypted and no DISPATCHD_ENCRYPTION_KEY is configured")
	}
	return s.keys.Open(string(rest), []byte(aad))
}

func eventAAD(id string) string { return "event:" + id }

const jobPayloadAAD = "job-payload"

// marshalForUpsert is marshalSpec for a re-declaration: when the row
// already holds this very spec, sealed, its stored bytes are kept. A new
// seal differs at every write (a fresh nonce), and the upsert compares
// the stored spec to tell "unchanged" (a disabled endpoint stays
// disabled) from "changed" (it is enabled again).
func (s *Store) marshalForUpsert(kind, name string, spec any, stored func() ([]byte, error)) ([]byte, error) {
	plain, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if s.keys == nil {
		return plain, nil
	}
	if old, err := stored(); err == nil {
		if was, id, err := s.openSpec(kind, name, old); err == nil && id != "" && bytes.Equal(was, plain) {
			return old, nil
		}
	}
	return s.sealSpec(kind, name, plain)
}

// excerptPrefix marks a sealed attempt excerpt. The column is text, which
// on PostgreSQL holds no NUL, so it starts with U+0001 instead; an excerpt
// is the start of a receiver's answer, and one stored in clear that began
// with these exact bytes would be taken for a sealed one.
const excerptPrefix = "\x01dispatchd-sealed:"

// sealExcerpt is an attempt's response excerpt as stored; empty stays
// empty.
func (s *Store) sealExcerpt(attemptID, plain string) string {
	if !s.sealPayloads || s.keys == nil || plain == "" {
		return plain
	}
	return excerptPrefix + s.keys.Seal([]byte(plain), []byte(attemptAAD(attemptID)))
}

// openExcerpt is sealExcerpt's inverse; an excerpt in clear is returned as
// it is.
func (s *Store) openExcerpt(attemptID, stored string) (string, error) {
	rest, ok := strings.CutPrefix(stored, excerptPrefix)
	if !ok {
		return stored, nil
	}
	if s.keys == nil {
		return "", errors.New("the response excerpt is encrypted and no DISPATCHD_ENCRYPTION_KEY is configured")
	}
	b, err := s.keys.Open(rest, []byte(attemptAAD(attemptID)))
	return string(b), err
}

// sealAttempts returns the attempts as stored: every response excerpt
// sealed. The one place attempts are sealed; as is not changed.
func (s *Store) sealAttempts(as []job.Attempt) []job.Attempt {
	if !s.sealPayloads || s.keys == nil {
		return as
	}
	out := make([]job.Attempt, len(as))
	for i, a := range as {
		a.ResponseExcerpt = s.sealExcerpt(a.ID, a.ResponseExcerpt)
		out[i] = a
	}
	return out
}

// openAttempts opens the response excerpts of attempts as read, in place.
func (s *Store) openAttempts(as []job.Attempt) error {
	for i := range as {
		plain, err := s.openExcerpt(as[i].ID, as[i].ResponseExcerpt)
		if err != nil {
			return fmt.Errorf("attempt %s: %w", as[i].ID, err)
		}
		as[i].ResponseExcerpt = plain
	}
	return nil
}

func attemptAAD(id string) string     { return "attempt:" + id }
func requestAAD(id string) string     { return "request:" + id }
func eventTypeAAD(name string) string { return "event-type:" + name }
