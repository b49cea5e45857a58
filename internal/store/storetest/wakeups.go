package storetest

import (
	"testing"
	"time"
)

// exerciseWakeups runs the conformance tests of wake-ups of the workers when jobs arrive.
func exerciseWakeups(t *testing.T, setup setupFunc) {
	k := newKit(setup)
	t0 := k.t0

	t.Run("Wakeups", func(t *testing.T) {
		t.Parallel()
		s := k.withEndpoint(t)
		wake, stop := s.Subscribe("ep")
		defer stop()
		other, stopOther := s.Subscribe("other")
		defer stopOther()
		k.store(t, s, newEvent("src", "w", t0, "ep"))
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up after a job was stored")
		}
		select {
		case <-other:
			t.Errorf("an endpoint without new jobs was woken")
		default:
		}
	})
}
