package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain doubles as the dispatchd binary: a test that needs a real
// process to kill re-executes the test binary with DISPATCHD_TEST_AS_MAIN=1,
// which runs main() instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("DISPATCHD_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m,
		// Pools of the database drivers that tests open beside the service
		// close their background goroutines asynchronously.
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
	)
}
