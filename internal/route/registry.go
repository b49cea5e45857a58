package route

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Catalog is what the Registry reads from the store.
type Catalog interface {
	ListEndpoints(ctx context.Context) ([]job.Endpoint, error)
	ListEventTypes(ctx context.Context) ([]job.EventType, error)
}

// Registry keeps the current Table, reloaded from the store so that
// endpoints created through the API of any process are routed to. An
// expression is compiled once per spec: a reload recompiles only the
// endpoints and schemas that changed.
type Registry struct {
	store Catalog
	log   *slog.Logger
	cur   atomic.Pointer[Table]

	mu      sync.Mutex // one Load at a time
	cache   map[string]cachedEndpoint
	schemas map[string]cachedSchema
}

type cachedEndpoint struct {
	spec job.EndpointSpec
	sub  *subscription
}

type cachedSchema struct {
	doc    []byte
	schema *Schema
}

// NewRegistry returns a Registry with an empty Table; Load fills it.
func NewRegistry(store Catalog, log *slog.Logger) *Registry {
	r := &Registry{store: store, log: log, cache: map[string]cachedEndpoint{}, schemas: map[string]cachedSchema{}}
	r.cur.Store(&Table{byName: map[string]*subscription{}, schemas: map[string]*Schema{}})
	return r
}

// Table returns the current Table.
func (r *Registry) Table() *Table { return r.cur.Load() }

// Load reads the endpoints and event types and swaps in a new Table. What
// does not compile is left out and returned; the rest is in use.
func (r *Registry) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	eps, err := r.store.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	types, err := r.store.ListEventTypes(ctx)
	if err != nil {
		return err
	}
	t := &Table{byName: map[string]*subscription{}, schemas: map[string]*Schema{}}
	var errs []error
	cache := make(map[string]cachedEndpoint, len(eps))
	for _, e := range eps {
		c, ok := r.cache[e.Name]
		if !ok || !reflect.DeepEqual(c.spec, e.EndpointSpec) {
			sub, err := compileEndpoint(e.EndpointSpec)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c = cachedEndpoint{spec: e.EndpointSpec, sub: sub}
		}
		cache[e.Name] = c
		t.add(c.sub)
	}
	schemas := map[string]cachedSchema{}
	for _, et := range types {
		if !et.Declared || et.Schema == nil {
			continue
		}
		c, ok := r.schemas[et.Name]
		if !ok || !reflect.DeepEqual(c.doc, et.Schema) {
			sch, err := CompileSchema(et.Schema)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c = cachedSchema{doc: et.Schema, schema: sch}
		}
		schemas[et.Name] = c
		t.schemas[et.Name] = c.schema
	}
	t.sort()
	r.cache, r.schemas = cache, schemas
	r.cur.Store(t)
	return errors.Join(errs...)
}

// Run reloads every interval until ctx ends.
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			if err := r.Load(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("routes not fully reloaded", "error", err)
			}
		}
	}
}
