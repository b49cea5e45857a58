package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
}

// Reencrypt seals every source and endpoint spec that is not sealed under
// the keyring's first key yet, one row per transaction so that the service
// keeps running meanwhile; their updated_at is kept. Once it has run, keys
// other than the first can be dropped from the ring.
func (s *Store) Reencrypt(ctx context.Context) (ReencryptReport, error) {
	var rep ReencryptReport
	if s.keys == nil {
		return rep, errors.New("no keyring: set DISPATCHD_ENCRYPTION_KEY")
	}
	cur := s.keys.CurrentKeyID()
	sources, err := s.d.Reader().ListSources(ctx)
	if err != nil {
		return rep, s.wrap("list sources", err)
	}
	for _, listed := range sources {
		err := s.inTx(ctx, func(tx Tx) error {
			// Read again in the transaction: the spec may have changed since
			// the list.
			r, err := tx.GetSource(ctx, listed.Name)
			if errors.Is(err, ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			plain, id, err := s.openSpec("source", r.Name, r.Spec)
			if err != nil {
				return err
			}
			if id == cur {
				rep.Current++
				return nil
			}
			b, err := s.sealSpec("source", r.Name, plain)
			if err != nil {
				return err
			}
			if _, err := tx.UpdateSourceSpec(ctx, SpecRow{Name: r.Name, Spec: b, Now: r.UpdatedAt}); err != nil {
				return err
			}
			rep.Sealed++
			return nil
		})
		if err != nil {
			return rep, s.wrap(fmt.Sprintf("re-encrypt source %s", listed.Name), err)
		}
	}
	endpoints, err := s.d.Reader().ListEndpoints(ctx)
	if err != nil {
		return rep, s.wrap("list endpoints", err)
	}
	for _, listed := range endpoints {
		err := s.inTx(ctx, func(tx Tx) error {
			r, err := tx.GetEndpoint(ctx, listed.Name)
			if errors.Is(err, ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			plain, id, err := s.openSpec("endpoint", r.Name, r.Spec)
			if err != nil {
				return err
			}
			if id == cur {
				rep.Current++
				return nil
			}
			b, err := s.sealSpec("endpoint", r.Name, plain)
			if err != nil {
				return err
			}
			if _, err := tx.UpdateEndpointSpec(ctx, SpecRow{Name: r.Name, Spec: b, Now: r.UpdatedAt}); err != nil {
				return err
			}
			rep.Sealed++
			return nil
		})
		if err != nil {
			return rep, s.wrap(fmt.Sprintf("re-encrypt endpoint %s", listed.Name), err)
		}
	}
	return rep, nil
}

// WithPayloadEncryption seals event bodies and job payloads as well,
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
