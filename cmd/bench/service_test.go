package main

import (
	"math"
	"testing"
)

const exposition = `# HELP dispatchd_commit_batch_size For each stored event, how many events shared its commit (group commit).
# TYPE dispatchd_commit_batch_size histogram
dispatchd_commit_batch_size_bucket{le="1"} 3
dispatchd_commit_batch_size_bucket{le="+Inf"} 40
dispatchd_commit_batch_size_sum 412.5
dispatchd_commit_batch_size_count 40
# TYPE dispatchd_webhooks_received_total counter
dispatchd_webhooks_received_total{outcome="accepted",source="bench"} 1200
dispatchd_webhooks_received_total{outcome="unauthorized",source="bench"} 3
dispatchd_webhooks_received_total{outcome="accepted",source="odd} name"} 1.5e1 1700000000000
go_goroutines 12
`

func TestMetricValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{
		{"dispatchd_commit_batch_size_sum", 412.5, true},
		{"dispatchd_commit_batch_size_count", 40, true},
		// The bare histogram name has no sample of its own: the _sum,
		// _count and _bucket lines are other names.
		{"dispatchd_commit_batch_size", 0, false},
		// Every label set, a label value holding "} ", a timestamp.
		{"dispatchd_webhooks_received_total", 1218, true},
		{"go_goroutines", 12, true},
		{"go_gor", 0, false},
		{"missing", 0, false},
	} {
		got, ok := metricValue(exposition, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("metricValue(%s) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if got, _ := metricValue(acceptedOnly(exposition), "dispatchd_webhooks_received_total"); got != 1215 {
		t.Errorf("accepted = %v, want 1215", got)
	}
}

func TestBatchSize(t *testing.T) {
	before := "dispatchd_commit_batch_size_sum 100\ndispatchd_commit_batch_size_count 10\n"
	after := "dispatchd_commit_batch_size_sum 1100\ndispatchd_commit_batch_size_count 60\n"
	if got := batchSize(before, after); got != 20 {
		t.Errorf("batchSize = %v, want 20 (1000 over 50 events)", got)
	}
	if got := batchSize(after, after); got != 0 {
		t.Errorf("no commit in between: batchSize = %v, want 0", got)
	}
	if got := batchSize("", after); got != 1100.0/60 {
		t.Errorf("from nothing: batchSize = %v", got)
	}
}

func TestMedianAndRatio(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	// The ratio is the median of per-round ratios, not the ratio of
	// medians: round 2's dip hit both figures.
	r := &row{by: byRate, refName: "R_raw"}
	r.add(figure{rate: 20}, figure{rate: 100})
	r.add(figure{rate: 5}, figure{rate: 20})
	r.add(figure{rate: 30}, figure{rate: 100})
	if got := r.ratio(); got != 0.25 {
		t.Errorf("ratio = %v, want 0.25", got)
	}
}
