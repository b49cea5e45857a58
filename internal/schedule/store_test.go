package schedule_test

import (
	"github.com/dispatchd/dispatchd/internal/schedule"
	corestore "github.com/dispatchd/dispatchd/internal/store"
)

// The store implements what schedules need (the store itself does not
// import this package); storetest's schedules suite holds both engines to
// the contract.
var _ schedule.Store = (*corestore.Store)(nil)
