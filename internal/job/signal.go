package job

import "sync"

// Signal tells the workers of an endpoint that it has new jobs, so they do
// not have to poll. Notifications coalesce: a subscriber that has not yet
// looked gets one wake-up however many arrived.
type Signal struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives a value when the endpoint gets
// new jobs, and a function that ends the subscription.
func (s *Signal) Subscribe(endpoint string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[string]map[chan struct{}]struct{}{}
	}
	if s.subs[endpoint] == nil {
		s.subs[endpoint] = map[chan struct{}]struct{}{}
	}
	s.subs[endpoint][ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs[endpoint], ch)
		s.mu.Unlock()
	}
}

// Notify wakes the subscribers of each endpoint.
func (s *Signal) Notify(endpoints ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range endpoints {
		for ch := range s.subs[e] {
			select {
			case ch <- struct{}{}:
			default: // a wake-up is already waiting
			}
		}
	}
}
