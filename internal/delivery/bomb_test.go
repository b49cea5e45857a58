package delivery

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// TestGzipBomb: an endpoint answering 1 GiB of zeros compressed to about a
// megabyte cannot make a delivery inflate it: the body is read up to
// MaxResponseBytes after decompression, and memory stays flat.
func TestGzipBomb(t *testing.T) {
	// One gzip member of 1 MiB of zeros, repeated 1024 times: a gzip
	// stream may hold several members, and readers inflate them one after
	// another (compressing the gigabyte itself took minutes under -race).
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	bomb := bytes.NewBuffer(bytes.Repeat(member.Bytes(), 1024))
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb.Bytes())
	})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := newTestClient().Deliver(t.Context(), one(srv.URL))
	runtime.ReadMemStats(&after)

	// The excerpt is the first ExcerptBytes bytes, each NUL shown as U+FFFD.
	if res.Outcome != Completed || res.Excerpt != strings.Repeat("\uFFFD", ExcerptBytes) {
		t.Errorf("result = %v with a %d-byte excerpt, want completed with %d replaced NULs", res.Outcome, len(res.Excerpt), ExcerptBytes)
	}
	// The test's own bomb is in memory already; the delivery may allocate
	// its buffers, not the gigabyte.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("the delivery allocated %d MiB reading a gzip bomb", grew>>20)
	}
}
