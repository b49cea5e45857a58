package store

import "context"

// SealedColumn names a column whose values the store may seal with
// payload encryption, for Reencrypt.
type SealedColumn string

// The columns Reencrypt walks besides the specs.
const (
	SealedEventBody             SealedColumn = "event body"
	SealedJobPayload            SealedColumn = "job payload"
	SealedAttemptExcerpt        SealedColumn = "attempt response excerpt"
	SealedRequestExcerpt        SealedColumn = "request body excerpt"
	SealedEventTypeExample      SealedColumn = "event type example"
	SealedEventTypeCountExample SealedColumn = "event type count example"
)

// SealedCell is one stored value of a SealedColumn: Key is the row's id
// (an event type's name), Shard the count's shard.
type SealedCell struct {
	Key   string
	Shard int
	Value []byte
}

// SealedExecutor is what re-encryption needs of an engine. Every replace
// writes only while the row still holds the value read (compare and
// swap), so a concurrent edit is never overwritten by a re-sealed old
// value; it reports whether it wrote.
type SealedExecutor interface {
	ReplaceSourceSpec(ctx context.Context, name string, old, spec []byte) (bool, error)
	ReplaceEndpointSpec(ctx context.Context, name string, old, spec []byte) (bool, error)
	// ListSealedCells returns up to max non-empty values of col in key
	// order after afterKey. SealedEventTypeCountExample, a few rows per
	// type, comes whole: every row, whatever afterKey and max (the core
	// asks for it once).
	ListSealedCells(ctx context.Context, col SealedColumn, afterKey string, max int) ([]SealedCell, error)
	ReplaceSealedCell(ctx context.Context, col SealedColumn, c SealedCell, value []byte) (bool, error)
}
