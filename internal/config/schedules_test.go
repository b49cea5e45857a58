package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

const scheduleEndpoint = `
endpoints:
  - name: billing
    url: https://billing.example/webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`

func TestParseSchedules(t *testing.T) {
	f, err := ParseFile([]byte(scheduleEndpoint+`
schedules:
  - name: nightly-invoices
    cron: "0 2 * * *"
    time_zone: Europe/Paris
    endpoint: billing
    payload: {task: invoices, dry_run: false, batch: 500}
    overlap: skip
    catch_up: 1h
    jitter: 30s
  - name: heartbeat
    cron: "@every 10m"
    endpoint: billing
`), nil)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	want := []job.ScheduleSpec{
		{Name: "nightly-invoices", Cron: "0 2 * * *", TimeZone: "Europe/Paris", Endpoint: "billing",
			Payload: []byte(`{"batch":500,"dry_run":false,"task":"invoices"}`), Overlap: "skip", CatchUp: "1h", Jitter: 30 * time.Second},
		{Name: "heartbeat", Cron: "@every 10m", Endpoint: "billing"},
	}
	var got []job.ScheduleSpec
	for _, s := range f.Schedules {
		got = append(got, s.Spec())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("specs (-want +got):\n%s", diff)
	}
}

func TestParseSchedulesRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ schedule, want string }{
		"event type":       {"{name: a, cron: '@hourly', event_type: order.paid}", "schedules[0] (a).event_type: event types do not exist yet"},
		"bad cron":         {"{name: a, cron: '0 25 * * *', endpoint: billing}", "schedules[0] (a): schedule cron"},
		"unknown zone":     {"{name: a, cron: '@hourly', time_zone: Mars/Olympus, endpoint: billing}", "schedule time_zone"},
		"unknown endpoint": {"{name: a, cron: '@hourly', endpoint: nope}", `schedules[0] (a).endpoint: endpoint "nope" is not declared`},
		"twice":            {"{name: a, cron: '@hourly', endpoint: billing}\n  - {name: a, cron: '@daily', endpoint: billing}", `"a" is declared twice`},
		"bad catch-up":     {"{name: a, cron: '@hourly', endpoint: billing, catch_up: forever}", "schedule catch_up"},
		"unknown key":      {"{name: a, cron: '@hourly', endpoint: billing, every: 1m}", `unknown key "every"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFile([]byte(scheduleEndpoint+"schedules:\n  - "+tc.schedule+"\n"), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseFile error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
