package job

import "time"

// The defaults and bounds of specs, declared once: the file loader, the API,
// ingestion and delivery all read them from here.
const (
	// DefaultMaxBodyBytes bounds a source's webhook bodies when its spec
	// sets no limit.
	DefaultMaxBodyBytes = 10240
	// MaxMaxBodyBytes is the most a source or an endpoint may allow: a
	// webhook store is no file upload service.
	MaxMaxBodyBytes = 16 << 20
	// DefaultEndpointTimeout bounds an attempt when the endpoint sets no
	// timeout; it matches what Bevy and Dispatched give their receivers.
	DefaultEndpointTimeout = 30 * time.Second
	// MaxEndpointTimeout is the longest timeout an endpoint may set.
	MaxEndpointTimeout = 5 * time.Minute
	// MaxBulkRecords is the most jobs one bulk POST carries.
	MaxBulkRecords = 500
	// MaxBulkWait is the longest a batch may wait to fill: it waits in
	// memory, under a lease.
	MaxBulkWait = time.Minute
	// DefaultDisableAfter is how long an endpoint may fail without a
	// success before it is disabled, when its spec says nothing.
	DefaultDisableAfter = 5 * 24 * time.Hour
	// DefaultMaxConcurrency bounds the deliveries in flight to one
	// endpoint in one process, when its spec says nothing.
	DefaultMaxConcurrency = 16
	// MaxMaxConcurrency is the most an endpoint may set.
	MaxMaxConcurrency = 1000
	// DefaultMaxPayloadBytes is the payload limit of jobs dispatched
	// through the API, as the Dispatched service has it.
	DefaultMaxPayloadBytes = 10240
	// DefaultContentType is what a source accepts when its spec lists no
	// content types.
	DefaultContentType = "application/json"
)
