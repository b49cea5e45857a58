package job

import (
	"context"
	"time"
)

// RouteRule is one route of a source beyond a bare endpoint name: to one
// endpoint, or to every endpoint subscribed to the event's type, with an
// optional CEL filter and (to one endpoint) transformation.
type RouteRule struct {
	Endpoint    string `json:"endpoint,omitempty"`
	Subscribers bool   `json:"subscribers,omitempty"`
	Filter      string `json:"filter,omitempty"`
	Transform   string `json:"transform,omitempty"`
}

// EventTypeSpec is an event type declared in the configuration file.
type EventTypeSpec struct {
	Name        string
	Description string
	// Schema is a JSON Schema document that events of the type must
	// satisfy; nil: none.
	Schema []byte
}

// EventType is one entry of the event catalog: declared, seen, or both.
type EventType struct {
	EventTypeSpec
	Declared bool
	// Count, FirstSeenAt and LastSeenAt count the events stored with the
	// type; Example is the body of the last one.
	Count       int64
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	Example     []byte
}

// EventFilter selects events; zero fields do not filter.
type EventFilter struct {
	Source         string
	Type           string
	DeliveryID     string
	ReceivedAfter  time.Time
	ReceivedBefore time.Time
	// BeforeID continues a listing (ids sort by creation, newest first).
	BeforeID string
	Limit    int
}

// EventStore is what publishing and listing events needs of the store,
// beside StoreEvent.
type EventStore interface {
	// ListEvents returns the events matching f, newest first, at most
	// f.Limit, without their bodies' copies in jobs.
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// ListEventTypes returns the catalog by name.
	ListEventTypes(ctx context.Context) ([]EventType, error)
	// DeclareEventTypes upserts the types of the configuration file; the
	// types it declared before and no longer does stay as seen types.
	DeclareEventTypes(ctx context.Context, specs []EventTypeSpec, now time.Time) error
}
