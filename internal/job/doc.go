// Package job holds dispatchd's domain types: the events received from
// providers, the jobs that deliver them to endpoints, the Store interface
// both database engines implement, and the Error type whose codes the RPC
// layer maps to gRPC and HTTP statuses.
//
// The package depends on nothing but the standard library, so every other
// package can speak its types without pulling in a transport or a driver.
package job
