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
