package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// TestSchedulesE2E runs the whole program with a schedule in the file and
// one made over REST, on both engines.
func TestSchedulesE2E(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		key, _ := apikey.Generate()
		svc := startService(t, map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                key,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}, fmt.Sprintf(`
endpoints:
  - name: receiver
    url: %s/hook
    secret: %s
    timeout: 5s
schedules:
  - name: every-second
    cron: "* * * * * *"
    endpoint: receiver
    payload: {task: heartbeat}
    overlap: skip
  - name: nightly
    cron: "30 2 * * *"
    time_zone: Europe/Paris
    endpoint: receiver
    payload: {task: invoices}
`, recv.srv.URL, apiSecret))
		url := svc.httpURL + "/v1/schedules"
		get := func(t *testing.T, name string) map[string]any {
			t.Helper()
			r := rest(t, "GET", url+"/"+name, key, nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", name, r.status, r.body)
			}
			return r.json(t)
		}

		t.Run("TheFileScheduleFiresAndIsDelivered", func(t *testing.T) {
			// Wait (without a time assertion) for the scheduler's first
			// fire, then for its job at the receiver.
			var jobID string
			for deadline := time.Now().Add(20 * time.Second); jobID == ""; time.Sleep(50 * time.Millisecond) {
				s := get(t, "every-second")["schedule"].(map[string]any)
				jobID, _ = s["lastJobId"].(string)
				if time.Now().After(deadline) {
					t.Fatalf("every-second never fired: %v", s)
				}
			}
			recv.wait(t, jobID)
		})

		t.Run("FileSchedulesAreVisibleAndReadOnly", func(t *testing.T) {
			s := get(t, "nightly")["schedule"].(map[string]any)
			next, err := time.Parse(time.RFC3339, fmt.Sprint(s["nextFireAt"]))
			if err != nil || s["origin"] != "config" {
				t.Fatalf("nightly = %v", s)
			}
			if paris := next.In(mustZone(t, "Europe/Paris")); paris.Format("15:04") != "02:30" && paris.Format("15:04") != "03:00" {
				t.Errorf("next fire %s is not 02:30 in Paris (or 03:00 on a spring-forward day)", paris)
			}
			r := rest(t, "PUT", url+"/nightly", key, map[string]any{"spec": map[string]any{"cron": "@hourly", "endpoint": "receiver"}})
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "failed_precondition") {
				t.Errorf("PUT a file schedule: %d %s, want failed_precondition", r.status, r.body)
			}
		})

		t.Run("CRUDPauseResumeTrigger", func(t *testing.T) {
			spec := map[string]any{"cron": "0 0 1 1 *", "timeZone": "Europe/Paris", "endpoint": "receiver", "payload": map[string]any{"n": 1}, "overlap": "replace"}
			r := rest(t, "POST", url, key, map[string]any{"name": "yearly", "spec": spec})
			if r.status != http.StatusOK {
				t.Fatalf("POST /v1/schedules: %d %s", r.status, r.body)
			}
			if r := rest(t, "POST", url, key, map[string]any{"name": "yearly", "spec": spec}); r.status != http.StatusConflict {
				t.Errorf("second POST: %d %s, want 409", r.status, r.body)
			}
			bad := map[string]any{"cron": "0 25 * * *", "endpoint": "receiver"}
			if r := rest(t, "POST", url, key, map[string]any{"name": "bad", "spec": bad}); r.status != http.StatusBadRequest {
				t.Errorf("POST with a bad cron: %d %s, want 400", r.status, r.body)
			}
			if r := rest(t, "POST", url+"/yearly:pause", key, nil); r.status != http.StatusOK || r.json(t)["schedule"].(map[string]any)["paused"] != true {
				t.Errorf(":pause: %d %s", r.status, r.body)
			}
			tr := rest(t, "POST", url+"/yearly:trigger", key, nil)
			if tr.status != http.StatusOK {
				t.Fatalf(":trigger: %d %s", tr.status, tr.body)
			}
			fire := tr.json(t)["fire"].(map[string]any)
			jobID := fmt.Sprint(fire["jobId"])
			if fire["manual"] != true || fire["outcome"] != "created" {
				t.Errorf(":trigger fire = %v", fire)
			}
			recv.wait(t, jobID)
			if r := rest(t, "POST", url+"/yearly:resume", key, nil); r.status != http.StatusOK || r.json(t)["schedule"].(map[string]any)["paused"] == true {
				t.Errorf(":resume: %d %s", r.status, r.body)
			}
			got := get(t, "yearly")
			if s := got["schedule"].(map[string]any); s["lastJobId"] != jobID || s["nextFireAt"] == nil {
				t.Errorf("GET after trigger: %v", s)
			}
			if fs, _ := got["fires"].([]any); len(fs) != 1 || fs[0].(map[string]any)["jobId"] != jobID {
				t.Errorf("fires = %v, want the trigger's", got["fires"])
			}
			list := rest(t, "GET", url, key, nil)
			if ss, _ := list.json(t)["schedules"].([]any); len(ss) != 3 {
				t.Errorf("GET /v1/schedules: %s, want 3 schedules", list.body)
			}
			if r := rest(t, "DELETE", url+"/yearly", key, nil); r.status != http.StatusOK {
				t.Errorf("DELETE: %d %s", r.status, r.body)
			}
			if r := rest(t, "GET", url+"/yearly", key, nil); r.status != http.StatusNotFound {
				t.Errorf("GET after DELETE: %d, want 404", r.status)
			}
		})
	})
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestScheduleOverlapSkipWithASlowReceiver: an every-second schedule with
// overlap skip delivers to a receiver that holds its first request until
// the test lets it go. While it holds it, ticks are skipped and nothing
// else is sent; once it answers, the next tick fires again.
func TestScheduleOverlapSkipWithASlowReceiver(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		release := make(chan struct{})
		var mu sync.Mutex
		requests := 0
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			requests++
			first := requests == 1
			mu.Unlock()
			if first {
				<-release
			}
		}))
		t.Cleanup(recv.Close)
		released := false
		t.Cleanup(func() {
			if !released {
				close(release)
			}
		})
		key, _ := apikey.Generate()
		svc := startService(t, map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                key,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}, fmt.Sprintf(`
endpoints:
  - name: slow
    url: %s/hook
    secret: %s
    timeout: 5m
schedules:
  - name: heartbeat
    cron: "* * * * * *"
    endpoint: slow
    overlap: skip
`, recv.URL, apiSecret))
		// outcomes polls the fires (newest first) until done says so.
		outcomes := func(t *testing.T, done func([]string) bool) []string {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				r := rest(t, "GET", svc.httpURL+"/v1/schedules/heartbeat?firesPageSize=1000", key, nil)
				if r.status != http.StatusOK {
					t.Fatalf("GET: %d %s", r.status, r.body)
				}
				var got []string
				fs, _ := r.json(t)["fires"].([]any)
				for i := len(fs) - 1; i >= 0; i-- {
					got = append(got, fmt.Sprint(fs[i].(map[string]any)["outcome"]))
				}
				if done(got) {
					return got
				}
				if time.Now().After(deadline) {
					t.Fatalf("fires never got there: %v", got)
				}
			}
		}
		skipped := func(n int) func([]string) bool {
			return func(got []string) bool { return strings.Count(strings.Join(got, " "), "skipped") >= n }
		}
		got := outcomes(t, skipped(3))
		if got[0] != "created" || strings.Count(strings.Join(got, " "), "created") != 1 {
			t.Fatalf("while the first job is held: %v, want one created then only skipped", got)
		}
		mu.Lock()
		n := requests
		mu.Unlock()
		if n != 1 {
			t.Fatalf("the receiver got %d requests while holding the first, want 1", n)
		}
		released = true
		close(release)
		got = outcomes(t, func(got []string) bool { return strings.Count(strings.Join(got, " "), "created") >= 2 })
		if last := got[len(got)-1]; last != "created" {
			t.Errorf("after the receiver answered: %v", got)
		}
	})
}
