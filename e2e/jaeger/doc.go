// Package jaeger holds the tracing check against a real Jaeger: a test,
// built only with the tag jaeger, that runs the dispatchd binary with OTLP
// export to 127.0.0.1:4317, sends one webhook in a trace of its own, lets a
// local receiver fail the first delivery and accept the second, and then
// reads the trace back from Jaeger's query API (127.0.0.1:16686) to check
// the spans, their links and the traceparent the receiver saw.
//
// Run it with `make e2e-jaeger`, which builds Jaeger v2 once (through
// tools/jaeger), starts it on loopback with tools/jaeger/config.yaml and
// stops it afterwards. Against a Jaeger already running with that
// configuration:
//
//	go test -tags jaeger -count=1 -v ./e2e/jaeger/
package jaeger
