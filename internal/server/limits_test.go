package server

import (
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestIdleConnectionIsClosed: a connection that sends the HTTP/2 preface
// and then nothing is closed by the server (once it has been idle for the
// idle timeout, shortened here), instead of being held open forever.
func TestIdleConnectionIsClosed(t *testing.T) {
	g := grpc.NewServer(GRPCOptions(GRPCLimits{MaxRecvMsgSize: 1 << 20, IdleTimeout: 300 * time.Millisecond})...)
	healthpb.RegisterHealthServer(g, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	defer g.Stop()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The client preface and an empty SETTINGS frame; then silence.
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	// The server's frames (SETTINGS, then GOAWAY) are read and dropped
	// until it closes the connection; the deadline only stops a test that
	// would otherwise hang.
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection that only sent its preface open")
	}
}

// TestLimitListenerCapsConnections: beyond the cap, a connection is not
// accepted until one of the open ones closes.
func TestLimitListenerCapsConnections(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with a cap of 2")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	third := <-accepted
	third.Close()
	second.Close()
}
